"""The knowledge-base reviewer: a help article must answer the question and name no customer."""

from __future__ import annotations

from handoffs.examples.support.articles import TITLE_LIMIT
from handoffs.examples.support.privacy import personal_data
from handoffs.examples.support.vocabulary import (
    ANSWER,
    FAQ,
    PERSONAL_DATA,
    TITLE_LENGTH,
    UNRESOLVED_MARKERS,
)
from handoffs.examples.upstream import upstream
from handoffs.messages import Feedback, KBArticle, QualityMarkers, Result, Task, Verdict

__all__ = ["check_article", "review_article"]


def check_article(article: KBArticle) -> list[Feedback]:
    """Everything wrong with ``article``, most serious first."""
    feedback = []
    text = "\n".join(
        [article.title, article.body, *(f"{e.question}\n{e.answer}" for e in article.faq)]
    )
    for kind, value in dict.fromkeys(personal_data(text)):
        feedback.append(
            Feedback(
                source="reviewer",
                aspect=PERSONAL_DATA,
                severity="blocker",
                issue=f"the article shows a customer's {kind} ({value})",
                suggestion=f"remove the {kind}; help articles are public",
            )
        )
    answers = " ".join(e.answer for e in article.faq).lower()
    if not answers.strip() or any(m in answers for m in UNRESOLVED_MARKERS):
        feedback.append(
            Feedback(
                source="reviewer",
                aspect=ANSWER,
                severity="blocker",
                issue="the answer defers the question instead of answering it",
                suggestion="a product specialist must supply the answer",
            )
        )
    if len(article.title) > TITLE_LIMIT:
        feedback.append(
            Feedback(
                source="reviewer",
                aspect=TITLE_LENGTH,
                issue=f"title is {len(article.title)} characters; the limit is {TITLE_LIMIT}",
                suggestion=f"shorten the title to {TITLE_LIMIT} characters",
            )
        )
    if not article.faq or not all(e.question.endswith("?") for e in article.faq):
        feedback.append(
            Feedback(
                source="reviewer",
                aspect=FAQ,
                severity="minor",
                issue="every FAQ entry must be a question ending in '?'",
                suggestion="phrase the FAQ entry as the customer's question",
            )
        )
    return feedback


def review_article(task: Task) -> Result:
    """Review the upstream KBArticle; approve it or say what to change."""
    article = upstream(task, KBArticle)
    feedback = check_article(article)
    verdict = Verdict(
        approved=not feedback,
        feedback=feedback,
        scores={"privacy": float(not any(f.aspect == PERSONAL_DATA for f in feedback))},
    )
    quality = QualityMarkers(
        checks={a: not any(f.aspect == a for f in feedback) for a in (PERSONAL_DATA, ANSWER, FAQ)},
        notes=f"{len(feedback)} issue(s)" if feedback else "approved",
    )
    return Result(verdict, quality=quality)
