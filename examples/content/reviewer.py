"""The review agent: checks a draft against the research, the brand voice and the title rules."""

from __future__ import annotations

from handoffs.examples.content.brand import BANNED, TITLE_LIMIT, banned_words
from handoffs.examples.content.claims import (
    SUPPORT_THRESHOLD,
    evidence,
    is_claim,
    markers,
    strip_markers,
    support,
)
from handoffs.examples.content.vocabulary import (
    BRAND_VOICE,
    CITATIONS,
    TITLE_KEYWORD,
    TITLE_LENGTH,
    replacement,
)
from handoffs.examples.text import sentences
from handoffs.examples.upstream import upstream
from handoffs.messages import (
    Draft,
    Feedback,
    QualityMarkers,
    ResearchFindings,
    Result,
    Task,
    Verdict,
)

__all__ = ["check_brand_voice", "check_citations", "check_title", "review"]


def check_citations(draft: Draft, research: ResearchFindings) -> tuple[list[Feedback], float]:
    """Every claim must cite a research source that backs it; returns feedback and the share
    of claims that do."""
    feedback = []
    by_url = {s.url: s for s in research.sources}
    for n, url in enumerate(draft.citations, 1):
        if url not in by_url:
            feedback.append(
                Feedback(
                    source="reviewer",
                    aspect=CITATIONS,
                    severity="blocker",
                    issue=f"citation [{n}] is {url}, which is not among the research sources",
                    suggestion="cite only sources the research found",
                )
            )
    known = evidence(research)
    claims = backed = 0
    for sentence in sentences(draft.body):
        plain, numbers = strip_markers(sentence), markers(sentence)
        if not numbers:
            if is_claim(plain, known):
                claims += 1
                feedback.append(
                    Feedback(
                        source="reviewer",
                        aspect=CITATIONS,
                        issue=f'claim without a citation: "{plain}"',
                        suggestion="cite the research source it comes from",
                    )
                )
            continue
        claims += 1
        ok = True
        for n in numbers:
            if not 0 < n <= len(draft.citations):
                ok = False
                issue = f'"{plain}" cites [{n}], which is not in the citation list'
            elif (source := by_url.get(draft.citations[n - 1])) is None:
                ok = False
                continue  # already reported above, once per citation
            elif support(plain, source) < SUPPORT_THRESHOLD:
                ok = False
                issue = f'"{plain}" is not backed by its cited source [{n}] {source.url}'
            else:
                continue
            feedback.append(
                Feedback(
                    source="reviewer",
                    aspect=CITATIONS,
                    severity="blocker",
                    issue=issue,
                    suggestion="cite the research source that states it",
                )
            )
        backed += ok
    return feedback, (backed / claims if claims else 1.0)


def check_brand_voice(draft: Draft) -> list[Feedback]:
    """No banned brand-voice word in the title or body; each suggests its replacement."""
    return [
        Feedback(
            source="reviewer",
            aspect=BRAND_VOICE,
            severity="minor",
            issue=f"banned brand-voice word '{word}'",
            suggestion=replacement(word, BANNED[word]),
        )
        for word in banned_words(f"{draft.title}\n{draft.body}")
    ]


def check_title(draft: Draft, keyword: str) -> list[Feedback]:
    """The title fits in ``TITLE_LIMIT`` characters and contains the topic keyword."""
    feedback = []
    if len(draft.title) > TITLE_LIMIT:
        feedback.append(
            Feedback(
                source="reviewer",
                aspect=TITLE_LENGTH,
                issue=f"title is {len(draft.title)} characters; the limit is {TITLE_LIMIT}",
                suggestion=f"shorten the title to {TITLE_LIMIT} characters, keeping '{keyword}'",
            )
        )
    if keyword.lower() not in draft.title.lower():
        feedback.append(
            Feedback(
                source="reviewer",
                aspect=TITLE_KEYWORD,
                issue=f"title does not contain the topic keyword '{keyword}'",
                suggestion=f"add '{keyword}' to the title",
            )
        )
    return feedback


def review(task: Task) -> Result:
    """Review the upstream Draft against the upstream research: approve, or say what to fix."""
    draft = upstream(task, Draft)
    research = upstream(task, ResearchFindings)
    keyword = str(task.input.get("topic") or research.topic)
    citation_feedback, cited = check_citations(draft, research)
    brand = check_brand_voice(draft)
    title = check_title(draft, keyword)
    feedback = [*citation_feedback, *brand, *title]
    scores = {
        "citations": round(cited, 2),
        "brand_voice": 1.0 if not brand else round(max(0.0, 1 - 0.25 * len(brand)), 2),
        "title": 1.0 - 0.5 * len(title),
    }
    checks = {CITATIONS: not citation_feedback, BRAND_VOICE: not brand, "title": not title}
    verdict = Verdict(approved=not feedback, feedback=feedback, scores=scores)
    quality = QualityMarkers(
        confidence=round(sum(scores.values()) / len(scores), 2),
        checks=checks,
        notes=f"{len(feedback)} issue(s)" if feedback else "approved",
    )
    return Result(verdict, quality=quality)
