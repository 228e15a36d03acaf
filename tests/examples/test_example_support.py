"""The support pattern's agents, called directly: resolve, write an article, review it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from handoffs.examples.support import resolve, review_article, write_article
from handoffs.examples.support.articles import faq_question, headline
from handoffs.examples.support.privacy import personal_data, redact
from handoffs.messages import Feedback, KBArticle, Result, SupportResolution, Task, Verdict

Unwrap = Callable[[object], Any]
MakeTask = Callable[..., Task]

EXPORT = {
    "question": "How do I export all my invoices as a CSV file?",
    "product_area": "billing",
    "customer": "jane.doe@example.com",
}


def resolution(make_task: MakeTask, output: Unwrap, inquiry: dict[str, str]) -> SupportResolution:
    r = output(resolve(make_task("resolve", inquiry)))
    assert isinstance(r, SupportResolution)
    return r


def test_documented_question_is_answered_from_the_help_centre(
    make_task: MakeTask, output: Unwrap
) -> None:
    inquiry = {"question": "I forgot my password. How do I reset it?", "product_area": "account"}
    result = resolve(make_task("resolve", inquiry))
    assert isinstance(result, Result)
    r = output(result)
    assert not r.doc_gap and r.is_common
    assert r.answer.startswith("Open the sign-in page and choose Forgot password.")
    assert r.answer.endswith("(https://help.example/account/reset-password).")
    assert result.quality.checks == {"documented": True, "resolved": True}


def test_runbook_answer_is_flagged_as_a_common_doc_gap(make_task: MakeTask, output: Unwrap) -> None:
    r = resolution(make_task, output, EXPORT)
    assert r.doc_gap and r.is_common
    assert r.product_area == "billing"
    assert r.answer.startswith("Go to Settings > Billing > Invoices")
    assert r.answer.endswith("A copy of this reply was sent to jane.doe@example.com.")


def test_rare_doc_gap_is_not_common(make_task: MakeTask, output: Unwrap) -> None:
    inquiry = {
        "question": "Which webhook tells me that a refund was issued?",
        "product_area": "integrations",
    }
    r = resolution(make_task, output, inquiry)
    assert r.doc_gap and not r.is_common
    assert "refund.created" in r.answer


def test_unanswerable_question_is_forwarded_and_flagged(
    make_task: MakeTask, output: Unwrap
) -> None:
    inquiry = {
        "question": "Can I pay for my subscription with cryptocurrency?",
        "product_area": "billing",
    }
    result = resolve(make_task("resolve", inquiry))
    assert isinstance(result, Result)
    r = output(result)
    assert r.doc_gap and not r.is_common
    assert "forwarded to the billing specialists" in r.answer
    assert result.quality.checks["resolved"] is False


def test_article_from_a_doc_gap_goes_through_one_privacy_revision(
    make_task: MakeTask, output: Unwrap
) -> None:
    r = resolution(make_task, output, EXPORT)
    run_input = msgspec.to_builtins(r)  # what a triggered knowledge_base run receives
    first = output(write_article(make_task("article", run_input)))
    assert isinstance(first, KBArticle)
    assert first.title == "How to export all your invoices as a CSV file"
    assert first.faq[0].question == EXPORT["question"]
    assert "1. Go to Settings > Billing > Invoices" in first.body
    assert first.body.startswith("This question comes up often in billing support")
    v = output(review_article(make_task("review", run_input, {"article": first})))
    assert isinstance(v, Verdict) and not v.approved
    assert [(f.aspect, f.issue) for f in v.feedback] == [
        ("personal_data", "the article shows a customer's email address (jane.doe@example.com)")
    ]
    second = output(
        write_article(make_task("article", run_input, {"article": first}, v.feedback, 1))
    )
    assert "jane.doe" not in second.body and personal_data(second.faq[0].answer) == []
    assert output(review_article(make_task("review", run_input, {"article": second}))).approved


def test_deferred_answer_cannot_be_fixed_until_a_person_supplies_one(
    make_task: MakeTask, output: Unwrap
) -> None:
    inquiry = {
        "question": "Can I pay for my subscription with cryptocurrency?",
        "product_area": "billing",
    }
    run_input = msgspec.to_builtins(resolution(make_task, output, inquiry))
    article = output(write_article(make_task("article", run_input)))
    v = output(review_article(make_task("review", run_input, {"article": article})))
    assert [f.aspect for f in v.feedback] == ["answer"]
    again = output(
        write_article(make_task("article", run_input, {"article": article}, v.feedback, 1))
    )
    assert not output(review_article(make_task("review", run_input, {"article": again}))).approved
    human = Feedback(
        source="human",
        aspect="answer",
        issue="we do not accept cryptocurrency",
        suggestion="We accept cards and bank transfers only. Add a card under Settings > Billing.",
    )
    fixed = output(write_article(make_task("article", run_input, {"article": again}, [human], 2)))
    assert fixed.faq[0].answer.startswith("We accept cards and bank transfers only.")
    assert output(review_article(make_task("review", run_input, {"article": fixed}))).approved
    # Resolving an escalation with "revise" sends the person's text as the feedback's issue.
    typed = Feedback(source="human", issue="Only cards and bank transfers are accepted.")
    fixed = output(write_article(make_task("article", run_input, {"article": again}, [typed], 2)))
    assert fixed.faq[0].answer == "Only cards and bank transfers are accepted."


def test_article_writer_rejects_an_input_that_is_not_a_resolution(make_task: MakeTask) -> None:
    with pytest.raises(ValueError, match=r"^run input is not a SupportResolution: "):
        write_article(make_task("article", {"question": "Why?"}))


@pytest.mark.parametrize(
    ("question", "title"),
    [
        ("How do I export my invoices?", "How to export your invoices"),
        ("Can I merge my two accounts into one?", "Can you merge your two accounts into one?"),
        ("Which webhook fires on refunds?", "Which webhook fires on refunds?"),
    ],
)
def test_headline(question: str, title: str) -> None:
    assert headline(question) == title


def test_faq_question_drops_greetings_and_context() -> None:
    assert faq_question("Hi team! My card expired. How do I update it?") == "How do I update it?"
    assert faq_question("Please delete my account") == "Please delete my account?"


def test_personal_data_is_found_and_redacted() -> None:
    text = "Order #48213 for ann@example.com, call +44 20 7946 0958."
    assert [kind for kind, _ in personal_data(text)] == [
        "email address",
        "order number",
        "phone number",
    ]
    assert redact(text) == "Order [order number] for [email address], call [phone number]."
