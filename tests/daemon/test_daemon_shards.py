"""``handoffs serve --shards 2``: the HTTP API over two shard processes, and kill -9 of one
shard (the other keeps serving, nothing acknowledged is lost) and of the daemon itself (its
shards exit with it; a new daemon finds every run)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from daemon_process import Daemon, wait_for


def _shard_pids(daemon: Daemon) -> dict[int, int]:
    """The latest pid of each shard, from the daemon's ``shard.started`` log events."""
    pids: dict[int, int] = {}
    for line in daemon.log().splitlines():
        if '"shard.started"' in line:
            record = json.loads(line)
            pids[record["shard"]] = record["pid"]
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0


def _all_runs(daemon: Daemon, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = daemon.http.get("/v1/runs", params=params).json()
        seen += [r["run_id"] for r in page["items"]]
        cursor = page["cursor"]
        if cursor is None:
            return seen


def test_a_sharded_daemon_serves_the_api_over_its_shards(
    start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = start_daemon("--shards", "2")
    assert sorted(_shard_pids(daemon)) == [0, 1]
    assert (tmp_path / "kb" / "shard-0" / "data.mdb").is_file()
    assert (tmp_path / "kb" / "shard-1" / "data.mdb").is_file()
    ids = [daemon.submit("note", {"topic": f"t{i}"})["run_id"] for i in range(12)]
    keyed = daemon.submit("note", {"topic": "k"}, **{"Idempotency-Key": "same-key"})
    again = daemon.http.post(
        "/v1/runs",
        json={"pipeline": "note", "input": {"topic": "k"}},
        headers={"Idempotency-Key": "same-key"},
    )
    assert again.status_code == 200 and again.json()["run_id"] == keyed["run_id"]
    ids.append(keyed["run_id"])
    assert {run_id[-8:-6] for run_id in ids} == {"00", "01"}
    for run_id in ids:
        daemon.wait_state(run_id, "completed")
    assert _all_runs(daemon, limit=5) == sorted(ids)

    events = daemon.http.get("/v1/events", params={"after": "0", "limit": 1000}).json()
    position = events["position"]
    assert len(position.split(".")) == 2 and position == events["end"]
    assert sum(e["type"] == "run.completed" for e in events["events"]) == len(ids)
    rest = daemon.http.get("/v1/events", params={"after": position}).json()
    assert rest["events"] == [] and rest["position"] == position
    wrong = daemon.http.get("/v1/events", params={"after": "5"})
    assert wrong.status_code == 400
    assert wrong.json()["error"] == {
        "code": "invalid_parameter",
        "message": "after: a position of this daemon has 2 parts (one seq per shard), not 1",
        "field": "after",
    }

    metrics = daemon.http.get("/metrics").text
    assert 'handoffs_shard_up{shard="0"} 1.0' in metrics
    assert 'handoffs_shard_up{shard="1"} 1.0' in metrics
    counted = [line for line in metrics.splitlines() if line.startswith("handoffs_total{")]
    assert {'shard="0"' in line for line in counted} == {True, False}
    promtool = shutil.which("promtool")
    if promtool is not None:  # .ci/run installs it
        checked = subprocess.run(
            [promtool, "check", "metrics"],
            input=metrics,
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    assert daemon.http.get("/healthz").json() == {"status": "ok", "reasons": []}
    for page in ("/console/runs", "/console/inbox", "/console/health", f"/console/runs/{ids[0]}"):
        response = daemon.http.get(page)
        assert response.status_code == 200, (page, response.text)
    assert daemon.http.get("/console/runs").text.count("/console/runs/run-") >= len(ids)
    assert daemon.stop() == 0
    assert not any(_alive(pid) for pid in _shard_pids(daemon).values())


def test_kill_9_of_a_shard_loses_nothing_and_the_other_shard_keeps_serving(
    start_daemon: Callable[..., Daemon],
) -> None:
    daemon = start_daemon("--shards", "2")
    ids = [daemon.submit("note", {"topic": f"t{i}"})["run_id"] for i in range(20)]
    on_one = [i for i in ids if i[-8:-6] == "01"]
    on_zero = [i for i in ids if i[-8:-6] == "00"]
    victim = _shard_pids(daemon)[1]
    os.kill(victim, signal.SIGKILL)
    # Until it is back, a request about its runs answers 503 (never hangs, never 500); the
    # other shard's answer as before.
    statuses: set[int] = set()

    def back() -> bool:
        statuses.add(daemon.http.get(f"/v1/runs/{on_one[0]}").status_code)
        assert daemon.http.get(f"/v1/runs/{on_zero[0]}").status_code == 200
        return _shard_pids(daemon)[1] != victim and '"shard.back"' in daemon.log()

    wait_for(back, timeout=60)
    assert statuses <= {200, 503}
    for run_id in ids:
        daemon.wait_state(run_id, "completed", timeout=30)
    assert sorted(_all_runs(daemon, limit=100)) == sorted(ids)
    assert wait_for(lambda: daemon.http.get("/healthz").json()["status"] == "ok")
    metrics = daemon.http.get("/metrics").text
    assert 'handoffs_shard_restarts_total{shard="1"} 1.0' in metrics


def test_kill_9_of_the_daemon_takes_its_shards_down_and_a_new_one_finds_every_run(
    start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    first = start_daemon("--shards", "2")
    ids = [first.submit("note", {"topic": f"t{i}"})["run_id"] for i in range(10)]
    shards = _shard_pids(first)
    first.stop(signal.SIGKILL)
    # A shard whose daemon died sees its pipe close and exits: nothing is left behind.
    wait_for(lambda: not any(_alive(pid) for pid in shards.values()), timeout=30)
    second = start_daemon("--shards", "2", data=tmp_path / "kb")
    for run_id in ids:
        second.wait_state(run_id, "completed", timeout=30)
    assert sorted(_all_runs(second, limit=3)) == sorted(ids)
    assert second.stop() == 0


def test_a_sharded_data_dir_is_refused_without_shards_and_with_too_few(
    start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    data = tmp_path / "kb"
    (data / "shard-0").mkdir(parents=True)
    (data / "shard-2").mkdir()
    plain = start_daemon(data=data, ready=False)
    assert plain.proc.wait(30) == 1
    assert f"error: {data} holds orchestrator shards (shard-0, ...): serve it with --shards N" in (
        plain.log()
    )
    narrow = start_daemon("--shards", "2", data=data, ready=False)
    assert narrow.proc.wait(30) == 1
    assert (
        f"error: {data} holds shards up to shard-2: their runs live there, so serve it with "
        "--shards 3 or more"
    ) in narrow.log()
