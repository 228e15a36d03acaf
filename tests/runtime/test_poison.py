"""A task that kills the process counts its attempts across restarts: after max_attempts
deaths its run escalates, instead of killing every restart for ever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from handoffs.store import Store

CHILD = Path(__file__).with_name("poison_child.py")


def test_a_task_that_kills_the_process_escalates_after_max_attempts(tmp_path: Path) -> None:
    data = tmp_path / "kb"
    lifetimes = []
    for _ in range(8):
        done = subprocess.run(
            [sys.executable, str(CHILD), str(data)],
            env={**os.environ, "PYTHONPATH": str(CHILD.parent)},  # its agent's module
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        lifetimes.append(done.returncode)
        if done.returncode == 0:
            assert done.stdout.strip() == "done"
            break
    # Three deaths (the poison task's three attempts), then a process that finishes.
    assert lifetimes == [-9, -9, -9, 0]
    with Store.open(data) as store:
        runs = {run.idempotency_key: run for run in store.runs(limit=100).items}
        assert {k: r.state for k, r in runs.items()} == {
            "ok-0": "completed",
            "ok-1": "completed",
            "ok-2": "completed",
            "poison": "escalated",
        }
        (escalation,) = store.escalations(state="open", limit=10).items
        assert escalation.reason == "retries_exhausted"
        assert escalation.summary == (
            "work failed on all 3 attempts; last: the process stopped while attempt 3 ran"
        )
        assert store.pending_tasks() == []
