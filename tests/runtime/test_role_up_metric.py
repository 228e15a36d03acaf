"""``handoffs_role_up{role}``: 1 from the start, 0 once the role is down, 1 again after a
person restarts it (the alert rules' HandoffsRoleDown reads it)."""

from __future__ import annotations

from runtime_support import OpenRuntime, make_config

from handoffs import Runtime

WAIT = 30.0


def role_up(runtime: Runtime, role: str) -> float | None:
    runtime.statistics()  # a barrier: the supervisor has handled every event told before
    return runtime.registry.get_sample_value("handoffs_role_up", {"role": role})


def test_role_up_follows_the_role_down_and_back(open_runtime: OpenRuntime) -> None:
    config = make_config(max_attempts=100, max_restarts=3, period=60.0, restart_backoff=0.0)
    runtime = open_runtime(config)
    assert role_up(runtime, "write") == 1
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["exit"] * 4}}).run_id
    assert runtime.wait(run_id, WAIT).state == "escalated"
    assert role_up(runtime, "write") == 0
    assert role_up(runtime, "review") == 1
    runtime.restart_role("write")
    assert runtime.wait(run_id, WAIT).state == "completed"
    assert role_up(runtime, "write") == 1


def test_the_map_limit_is_the_store_option(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(make_config())
    limit = runtime.registry.get_sample_value("handoffs_store_map_max_bytes")
    assert limit == runtime.config.config.store.max_map_size
