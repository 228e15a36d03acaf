"""A runtime opened paused takes runs but dispatches nothing until told to start."""

from __future__ import annotations

import fakes
from runtime_support import OpenRuntime

WAIT = 30.0


def test_a_paused_runtime_dispatches_once_started(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(dispatch=False)
    run_id = runtime.submit("support", {"question": "q"}).run_id
    stats = runtime.statistics()  # a barrier: the orchestrator decided everything told so far
    assert fakes.RECEIVED == []
    assert stats.orchestrator.waiting["support"] == 1
    runtime.start_dispatching()
    assert runtime.wait(run_id, WAIT).state == "completed"
