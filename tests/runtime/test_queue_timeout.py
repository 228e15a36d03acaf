"""A task that waits longer than its stage's queue_timeout for a free agent escalates."""

from __future__ import annotations

import fakes
from handoffs.messages import Config, PipelineSpec, RoleSpec, StageSpec
from runtime_support import OpenRuntime

WAIT = 30.0


def config(queue_timeout: float | None) -> Config:
    stage = StageSpec(role="worker", output="CodeChange", queue_timeout=queue_timeout)
    return Config(
        roles={"worker": RoleSpec(agent="fakes:code", concurrency=1)},
        pipelines={"coding": PipelineSpec(start="code", stages={"code": stage})},
    )


def test_a_task_waiting_past_its_queue_timeout_escalates(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(config(queue_timeout=0.2), prefetch=1)
    hung = runtime.submit("coding", {"plan": {"code": ["hang"]}}).run_id
    assert fakes.STARTED.wait(WAIT)  # the only agent is busy for good
    waiting = runtime.submit("coding", {}).run_id
    assert runtime.wait(waiting, WAIT).state == "escalated"
    (escalation,) = runtime.escalations()
    assert escalation.reason == "queue_timeout"
    assert escalation.summary == (
        "code waited 0.2s for a free agent of role worker (queue_timeout); it never started"
    )
    fakes.release_hung()
    assert runtime.wait(hung, WAIT).state == "completed"
    # A person sends it back once the agent is free: it runs.
    runtime.resolve(escalation.id, "approve")
    assert runtime.wait(waiting, WAIT).state == "completed"
