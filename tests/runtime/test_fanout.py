"""Fan-out and fan-in: parallel stages, one task per item of a list, and joins."""

from __future__ import annotations

from typing import Any

import fakes
import msgspec
import pytest
from handoffs.actors import config_problems
from handoffs.messages import (
    BUNDLED_CONTRACTS,
    Config,
    ContractRegistry,
    JoinQuorum,
    PipelineSpec,
    RoleSpec,
    StageSpec,
)
from runtime_support import OpenRuntime

from handoffs.simulation import simulate

WAIT = 30.0


def fan_config(join: Any = "all", **publish: Any) -> Config:
    """research -> (write -> review, faq) -> publish (a join): the seed's research feeding
    an article and an FAQ, reviewed, then one editor joining them."""
    roles = {
        name: RoleSpec(agent=f"fakes:{agent}", concurrency=2)
        for name, agent in (
            ("research", "research"),
            ("write", "write"),
            ("review", "review"),
            ("faq", "editor"),
            ("editor", "editor"),
        )
    }

    def stage(role: str, output: str, **kw: Any) -> StageSpec:
        return StageSpec(role=role, output=output, retry_backoff=0.001, **kw)

    stages = {
        "research": stage("research", "ResearchFindings", next=["write", "faq"]),
        "write": stage("write", "Draft", next="review"),
        "review": stage("review", "Verdict", on_reject="write", next="publish", max_revisions=1),
        "faq": stage("faq", "DocPage", next="publish"),
        "publish": stage("editor", "DocPage", join=join, **publish),
    }
    return Config(roles=roles, pipelines={"p": PipelineSpec(start="research", stages=stages)})


def map_config() -> Config:
    """research -> sections (one per key finding, each reviewed) -> edit (joins them)."""
    roles = {
        name: RoleSpec(agent=f"fakes:{agent}", concurrency=3)
        for name, agent in (("research", "research"), ("write", "write"), ("review", "review"))
    }
    roles["editor"] = RoleSpec(agent="fakes:editor")
    stages = {
        "research": StageSpec(role="research", output="ResearchFindings", next="sections"),
        "sections": StageSpec(
            role="write", output="Draft", for_each="research.key_findings", next="check"
        ),
        "check": StageSpec(
            role="review", output="Verdict", on_reject="sections", next="edit", max_revisions=1
        ),
        "edit": StageSpec(role="editor", output="DocPage", join="all"),
    }
    return Config(roles=roles, pipelines={"m": PipelineSpec(start="research", stages=stages)})


def received(run_id: str, stage: str) -> list[fakes.Task]:
    return [t for t in fakes.RECEIVED if t.run_id == run_id and t.stage == stage]


def test_static_fan_out_runs_the_branches_and_the_join_gets_every_output(
    open_runtime: OpenRuntime,
) -> None:
    runtime = open_runtime(fan_config())
    run_id = runtime.submit("p", {"topic": "bees", "plan": {"review": ["reject"]}}).run_id
    run = runtime.wait(run_id, WAIT)
    assert run.state == "completed"
    (publish,) = received(run_id, "publish")
    assert sorted(publish.inputs) == ["faq", "research", "review", "write"]
    assert publish.inputs["write"].title == "draft 1"  # the branch's review loop went once
    outcomes = sorted((h.stage, h.revision, h.outcome) for h in runtime.handoffs(run_id))
    assert outcomes == [
        ("faq", 0, "accepted"),
        ("publish", 0, "accepted"),
        ("research", 0, "accepted"),
        ("review", 0, "rejected"),
        ("review", 1, "accepted"),
        ("write", 0, "accepted"),
        ("write", 1, "accepted"),
    ]


def test_a_join_on_any_starts_with_the_first_branch_and_withdraws_the_rest(
    open_runtime: OpenRuntime,
) -> None:
    runtime = open_runtime(fan_config(join="any"))
    # The article's branch hangs; the FAQ arrives and the join goes on without the article.
    run_id = runtime.submit("p", {"topic": "bees", "plan": {"write": ["hang"]}}).run_id
    run = runtime.wait(run_id, WAIT)
    assert run.state == "completed"
    (publish,) = received(run_id, "publish")
    assert "write" not in publish.inputs and "faq" in publish.inputs
    assert runtime.statistics().orchestrator.live_tasks == 0  # the hung branch was withdrawn


def test_a_quorum_join_waits_for_its_quorum() -> None:
    registry = ContractRegistry()
    for name, contract in BUNDLED_CONTRACTS.items():
        registry.register(contract, name=name)
    assert config_problems(fan_config(join=JoinQuorum(quorum=2)), registry) == []
    assert config_problems(fan_config(join=JoinQuorum(quorum=3)), registry) == [
        "pipelines.p.stages.publish.join: quorum 3 of 2 branches"
    ]


