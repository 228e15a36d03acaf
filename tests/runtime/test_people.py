"""People in the pipeline: stages people review (``role = "human"``) and "edit and approve"."""

from __future__ import annotations

import threading

import fakes
import msgspec
import pytest
from handoffs.actors import config_problems
from handoffs.messages import BUNDLED_CONTRACTS, ContractRegistry, Event, RoleSpec
from runtime_support import OpenRuntime, approval_config

from handoffs import InvalidInput, Runtime

WAIT = 30.0


def waiting(runtime: Runtime, run_id: str) -> str:
    run = runtime.wait(run_id, WAIT)
    assert (run.state, run.stage) == ("escalated", "approve")
    escalation = runtime.store.get_escalation(run.escalation_id or "")
    assert escalation is not None
    assert (escalation.reason, escalation.summary) == ("approval", "Check the draft about bees.")
    return escalation.id


def test_a_stage_people_review_waits_in_the_inbox_and_goes_on_when_approved(
    open_runtime: OpenRuntime,
) -> None:
    runtime = open_runtime(approval_config())
    run_id = runtime.submit("content", {"topic": "bees"}).run_id
    escalation = waiting(runtime, run_id)
    assert fakes.calls(run_id, "publish") == 0  # no agent ran past the approval
    runtime.resolve(escalation, "approve", "looks right")
    run = runtime.wait(run_id, WAIT)
    assert run.state == "completed"
    approval = [h for h in runtime.handoffs(run_id) if h.stage == "approve"]
    assert [(h.produced_by, h.outcome, h.kind) for h in approval] == [
        ("person", "accepted", "Verdict")
    ]


def test_revise_on_a_stage_people_review_sends_its_on_reject_back_with_the_text(
    open_runtime: OpenRuntime,
) -> None:
    runtime = open_runtime(approval_config())
    run_id = runtime.submit("content", {"topic": "bees"}).run_id
    runtime.resolve(waiting(runtime, run_id), "revise", "shorter, please")
    second = waiting(runtime, run_id)
    drafts = [t for t in fakes.RECEIVED if t.run_id == run_id and t.stage == "write"]
    assert [f.issue for f in drafts[-1].feedback] == ["shorter, please"]
    assert drafts[-1].revision == 1
    runtime.resolve(second, "approve")
    assert runtime.wait(run_id, WAIT).state == "completed"
    outcomes = [(h.stage, h.outcome) for h in runtime.handoffs(run_id)]
    assert outcomes[-4:] == [
        ("approve", "rejected"),
        ("write", "accepted"),
        ("approve", "accepted"),
        ("publish", "accepted"),
    ]


def test_edit_and_approve_checks_the_output_against_the_contract_then_goes_on(
    runtime: Runtime,
) -> None:
    # The review rejects every draft: after max_revisions the run escalates.
    plan = {"review": ["reject"] * 3}
    run_id = runtime.submit("content", {"topic": "bees", "plan": plan}).run_id
    run = runtime.wait(run_id, WAIT)
    assert run.state == "escalated"
    escalation = run.escalation_id or ""
    with pytest.raises(InvalidInput, match=r"^output: not a valid Draft: .*\$\.title"):
        runtime.resolve(escalation, "approve", output={"title": "x" * 500, "body": "b"})
    with pytest.raises(InvalidInput, match=r"^output: an edited output comes with approve"):
        runtime.resolve(escalation, "revise", "no", output={"title": "t", "body": "b"})
    runtime.resolve(escalation, "approve", "fixed it", output={"title": "Bees", "body": "B" * 50})
    assert runtime.wait(run_id, WAIT).state == "completed"
    edited = [h for h in runtime.handoffs(run_id) if h.produced_by == "person"]
    assert [(h.stage, h.outcome) for h in edited] == [("write", "accepted")]
    published = [t for t in fakes.RECEIVED if t.run_id == run_id and t.stage == "publish"]
    assert published[-1].inputs["write"].title == "Bees"


def test_the_config_says_what_a_stage_people_review_needs() -> None:
    config = approval_config()
    stages = dict(config.pipelines["content"].stages)
    stages["approve"] = msgspec.structs.replace(stages["approve"], output="Draft", on_reject=None)
    broken = msgspec.structs.replace(
        config,
        roles={**config.roles, "human": RoleSpec(agent="fakes:write")},
        pipelines={
            **config.pipelines,
            "content": msgspec.structs.replace(config.pipelines["content"], stages=stages),
        },
    )
    registry = ContractRegistry()
    for name, contract in BUNDLED_CONTRACTS.items():
        registry.register(contract, name=name)
    assert config_problems(broken, registry) == [
        "roles.human: the role name 'human' is reserved for stages people review",
        "pipelines.content.stages.approve.output: a stage people review (role 'human') "
        "outputs Verdict",
    ]


def test_an_approval_nobody_acts_on_within_its_timeout_escalates(
    open_runtime: OpenRuntime,
) -> None:
    config = approval_config()
    stages = dict(config.pipelines["content"].stages)
    stages["approve"] = msgspec.structs.replace(stages["approve"], timeout=0.2)
    content = msgspec.structs.replace(config.pipelines["content"], stages=stages)
    runtime = open_runtime(msgspec.structs.replace(config, pipelines={"content": content}))
    expired = threading.Event()

    def watch(events: list[Event]) -> None:
        if any(e.detail.startswith("approval_timeout: ") for e in events):
            expired.set()

    unsubscribe = runtime.store.subscribe(watch)
    run_id = runtime.submit("content", {"topic": "bees"}).run_id
    assert expired.wait(WAIT)
    unsubscribe()
    run = runtime.wait(run_id, WAIT)
    escalation = runtime.store.get_escalation(run.escalation_id or "")
    assert escalation is not None
    assert (escalation.reason, escalation.state) == ("approval_timeout", "open")
    assert escalation.summary == (
        "nobody acted on approve within 0.2s: Check the draft about bees."
    )
    runtime.resolve(escalation.id, "approve")  # a person still approves it as an approval
    assert runtime.wait(run_id, WAIT).state == "completed"
    assert [h.produced_by for h in runtime.handoffs(run_id) if h.stage == "approve"] == ["person"]
