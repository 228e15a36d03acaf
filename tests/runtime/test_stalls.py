"""No silent stall: a role nothing will run is down, and close keeps its deadline."""

from __future__ import annotations

import time

import fakes
import pytest
from runtime_support import OpenRuntime, make_config

WAIT = 30.0


@pytest.mark.parametrize("agents", ["fakes", "async_fakes"])
def test_a_temporary_role_left_with_no_actor_is_down_until_restarted(
    open_runtime: OpenRuntime, agents: str
) -> None:
    runtime = open_runtime(make_config(agents=agents, restart="temporary"))
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["exit"]}}).run_id
    # the write actor died and is not restarted: the retry has nowhere to go
    assert runtime.wait(run_id, WAIT).state == "escalated"
    (escalation,) = runtime.escalations()
    assert (escalation.reason, escalation.stage) == ("role_down", "write")
    reason = (
        "no live actors: the last exited (temporary: not restarted): "
        "write/0.1: SystemExit in agent code"
    )
    assert runtime.health() == (False, [f"role write is down: {reason}"])
    roles = {r.role: r for r in runtime.statistics().supervisor.roles}
    assert (roles["write"].up, roles["write"].actors, roles["write"].restarts) == (False, 0, 0)
    # a run that needs the role meanwhile waits visibly too
    waiting = runtime.submit("content", {"topic": "y"}).run_id
    assert runtime.wait(waiting, WAIT).state == "escalated"
    runtime.restart_role("write")
    assert runtime.wait(run_id, WAIT).state == "completed"
    assert runtime.wait(waiting, WAIT).state == "completed"
    assert runtime.health() == (True, [])
    assert fakes.calls(run_id, "write") == 2  # the one that died, the one after the restart


def test_a_temporary_role_with_a_live_actor_left_stays_up(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(make_config(restart="temporary", concurrency=2))
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["exit"]}}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"  # the other actor ran the retry
    roles = {r.role: r for r in runtime.statistics().supervisor.roles}
    assert (roles["write"].up, roles["write"].actors, roles["write"].restarts) == (True, 1, 0)
    assert runtime.health() == (True, [])


def test_a_transient_role_is_restarted_after_an_abnormal_exit(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(make_config(restart="transient", restart_backoff=0.0))
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["exit"]}}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    roles = {r.role: r for r in runtime.statistics().supervisor.roles}
    assert (roles["write"].up, roles["write"].actors, roles["write"].restarts) == (True, 1, 1)


def test_close_keeps_one_deadline_however_many_agents_hang(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime()
    runtime.submit("coding", {"plan": {"code": ["hang"]}})
    runtime.submit("support", {"question": "q", "plan": {"support": ["hang"]}})
    assert runtime.statistics().orchestrator.inflight == 2  # one task per role, both stuck
    started = time.monotonic()
    runtime.close(timeout=1.0)
    elapsed = time.monotonic() - started
    # drain, then each hung role's stop, each waiting the full timeout took >= 3 s; one
    # deadline is 1 s, plus the runtime's own actors and the store (milliseconds)
    assert elapsed < 2.0
    assert runtime.closed and runtime.store.closed
    assert runtime.health() == (False, ["runtime is closed"])
