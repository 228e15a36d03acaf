"""An output too large for its stage is invalid output, never a store-filling loop."""

from __future__ import annotations

from handoffs.messages import Config, Draft, PipelineSpec, RoleSpec, StageSpec, Task
from runtime_support import OpenRuntime

from handoffs import ConfigError, load_config

WAIT = 30.0


def huge_then_small(task: Task) -> Draft:
    size = 10_000 if task.attempt == 1 else 10
    return Draft(title="t", body="b" * size)


def always_huge(task: Task) -> Draft:
    return Draft(title="t", body="b" * 10_000)


def config(agent: str, max_output_bytes: int = 4096) -> Config:
    stage = StageSpec(
        role="writer", output="Draft", max_attempts=2, max_output_bytes=max_output_bytes
    )
    return Config(
        roles={"writer": RoleSpec(agent=f"test_output_size:{agent}")},
        pipelines={"p": PipelineSpec(start="write", stages={"write": stage})},
    )


def test_an_oversized_output_goes_back_with_validator_feedback(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(config("huge_then_small"))
    run_id = runtime.submit("p", {}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    events = [e.detail for e in runtime.store.journal() if e.type == "task.failed"]
    assert len(events) == 1
    assert events[0].startswith("Draft is 100")
    assert events[0].endswith("bytes encoded; this stage takes at most 4096 (max_output_bytes)")


def test_always_oversized_escalates_invalid_output(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(config("always_huge"))
    run_id = runtime.submit("p", {}).run_id
    assert runtime.wait(run_id, WAIT).state == "escalated"
    (escalation,) = runtime.escalations()
    assert escalation.reason == "invalid_output"
    assert escalation.feedback[0].aspect == "size"


def test_a_cap_over_a_quarter_of_the_map_is_a_config_error() -> None:
    big = config("always_huge", max_output_bytes=32 << 30)
    try:
        load_config(big)
    except ConfigError as exc:
        assert "max_output_bytes 34359738368 is over a quarter of the store's max_map_size" in str(
            exc
        )
    else:
        raise AssertionError("no ConfigError")
