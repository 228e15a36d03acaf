"""The content agent of the support pattern: turns a resolved inquiry into a help article.

Its input is the resolution (the triggered run's input holds its fields). On a revision it
removes the personal data a reviewer found, shortens the title, or takes the answer a person
supplied (``human`` feedback without an aspect or on ``answer``: its suggestion, else its issue).
"""

from __future__ import annotations

import re

import msgspec
from handoffs.examples.support.privacy import drop_personal, redact
from handoffs.examples.support.vocabulary import ANSWER, FAQ, PERSONAL_DATA, TITLE_LENGTH
from handoffs.examples.text import sentences, shorten
from handoffs.examples.upstream import MissingInputError, previous
from handoffs.messages import (
    FAQEntry,
    Feedback,
    KBArticle,
    QualityMarkers,
    Result,
    SupportResolution,
    Task,
)

__all__ = ["TITLE_LIMIT", "faq_question", "headline", "write_article"]

TITLE_LIMIT = 70
_HOW = re.compile(r"^(?:how (?:do|can|should|would) i|how to)\s+(.+?)\??$", re.IGNORECASE)
_CAN = re.compile(r"^(?:can|may|could) i\s+(.+?)\??$", re.IGNORECASE)
_PRONOUNS = {"i": "you", "me": "you", "my": "your", "mine": "yours", "i'm": "you're"}


def _second_person(text: str) -> str:
    return " ".join(_PRONOUNS.get(w.lower(), w) for w in text.split())


def faq_question(text: str) -> str:
    """The question a customer asked, without greetings or context sentences."""
    asked = [s for s in sentences(text) if s.endswith("?")]
    question = asked[-1] if asked else text.strip()
    return question if question.endswith("?") else question.rstrip(".!") + "?"


def headline(question: str, limit: int = TITLE_LIMIT) -> str:
    """An article title from a question: "How do I export my invoices?" -> "How to export
    your invoices"."""
    if m := _HOW.match(question):
        title = f"How to {_second_person(m.group(1))}"
    elif m := _CAN.match(question):
        title = f"Can you {_second_person(m.group(1))}?"
    else:
        title = question
    return shorten(title[:1].upper() + title[1:], limit)


def _resolution(task: Task) -> SupportResolution:
    for value in task.inputs.values():
        if isinstance(value, SupportResolution):
            return value
    try:
        return msgspec.convert(task.input, SupportResolution)
    except msgspec.ValidationError as exc:
        raise MissingInputError(f"run input is not a SupportResolution: {exc}") from None


def _render(question: str, answer: str, area: str, common: bool, title: str) -> KBArticle:
    steps = sentences(answer)
    lead = "This question comes up often" if common else "This question came up"
    body = "\n".join(
        [
            f"{lead} in {area} support; this article answers it for everyone.",
            "",
            f"## {question}",
            "",
            *(f"{n}. {step}" for n, step in enumerate(steps, 1)),
            "",
            "## Applies to",
            "",
            f"The {area} area of your account.",
        ]
    )
    faq = [FAQEntry(question=question, answer=answer, product_area=area)]
    return KBArticle(title=title, body=body, product_area=area, faq=faq)


def write_article(task: Task) -> Result:
    """Write a KBArticle (with its FAQ entry) from the resolution, applying any feedback."""
    resolution = _resolution(task)
    before = previous(task, KBArticle)
    question = (
        before.faq[0].question if before and before.faq else faq_question(resolution.question)
    )
    answer = before.faq[0].answer if before and before.faq else resolution.answer
    title = before.title if before else headline(question)
    aspects = {fb.aspect for fb in task.feedback}
    # A person resolving an escalation writes the missing answer as their feedback.
    supplied = [fb for fb in task.feedback if fb.source == "human" and fb.aspect in ("", ANSWER)]
    if supplied:
        answer = supplied[-1].suggestion or supplied[-1].issue
    if PERSONAL_DATA in aspects:
        question, answer, title = redact(question), drop_personal(answer), redact(title)
    if TITLE_LENGTH in aspects:
        title = shorten(title, TITLE_LIMIT)
    if FAQ in aspects and not question.endswith("?"):
        question = question.rstrip(".!") + "?"
    article = _render(question, answer, resolution.product_area, resolution.is_common, title)
    return Result(article, quality=_quality(task.feedback, answer))


def _quality(feedback: list[Feedback], answer: str) -> QualityMarkers:
    done = sorted({fb.aspect or fb.source for fb in feedback})
    return QualityMarkers(
        completeness=1.0 if sentences(answer) else 0.0,
        notes=f"addressed {', '.join(done)}" if done else "first version",
    )
