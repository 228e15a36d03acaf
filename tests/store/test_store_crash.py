"""SIGKILL a writer at random moments: every reopen finds whole batches and sound files."""

from __future__ import annotations

import collections
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from handoffs.store import Store

WRITER = Path(__file__).with_name("crash_writer.py")
KILLS = 20


def id_of(prefix: str, n: int) -> str:
    return f"{prefix}-{n:024x}"


def check(path: Path) -> int:
    """Assert the store holds whole batches 0..n-1 and nothing else; return n."""
    with Store.open(path) as store:  # the dead writer's lock is gone with its process
        assert store.verify() == []
        stats = store.statistics()
        n = stats.entries["runs"]
        assert stats.entries["tasks"] == n
        assert stats.entries["artifacts"] == n
        assert stats.last_seq == 2 * n
        for i in range(n):
            state = "completed" if i < n - 1 else "running"
            run = store.get_run(id_of("run", i))
            task = store.get_task(id_of("task", i))
            artifact = store.get_artifact(id_of("art", i))
            assert run is not None and run.state == state, i
            assert task is not None and task.state == ("done" if i < n - 1 else "ready"), i
            assert artifact is not None and artifact.run_id == run.run_id, i
        per_run = collections.Counter(e.run_id for e in store.journal(limit=1 << 30))
        assert per_run == {id_of("run", i): 2 for i in range(n)}
    return n


@pytest.mark.slow
def test_killed_writers_leave_whole_batches(tmp_path: Path) -> None:
    path = tmp_path / "kb"
    rng = random.Random(20240611)
    durable = 0
    for kill in range(KILLS):
        # Lines alternate "begin"/"done": an odd count kills inside a commit, an even one
        # between two commits.
        lines = rng.randint(1, 40)
        with subprocess.Popen(
            [sys.executable, str(WRITER), str(path), str(kill), str(kill % 2)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as writer:
            assert writer.stdout is not None and writer.stderr is not None
            done = durable
            for _ in range(lines):
                line = writer.stdout.readline()
                assert line, f"writer died: {writer.stderr.read()}"
                what, count = line.split()
                if what == "done":
                    done = int(count)
            writer.send_signal(signal.SIGKILL)
            writer.wait()
        assert writer.returncode == -signal.SIGKILL
        found = check(path)
        # Every commit that returned survived; one in flight is all there or not at all.
        assert found >= done > durable or (lines == 1 and found >= done == durable)
        durable = found
        verify = subprocess.run(
            [sys.executable, "-m", "lmdb", "verify", "-e", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert (verify.returncode, verify.stdout.strip()) == (0, "verify: OK"), verify.stderr
