"""``handoffs show`` of a run with branches: the handoffs of each branch grouped under a
``branch NAME:`` line (one per item of a map branch, ``section[2]``), ``joined:`` after them."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from handoffs import Runtime
from handoffs.daemon.render import timeline
from handoffs.daemon.wire import HandoffView, RunDetail, handoff_view, run_detail

CONFIG = Path(str(resources.files("handoffs.examples").joinpath("fanout.toml")))
HEAD = ("id", "run_id", "pipeline", "kind")


def view(stage: str, n: int, **kw: object) -> HandoffView:
    return HandoffView(
        id=f"art-{n:024d}",
        run_id="run-000000000000000000000001",
        pipeline="p",
        stage=stage,
        kind="Draft",
        outcome="accepted",
        created_at=100.0 + n,
        **kw,  # type: ignore[arg-type]
    )


def test_branches_are_grouped_and_the_join_comes_after_them() -> None:
    handoffs = [
        view("research", 0),
        view("write", 2, branch="write"),
        view("section", 1, branch="section", item=1),
        view("faq", 3, branch="faq"),
        view("section", 4, branch="section", item=0),
        view("write", 5, branch="write", revision=1),
        view("gone", 6, item=3),  # its stage left the config: the item alone says where
        view("publish", 7),
        view("done", 8),
    ]
    run = RunDetail(
        run_id="run-000000000000000000000001",
        pipeline="p",
        state="completed",
        revisions={"write": 1, "section:1": 2},
        created_at=100.0,
        handoffs=handoffs,
    )
    assert timeline(run).splitlines() == [
        "run run-000000000000000000000001  pipeline p  state completed",
        "input: {}",
        "revisions: write 1, section[1] 2",
        "",
        "   +0.000s  research    r0 a1  accepted    Draft",
        "  branch item 3:",
        "   +6.000s  gone[3]     r0 a1  accepted    Draft",
        "  branch faq:",
        "   +3.000s  faq         r0 a1  accepted    Draft",
        "  branch section[0]:",
        "   +4.000s  section[0]  r0 a1  accepted    Draft",
        "  branch section[1]:",
        "   +1.000s  section[1]  r0 a1  accepted    Draft",
        "  branch write:",
        "   +2.000s  write       r0 a1  accepted    Draft",
        "   +5.000s  write       r1 a1  accepted    Draft",
        "  joined:",
        "   +7.000s  publish     r0 a1  accepted    Draft",
        "   +8.000s  done        r0 a1  accepted    Draft",
    ]


def test_a_chain_has_no_branch_lines() -> None:
    run = RunDetail(
        run_id="run-000000000000000000000001",
        pipeline="p",
        state="running",
        created_at=100.0,
        handoffs=[view("write", 1), view("review", 2)],
    )
    assert timeline(run).splitlines()[2:] == [
        "",
        "   +1.000s  write   r0 a1  accepted    Draft",
        "   +2.000s  review  r0 a1  accepted    Draft",
    ]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    kb = tmp_path_factory.mktemp("show") / "kb"
    with Runtime.open(CONFIG, kb, registry=CollectorRegistry()) as rt:
        yield rt


def shown(runtime: Runtime, pipeline: str) -> list[str]:
    """The run's timeline without its detail lines, times left out (commit order varies)."""
    run_id = runtime.submit(pipeline, {"topic": "solar panels"}).run_id
    run = msgspec.structs.replace(runtime.wait(run_id, 60.0), run_id="run-000000000000000000000001")
    views = [
        msgspec.structs.replace(
            handoff_view(h, payload=False, pipelines=runtime.config.pipelines), created_at=0.0
        )
        for h in runtime.handoffs(run_id)
    ]
    lines = timeline(run_detail(run, views)).splitlines()
    body = lines[lines.index("") + 1 :]
    return [line for line in body if not line.startswith(" " * 12)]


def test_show_groups_a_static_fan_out_by_branch(runtime: Runtime) -> None:
    assert shown(runtime, "launch") == [
        "         -  research  r0 a1  accepted    ResearchFindings",
        "  branch faq:",
        "         -  faq       r0 a1  accepted    KBArticle",
        "  branch write:",
        "         -  write     r0 a1  accepted    Draft",
        "         -  review    r0 a1  rejected    Verdict",
        "         -  write     r1 a1  accepted    Draft",
        "         -  review    r1 a1  rejected    Verdict",
        "         -  write     r2 a1  accepted    Draft",
        "         -  review    r2 a1  accepted    Verdict",
        "  joined:",
        "         -  publish   r0 a1  accepted    Publication",
    ]


def test_show_groups_a_map_fan_out_by_item(runtime: Runtime) -> None:
    lines = shown(runtime, "sections")
    assert [line for line in lines if not line.startswith("         -")] == [
        *(f"  branch section[{i}]:" for i in range(5)),
        "  joined:",
    ]
    start = lines.index("  branch section[2]:")
    assert lines[start : start + 5] == [
        "  branch section[2]:",
        "         -  section[2]  r0 a1  accepted    Draft",
        "         -  check[2]    r0 a1  rejected    Verdict",
        "         -  section[2]  r1 a1  accepted    Draft",
        "         -  check[2]    r1 a1  accepted    Verdict",
    ]
    assert lines[-1] == "         -  edit        r0 a1  accepted    Publication"
