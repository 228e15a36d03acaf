"""The fan-out examples' own agents, called directly: the FAQ and the launch join, a section
per finding and the editor's join, the release page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from handoffs.examples.coding.join import write_release_notes
from handoffs.examples.content import Publication, research
from handoffs.examples.content.faq import publish_with_faq, question, write_faq
from handoffs.examples.content.sections import edit_sections, write_section
from handoffs.examples.upstream import MissingInputError
from handoffs.messages import (
    ChangelogEntry,
    CodeChange,
    DocPage,
    Draft,
    Feedback,
    KBArticle,
    ResearchFindings,
    Task,
)

Unwrap = Callable[[object], Any]
MakeTask = Callable[..., Task]
TOPIC = {"topic": "solar panels"}


@pytest.fixture
def found(make_task: MakeTask, output: Unwrap) -> ResearchFindings:
    r = output(research(make_task("research", TOPIC)))
    assert isinstance(r, ResearchFindings)
    return r


def item_task(make_task: MakeTask, index: int, item: object, **kw: Any) -> Task:
    return msgspec.structs.replace(make_task("section", TOPIC, **kw), item=item, item_index=index)


def test_a_question_names_a_word_of_the_finding_beyond_the_topic() -> None:
    assert question("Rain removes dust from solar panels.", "solar panels") == (
        "What do the sources say about rain and solar panels?"
    )
    assert question("Solar panels are solar.", "solar panels") == (
        "What do the sources say about solar panels?"
    )


def test_the_faq_has_one_credited_entry_per_finding(
    make_task: MakeTask, output: Unwrap, found: ResearchFindings
) -> None:
    faq = output(write_faq(make_task("faq", TOPIC, {"research": found})))
    assert isinstance(faq, KBArticle)
    assert [e.answer.split(" (source: ")[0] for e in faq.faq] == found.key_findings
    assert all(" (source: " in e.answer for e in faq.faq)
    assert faq.title == "Solar Panels: questions and answers"


def test_the_launch_join_appends_the_faq_to_the_published_article(
    make_task: MakeTask, output: Unwrap, found: ResearchFindings
) -> None:
    faq = output(write_faq(make_task("faq", TOPIC, {"research": found})))
    draft = Draft(title="Solar panels", body="Panels work [1].", citations=[found.sources[0].url])
    inputs = {"research": found, "write": draft, "faq": faq}
    article = output(publish_with_faq(make_task("publish", TOPIC, inputs)))
    assert isinstance(article, Publication)
    assert article.body.startswith("# Solar panels\n\nPanels work[^1].\n")
    assert article.body.count("\n### What do the sources say about ") == len(faq.faq)


def test_a_section_cites_the_source_of_its_finding(
    make_task: MakeTask, output: Unwrap, found: ResearchFindings
) -> None:
    finding = found.key_findings[2]
    draft = output(write_section(item_task(make_task, 2, finding, inputs={"research": found})))
    assert draft == Draft(
        title="Adding a Home Battery",
        body=finding[:-1] + " [1].",
        citations=["https://energy.example/solar/batteries"],
        keywords=["solar panels"],
    )


def test_a_section_revision_applies_the_review_feedback(
    make_task: MakeTask, output: Unwrap, found: ResearchFindings
) -> None:
    first = output(
        write_section(item_task(make_task, 2, found.key_findings[2], inputs={"research": found}))
    )
    feedback = [Feedback(source="reviewer", aspect="title_keyword", issue="no keyword")]
    task = item_task(
        make_task,
        2,
        found.key_findings[2],
        inputs={"research": found, "section": first},
        feedback=feedback,
        revision=1,
    )
    assert output(write_section(task)).title == "Solar Panels: Adding a Home Battery"


def test_a_section_without_an_item_says_so(make_task: MakeTask, found: ResearchFindings) -> None:
    with pytest.raises(
        MissingInputError, match=r"^stage 'section' runs per finding; its item is None$"
    ):
        write_section(make_task("section", TOPIC, {"research": found}))


def test_the_editor_joins_the_sections_in_order_with_one_source_list(
    make_task: MakeTask, output: Unwrap, found: ResearchFindings
) -> None:
    a, b = found.sources[0].url, found.sources[1].url
    sections = [
        Draft(title="One", body="First [1].", citations=[b]),
        Draft(title="Two", body="Second [1]. Again [2].", citations=[a, b]),
    ]
    inputs = {"research": found, "section": sections, "check": []}
    article = output(edit_sections(make_task("edit", TOPIC, inputs)))
    assert isinstance(article, Publication)
    assert article.title == "Solar Panels: two key findings"
    assert article.body.split("\n\n")[1:5] == [
        "## One",
        "First[^1].",
        "## Two",
        "Second[^2]. Again[^1].",
    ]
    assert [s.url for s in article.sources] == [b, a]


def test_the_release_page_holds_the_changelog_and_the_docs_a_level_down(
    make_task: MakeTask, output: Unwrap
) -> None:
    change = CodeChange(summary="Add x()", files_changed=["x.py"], how_it_works="x", tests_passed=2)
    entry = ChangelogEntry(version="1.3.0", summary="Add x()", changes=["Added `x()`."])
    docs = DocPage(title="x", body="# x\n\n## API\n\nx()", sections=["API"])
    inputs = {"implement": change, "changelog": entry, "docs": docs}
    page = output(write_release_notes(make_task("notes", {"version": "1.3.0"}, inputs)))
    assert page == DocPage(
        title="Release 1.3.0: Add x()",
        body="# Release 1.3.0: Add x()\n\n## Changelog\n\nAdd x()\n\n- Added `x()`.\n\n"
        "## Documentation\n\n## x\n\n### API\n\nx()\n",
        sections=["Changelog", "Documentation", "API"],
    )
