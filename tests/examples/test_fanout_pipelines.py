"""The bundled fan-out pipelines (examples/fanout.toml) run to completion on a real Runtime:
two static fan-outs with their joins, and a map fan-out with a review loop per item."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from handoffs import Runtime

WAIT = 60.0
CONFIG = Path(str(resources.files("handoffs.examples").joinpath("fanout.toml")))


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    kb = tmp_path_factory.mktemp("fanout") / "kb"
    with Runtime.open(CONFIG, kb, registry=CollectorRegistry()) as rt:
        yield rt


def outcomes(runtime: Runtime, run_id: str) -> list[tuple[str, int | None, int, str]]:
    return sorted((h.stage, h.item, h.revision, h.outcome) for h in runtime.handoffs(run_id))


def last_payload(runtime: Runtime, run_id: str) -> dict[str, object]:
    decoded = msgspec.msgpack.decode(runtime.handoffs(run_id)[-1].payload)
    assert isinstance(decoded, dict)
    return decoded


def test_launch_publishes_the_reviewed_article_with_its_faq(runtime: Runtime) -> None:
    run_id = runtime.submit("launch", {"topic": "solar panels"}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    assert outcomes(runtime, run_id) == [
        ("faq", None, 0, "accepted"),
        ("publish", None, 0, "accepted"),
        ("research", None, 0, "accepted"),
        ("review", None, 0, "rejected"),
        ("review", None, 1, "rejected"),
        ("review", None, 2, "accepted"),
        ("write", None, 0, "accepted"),
        ("write", None, 1, "accepted"),
        ("write", None, 2, "accepted"),
    ]
    body = str(last_payload(runtime, run_id)["body"])
    assert body.startswith("# Solar Panels: How Much Power Rooftop Arrays Still Produce\n")
    assert body.count("\n### What do the sources say about ") == 5


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_release_joins_the_changelog_and_the_docs(runtime: Runtime) -> None:
    run_id = runtime.submit("release", {"feature": "reading_time", "version": "1.3.0"}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    assert [s for s, *_ in outcomes(runtime, run_id)] == [
        "changelog",
        "docs",
        "implement",
        "notes",
    ]
    page = last_payload(runtime, run_id)
    assert page["sections"] == [
        "Changelog",
        "Documentation",
        "Overview",
        "API",
        "Examples",
        "How it works",
        "Testing",
    ]
    assert str(page["title"]).startswith("Release 1.3.0: Add reading_time()")


def test_sections_writes_and_reviews_one_section_per_finding_then_edits(
    runtime: Runtime,
) -> None:
    run_id = runtime.submit("sections", {"topic": "solar panels"}).run_id
    run = runtime.wait(run_id, WAIT)
    assert (run.state, run.items) == ("completed", {"section": 5})
    handoffs = runtime.handoffs(run_id)
    # Every section went through its own review loop: the keyword, then (for two) the length.
    drafts = {i: sum(h.stage == "section" and h.item == i for h in handoffs) for i in range(5)}
    assert drafts == {0: 3, 1: 3, 2: 2, 3: 2, 4: 2}
    assert [h.stage for h in handoffs][-1] == "edit"
    article = last_payload(runtime, run_id)
    assert article["title"] == "Solar Panels: five key findings"
    body = str(article["body"])
    # The sections are in the order of the findings, their footnotes renumbered into one list.
    assert [line for line in body.splitlines() if line.startswith("## ")] == [
        "## Solar Panels: How Much Power Rooftop Arrays Still Produce",
        "## Solar Panels: What Homeowners Should Know Before Installing Rooftop",
        "## Solar Panels: Adding a Home Battery",
        "## Solar Panels: String Inverters Versus Microinverters",
        "## Solar Panels: Keeping Panels Clean",
    ]
    assert [f"[^{n}]" in body for n in range(1, 7)] == [True] * 5 + [False]
