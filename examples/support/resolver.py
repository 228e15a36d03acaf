"""The customer-service agent: answers an inquiry from the help centre or the support runbook.

An inquiry the help centre answers is resolved with the article. One only the internal runbook
answers is resolved too, but flagged ``doc_gap``: the help centre should document it. One
nothing answers is forwarded to specialists and also flagged, for a person to fill the gap.
"""

from __future__ import annotations

from handoffs.examples.support.helpcentre import Article, best_match, helpcentre
from handoffs.examples.text import overlap, sentences, terms
from handoffs.examples.upstream import run_input
from handoffs.messages import QualityMarkers, Result, SupportResolution, Task

__all__ = ["resolve"]


def _from_article(question: str, article: Article) -> str:
    """The two article sentences closest to the question, in article order, and a link."""
    asked = terms(question)
    sents = sentences(article.body)
    ranked = sorted(range(len(sents)), key=lambda i: (-overlap(terms(sents[i]), asked), i))
    keep = sorted(ranked[:2])
    return " ".join(sents[i] for i in keep) + f" Full guide: {article.title} ({article.url})."


def resolve(task: Task) -> Result:
    """Resolve ``task.input["question"]`` for ``task.input["product_area"]``.

    ``task.input["customer"]`` (an email address), when given, is named in the reply.
    """
    question = run_input(task, "question")
    area = run_input(task, "product_area")
    customer = str(task.input.get("customer") or "")
    centre = helpcentre()
    article_match = best_match(question, area, centre.articles)
    runbook_match = None if article_match else best_match(question, area, centre.runbook)
    if article_match is not None:
        article, match = article_match
        answer, entry_id, confidence = _from_article(question, article), article.id, match.coverage
        notes = f"answered from help-centre article {article.id}"
    elif runbook_match is not None:
        entry, match = runbook_match
        answer, entry_id, confidence = entry.resolution, entry.id, match.coverage
        area = entry.product_area
        notes = f"answered from runbook entry {entry.id}; no help-centre article covers it"
    else:
        answer = (
            "There is no documented answer for this yet, so the question was forwarded to the "
            f"{area} specialists, who will reply within two working days."
        )
        entry_id, confidence = "", 0.2
        notes = "no article or runbook entry covers it; forwarded to specialists"
    if customer:
        answer += f" A copy of this reply was sent to {customer}."
    resolution = SupportResolution(
        question=question,
        answer=answer,
        product_area=area,
        is_common=centre.is_common(entry_id),
        doc_gap=article_match is None,
    )
    quality = QualityMarkers(
        completeness=1.0 if entry_id else 0.3,
        confidence=round(min(1.0, confidence), 2),
        checks={"documented": article_match is not None, "resolved": bool(entry_id)},
        notes=notes,
    )
    return Result(resolution, quality=quality)
