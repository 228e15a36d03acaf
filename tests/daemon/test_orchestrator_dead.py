"""When the orchestrator actor has died (for any reason), the runtime says so instead of
looking healthy: ``health()`` and ``/healthz`` are degraded with the reason, and a submit,
in Python or as ``POST /v1/runs``, fails at once (503 over HTTP), never hangs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import fakes
import pytest
from litestar.testing import TestClient
from prometheus_client import CollectorRegistry
from runtime_support import make_config

from handoffs import Runtime, RuntimeStopped
from handoffs.daemon.app import build_app

#: Far under the runtime's own 30 s timeout: a hang shows as a failure, not a slow pass.
QUICK_SECONDS = 5.0
REASON = "the orchestrator stopped; restart the runtime"


@pytest.fixture
def dead(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime whose orchestrator actor has stopped (the fault injected: nothing else)."""
    fakes.reset()
    runtime = Runtime.open(make_config(), tmp_path / "kb", registry=CollectorRegistry())
    try:
        assert runtime.health() == (True, [])
        runtime._orchestrator.stop(timeout=10)
        yield runtime
    finally:
        runtime.close(timeout=5)
        fakes.reset()


def test_health_is_degraded_with_the_reason_and_a_submit_fails_at_once(dead: Runtime) -> None:
    assert dead.health() == (False, [REASON])
    started = time.monotonic()
    with pytest.raises(RuntimeStopped, match=r"^submit: the runtime has stopped$"):
        dead.submit("content", {"topic": "bees"})
    assert time.monotonic() - started < QUICK_SECONDS


# Litestar 2.25 deprecates the Parameter(query=...) style the routes use (its replacement is
# newer than the oldest Litestar supported); only building the app in the test's process
# shows that, so this test lets deprecations through.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_healthz_is_degraded_and_post_runs_answers_503_at_once(dead: Runtime) -> None:
    app = build_app(
        dead, stopping=threading.Event(), hosts=frozenset({"testserver.local"}), token=None
    )
    with TestClient(app=app, timeout=QUICK_SECONDS) as client:
        health = client.get("/healthz")
        assert (health.status_code, health.json()) == (
            200,
            {"status": "degraded", "reasons": [REASON.partition(": ")[0]]},
        )
        started = time.monotonic()
        submitted = client.post("/v1/runs", json={"pipeline": "content", "input": {"topic": "x"}})
        assert time.monotonic() - started < QUICK_SECONDS
        assert submitted.status_code == 503
        # The daemon maps a stopped runtime to this one answer (handoffs/daemon/app.py).
        assert submitted.json() == {
            "error": {
                "code": "runtime_stopped",
                "message": "the runtime stopped (see /healthz); restart the daemon",
                "field": None,
            }
        }