def test_a_map_fan_out_runs_once_per_item_with_its_own_review_loop(
    open_runtime: OpenRuntime,
) -> None:
    runtime = open_runtime(map_config())
    findings = ["a", "b", "c"]
    plan = {"check": ["ok", "reject"]}  # the second check to run rejects its section once
    run_id = runtime.submit("m", {"topic": "bees", "findings": findings, "plan": plan}).run_id
    run = runtime.wait(run_id, WAIT)
    assert run.state == "completed"
    sections = received(run_id, "sections")
    assert sorted((t.item_index, t.item) for t in sections if t.revision == 0) == [
        (0, "a"),
        (1, "b"),
        (2, "c"),
    ]
    assert [t.revision for t in sections].count(1) == 1  # one item was revised, alone
    (edit,) = received(run_id, "edit")
    titles = [d.title for d in edit.inputs["sections"]]
    assert len(titles) == 3 and titles[0].endswith(" of a") and titles[2].endswith(" of c")
    assert run.items == {"sections": 3}


def test_an_empty_list_goes_straight_to_the_join(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(map_config())
    run_id = runtime.submit("m", {"topic": "bees", "findings": []}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    (edit,) = received(run_id, "edit")
    assert "sections" not in edit.inputs


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"publish": {"join": None}},
            "pipelines.p.stages.publish: 2 branches reach it (review, faq): say how it waits "
            'for them (join = "all", "any" or { quorum = N })',
        ),
        (
            {"write": {"next": ["review", "faq"]}},
            "pipelines.p.stages.write.next: a branch does not fan out again",
        ),
        (
            {"review": {"on_reject": "faq"}},
            "pipelines.p.stages.review.on_reject: faq is in another branch; a review loop "
            "stays inside its branch",
        ),
    ],
)
def test_the_config_refuses_an_unsound_fan_out(change: dict[str, Any], problem: str) -> None:
    config = fan_config()
    stages = dict(config.pipelines["p"].stages)
    for name, fields in change.items():
        stages[name] = msgspec.structs.replace(stages[name], **fields)
    broken = msgspec.structs.replace(
        config, pipelines={"p": msgspec.structs.replace(config.pipelines["p"], stages=stages)}
    )
    registry = ContractRegistry()
    for name, contract in BUNDLED_CONTRACTS.items():
        registry.register(contract, name=name)
    assert problem in config_problems(broken, registry)


def test_a_for_each_over_a_field_the_contract_lacks_is_refused() -> None:
    config = map_config()
    stages = dict(config.pipelines["m"].stages)
    stages["sections"] = msgspec.structs.replace(stages["sections"], for_each="research.nope")
    broken = msgspec.structs.replace(
        config, pipelines={"m": msgspec.structs.replace(config.pipelines["m"], stages=stages)}
    )
    registry = ContractRegistry()
    for name, contract in BUNDLED_CONTRACTS.items():
        registry.register(contract, name=name)
    assert config_problems(broken, registry) == [
        "pipelines.m.stages.sections.for_each: ResearchFindings has no field 'nope'"
    ]


@pytest.mark.parametrize("join", ["all", "any", JoinQuorum(quorum=2)])
def test_fan_out_configs_keep_every_invariant_under_simulated_faults(join: Any) -> None:
    report = simulate(fan_config(join=join), seeds=60, runs=20)
    assert report.violation is None, report.violation
    assert report.completed > report.runs * 0.7


def test_a_map_config_keeps_every_invariant_under_simulated_faults() -> None:
    report = simulate(map_config(), seeds=60, runs=20)
    assert report.violation is None, report.violation
    assert report.completed > report.runs * 0.7


def test_a_join_named_before_its_other_branch_waits_for_it(open_runtime: OpenRuntime) -> None:
    # research -> [publish (the join), write]; write -> publish: research reaches the join
    # before write has even started, and the join must wait for it, not end the run.
    config = fan_config()
    stages = dict(config.pipelines["p"].stages)
    stages["research"] = msgspec.structs.replace(stages["research"], next=["publish", "write"])
    stages["write"] = msgspec.structs.replace(stages["write"], next="publish")
    for name in ("review", "faq"):
        stages.pop(name)
    pipeline = msgspec.structs.replace(config.pipelines["p"], stages=stages)
    runtime = open_runtime(msgspec.structs.replace(config, pipelines={"p": pipeline}))
    run_id = runtime.submit("p", {"topic": "bees"}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    (publish,) = received(run_id, "publish")
    assert sorted(publish.inputs) == ["research", "write"]
