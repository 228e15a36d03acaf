"""The content pattern's agents, called directly: research, write, review, publish."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from handoffs.examples.content import Publication, publish, research, review, write
from handoffs.examples.content.brand import TITLE_LIMIT
from handoffs.examples.content.corpus import corpus
from handoffs.examples.upstream import MissingInputError
from handoffs.messages import Draft, Feedback, ResearchFindings, Result, Task, Verdict

Unwrap = Callable[[object], Any]
MakeTask = Callable[..., Task]


def findings(make_task: MakeTask, output: Unwrap, topic: str) -> ResearchFindings:
    result = research(make_task("research", {"topic": topic}))
    found = output(result)
    assert isinstance(found, ResearchFindings)
    return found


def verdict(
    make_task: MakeTask, output: Unwrap, topic: str, r: ResearchFindings, d: Draft
) -> Verdict:
    v = output(review(make_task("review", {"topic": topic}, {"research": r, "write": d})))
    assert isinstance(v, Verdict)
    return v


def aspects(v: Verdict) -> list[str]:
    return [fb.aspect for fb in v.feedback]


def test_corpus_has_a_few_dozen_documents_on_several_topics() -> None:
    docs = corpus()
    assert len(docs) >= 24
    assert len({d.topics[0] for d in docs}) >= 6
    assert len({d.url for d in docs}) == len(docs)


def test_researcher_finds_sources_findings_and_confidence(
    make_task: MakeTask, output: Unwrap
) -> None:
    result = research(make_task("research", {"topic": "Solar Panels"}))
    assert isinstance(result, Result)
    r = output(result)
    assert len(r.sources) == 5
    assert all(s.url.startswith("https://") and s.title and s.excerpt for s in r.sources)
    assert len(r.key_findings) == 5
    # Every finding is a sentence quoted in the excerpt of the source it came from.
    assert all(any(f in s.excerpt for s in r.sources) for f in r.key_findings)
    assert r.confidence == 1.0
    assert result.quality.sources_verified is True
    assert result.quality.checks["multiple_sources"] is True


def test_findings_come_round_robin_from_distinct_sources(
    make_task: MakeTask, output: Unwrap
) -> None:
    r = findings(make_task, output, "remote work")
    owners = [next(s.url for s in r.sources if f in s.excerpt) for f in r.key_findings]
    assert len(set(owners)) == len(owners) == 5


def test_single_source_topic_comes_back_with_one_source(
    make_task: MakeTask, output: Unwrap
) -> None:
    r = findings(make_task, output, "electric bikes")
    assert [s.url for s in r.sources] == ["https://mobility.example/e-bikes/commuting"]
    assert r.confidence < 0.6


def test_broadened_search_after_gate_feedback_still_finds_one_source(
    make_task: MakeTask, output: Unwrap
) -> None:
    gate = Feedback(source="gate", aspect="min_sources", issue="1 source; at least 2 required")
    result = research(
        make_task("research", {"topic": "urban beekeeping"}, feedback=[gate], revision=1)
    )
    assert isinstance(result, Result)
    assert len(output(result).sources) == 1
    assert "broadened" in result.quality.notes


def test_unknown_topic_has_no_sources(make_task: MakeTask, output: Unwrap) -> None:
    r = findings(make_task, output, "deep sea mining")
    assert r.sources == [] and r.key_findings == [] and r.confidence == 0.0


def test_researcher_needs_a_topic(make_task: MakeTask) -> None:
    with pytest.raises(MissingInputError, match=r"^run input field 'topic' must be a non-empty"):
        research(make_task("research", {}))


# --- the reviewer rejects, with specific feedback ---------------------------------------


@pytest.fixture
def sourdough(make_task: MakeTask, output: Unwrap) -> tuple[ResearchFindings, Draft]:
    r = findings(make_task, output, "sourdough")
    d = output(write(make_task("write", {"topic": "sourdough"}, {"research": r})))
    return r, d


def test_clean_first_draft_is_approved(
    make_task: MakeTask, output: Unwrap, sourdough: tuple[ResearchFindings, Draft]
) -> None:
    r, d = sourdough
    assert d.citations and all(f"[{n}]" in d.body for n in range(1, len(d.citations) + 1))
    v = verdict(make_task, output, "sourdough", r, d)
    assert v.approved and v.feedback == []
    assert v.scores["citations"] == 1.0


def test_reviewer_rejects_an_uncited_claim(
    make_task: MakeTask, output: Unwrap, sourdough: tuple[ResearchFindings, Draft]
) -> None:
    r, d = sourdough
    claim = "Most sourdough loaves use between 65 and 80 percent hydration."
    bad = msgspec.structs.replace(d, body=d.body.replace(" [2].", "."))
    v = verdict(make_task, output, "sourdough", r, bad)
    assert not v.approved
    assert [(fb.aspect, fb.issue) for fb in v.feedback] == [
        ("citations", f'claim without a citation: "{claim}"')
    ]
    fixed = output(
        write(make_task("write", {"topic": "sourdough"}, {"research": r}, v.feedback, 1))
    )
    assert claim[:-1] + " [2]." in fixed.body
    assert verdict(make_task, output, "sourdough", r, fixed).approved


def test_reviewer_rejects_a_citation_outside_the_research(
    make_task: MakeTask, output: Unwrap, sourdough: tuple[ResearchFindings, Draft]
) -> None:
    r, d = sourdough
    stray = "https://elsewhere.example/bread"
    bad = msgspec.structs.replace(d, citations=[stray, *d.citations[1:]])
    v = verdict(make_task, output, "sourdough", r, bad)
    assert not v.approved
    assert (
        v.feedback[0].issue == f"citation [1] is {stray}, which is not among the research sources"
    )
    assert v.feedback[0].severity == "blocker"
    # The writer's previous draft travels with the revision; it re-cites from the research.
    task = make_task("write", {"topic": "sourdough"}, {"research": r, "write": bad}, v.feedback, 1)
    fixed = output(write(task))
    assert stray not in fixed.citations
    assert verdict(make_task, output, "sourdough", r, fixed).approved


def test_reviewer_rejects_a_claim_its_source_does_not_back(
    make_task: MakeTask, output: Unwrap, sourdough: tuple[ResearchFindings, Draft]
) -> None:
    r, d = sourdough
    swapped = msgspec.structs.replace(
        d, citations=[d.citations[1], d.citations[0], *d.citations[2:]]
    )
    v = verdict(make_task, output, "sourdough", r, swapped)
    assert not v.approved
    assert all(fb.aspect == "citations" for fb in v.feedback)
    assert "is not backed by its cited source [1]" in v.feedback[0].issue


def test_reviewer_rejects_a_banned_word(
    make_task: MakeTask, output: Unwrap, sourdough: tuple[ResearchFindings, Draft]
) -> None:
    r, d = sourdough
    bad = msgspec.structs.replace(d, body=d.body.replace("A preheated", "A cutting-edge preheated"))
    v = verdict(make_task, output, "sourdough", r, bad)
    assert not v.approved
    assert [(fb.aspect, fb.issue, fb.suggestion) for fb in v.feedback] == [
        (
            "brand_voice",
            "banned brand-voice word 'cutting-edge'",
            "replace 'cutting-edge' with 'modern'",
        )
    ]
    task = make_task("write", {"topic": "sourdough"}, {"research": r, "write": bad}, v.feedback, 1)
    fixed = output(write(task))
    assert "A modern preheated" in fixed.body
    assert verdict(make_task, output, "sourdough", r, fixed).approved


def test_reviewer_rejects_a_long_title(
    make_task: MakeTask, output: Unwrap, sourdough: tuple[ResearchFindings, Draft]
) -> None:
    r, d = sourdough
    long_title = (
        "Sourdough Fermentation Explained for Home Bakers Who Want an Open Crumb Every Time"
    )
    bad = msgspec.structs.replace(d, title=long_title)
    v = verdict(make_task, output, "sourdough", r, bad)
    assert [(fb.aspect, fb.issue) for fb in v.feedback] == [
        ("title_length", f"title is {len(long_title)} characters; the limit is 70")
    ]
    task = make_task("write", {"topic": "sourdough"}, {"research": r, "write": bad}, v.feedback, 1)
    fixed = output(write(task))
    assert fixed.title == "Sourdough Fermentation Explained for Home Bakers Who Want an Open"
    assert verdict(make_task, output, "sourdough", r, fixed).approved


def test_reviewer_rejects_a_title_without_the_keyword(
    make_task: MakeTask, output: Unwrap, sourdough: tuple[ResearchFindings, Draft]
) -> None:
    r, d = sourdough
    bad = msgspec.structs.replace(d, title="Bread That Rises Slowly")
    v = verdict(make_task, output, "sourdough", r, bad)
    assert aspects(v) == ["title_keyword"]
    assert v.feedback[0].issue == "title does not contain the topic keyword 'sourdough'"
    task = make_task("write", {"topic": "sourdough"}, {"research": r, "write": bad}, v.feedback, 1)
    fixed = output(write(task))
    assert fixed.title == "Sourdough: Bread That Rises Slowly"
    assert verdict(make_task, output, "sourdough", r, fixed).approved


def test_writer_applies_replacements_a_person_suggests(
    make_task: MakeTask, output: Unwrap, sourdough: tuple[ResearchFindings, Draft]
) -> None:
    r, _ = sourdough
    human = Feedback(
        source="human", issue="too technical", suggestion="replace 'crumb' with 'texture'"
    )
    fixed = output(write(make_task("write", {"topic": "sourdough"}, {"research": r}, [human], 1)))
    assert "open texture" in fixed.body and "crumb" not in fixed.body


# --- first drafts that need revisions, and converge ---------------------------------------


@pytest.mark.parametrize("carry_previous", [True, False], ids=["edit", "redraft"])
@pytest.mark.parametrize(
    ("topic", "rounds"),
    [
        ("sourdough", [[]]),
        ("remote work", [["brand_voice", "title_keyword"], []]),
        ("solar panels", [["title_keyword"], ["title_length"], []]),
        ("vector databases", [["citations", "citations", "title_length"], []]),
        ("coffee roasting", [["citations", "brand_voice", "title_keyword"], []]),
    ],
)
def test_review_loop_converges(
    make_task: MakeTask, output: Unwrap, topic: str, rounds: list[list[str]], carry_previous: bool
) -> None:
    r = findings(make_task, output, topic)
    feedback: list[Feedback] = []
    draft: Draft | None = None
    for revision, expected in enumerate(rounds):
        inputs: dict[str, object] = {"research": r}
        if carry_previous and draft is not None:
            inputs["write"] = draft
        draft = output(write(make_task("write", {"topic": topic}, inputs, feedback, revision)))
        assert isinstance(draft, Draft)
        v = verdict(make_task, output, topic, r, draft)
        assert aspects(v) == expected
        assert v.approved == (not expected)
        feedback = v.feedback
    assert draft is not None
    assert len(draft.title) <= TITLE_LIMIT and topic in draft.title.lower()


def test_publisher_renders_footnotes_and_sources(
    make_task: MakeTask, output: Unwrap, sourdough: tuple[ResearchFindings, Draft]
) -> None:
    r, d = sourdough
    p = output(publish(make_task("publish", {"topic": "sourdough"}, {"research": r, "write": d})))
    assert isinstance(p, Publication)
    assert p.slug == "sourdough-fermentation-explained"
    assert p.body.startswith("# Sourdough Fermentation Explained\n")
    assert "[^1]" in p.body and f"[^1]: [{r.sources[0].title}]({r.sources[0].url})" in p.body
    assert [s.url for s in p.sources] == d.citations
    assert p.summary == "Long fermentation gives sourdough its sour flavour and open crumb."
    assert p.word_count > 50


def test_reviewer_needs_the_research(
    make_task: MakeTask, sourdough: tuple[ResearchFindings, Draft]
) -> None:
    _, d = sourdough
    with pytest.raises(
        MissingInputError, match=r"^stage 'review' needs an upstream ResearchFindings"
    ):
        review(make_task("review", {"topic": "sourdough"}, {"write": d}))
