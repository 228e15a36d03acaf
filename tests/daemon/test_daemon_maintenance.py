"""serve --compact-on-start compacts the store before it opens it, and the daemon's store
can be backed up while it serves."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from daemon_process import Daemon
from handoffs.store import Store


def test_compact_on_start_shrinks_the_store_and_serves_what_it_held(
    start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    first = start_daemon()
    run_id = first.submit("note", {"topic": "t"})["run_id"]
    first.wait_state(run_id, "completed")
    assert first.stop() == 0
    second = start_daemon("--compact-on-start")
    events = [json.loads(line) for line in second.log().splitlines() if line.startswith("{")]
    (compacted,) = [e for e in events if e.get("event") == "compacted"]
    assert compacted["after"] <= compacted["before"]
    assert second.run(run_id)["state"] == "completed"
    backup = subprocess.run(
        [sys.executable, "-m", "handoffs", "backup", "--data", tmp_path / "kb", tmp_path / "bk"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert backup.returncode == 0, backup.stderr
    assert second.stop() == 0
    with Store.open(tmp_path / "bk") as store:
        assert store.get_run(run_id) is not None
        assert store.verify() == []
