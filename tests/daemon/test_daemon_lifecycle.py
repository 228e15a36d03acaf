"""The daemon process: draining on SIGTERM, one daemon per data directory, the token."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon_process import CONFIG, Daemon, env_with_agents, wait_for
from handoffs.store import Store

TOKEN = "s3cret-token-for-the-daemon-tests"


def inflight(daemon: Daemon, role: str) -> float:
    for line in daemon.http.get("/metrics").text.splitlines():
        if line.startswith(f'handoffs_tasks_inflight{{role="{role}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def serve(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run ``handoffs serve`` expecting it to exit by itself."""
    return subprocess.run(
        [sys.executable, "-m", "handoffs", "serve", "--config", str(CONFIG), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env_with_agents(),
        check=False,
    )


def test_sigterm_drains_work_in_flight_and_exits_0(start_daemon: Any, tmp_path: Path) -> None:
    daemon: Daemon = start_daemon("--shutdown-timeout", "10")
    run_id = daemon.submit("note", {"topic": "slow", "sleep": 1.0})["run_id"]
    wait_for(lambda: inflight(daemon, "writer") == 1)
    # A tail waiting on the journal must not hold the shutdown up.
    tail: list[httpx.Response] = []
    waiter = threading.Thread(
        target=lambda: tail.append(
            daemon.http.get("/v1/events", params={"after": 10**9, "wait": 25})
        )
    )
    waiter.start()
    time.sleep(0.1)

    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 8
    waiter.join(5)
    assert tail and tail[0].status_code == 200
    log = daemon.log()
    assert '"event":"stopping"' in log and '"event":"stopped"' in log
    with pytest.raises(httpx.TransportError):
        daemon.http.get("/healthz")
    # The task in flight finished and its result was committed before the store closed.
    with Store.open(tmp_path / "kb") as store:
        run = store.get_run(run_id)
        assert run is not None and run.state == "completed"
        assert store.verify() == []


def test_sigint_stops_cleanly_too(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon()
    assert daemon.stop(signal.SIGINT) == 0


def test_a_second_daemon_on_the_same_data_fails_at_once(start_daemon: Any, tmp_path: Path) -> None:
    first: Daemon = start_daemon()
    started = time.monotonic()
    second = serve("--data", str(tmp_path / "kb"), "--port", "0")
    assert second.returncode == 1
    assert time.monotonic() - started < 15
    message = second.stderr.strip().splitlines()[-1]
    assert message.startswith("error: store ")
    assert f"is locked by process {first.pid}" in message
    assert "another `handoffs serve`" in message
    assert first.http.get("/healthz").status_code == 200


def test_binding_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    result = serve("--data", str(tmp_path / "kb"), "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 1
    assert "pass --token-file" in result.stderr
    assert not (tmp_path / "kb").exists(), "it refused before opening anything"


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o644)
    result = serve("--data", str(tmp_path / "kb"), "--token-file", str(token_file))
    assert result.returncode == 1
    assert "chmod 600" in result.stderr
    assert TOKEN not in result.stderr


@pytest.fixture
def bare(request: pytest.FixtureRequest) -> Any:
    """An HTTP client without the token, for the daemon the test starts."""
    clients: list[httpx.Client] = []

    def make(url: str) -> httpx.Client:
        clients.append(httpx.Client(base_url=url, trust_env=False, timeout=10))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def test_token_is_required_on_every_route_but_healthz(
    start_daemon: Any, tmp_path: Path, bare: Any
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    daemon: Daemon = start_daemon(
        "--token-file", str(token_file), "--log-level", "debug", token=TOKEN
    )
    bare = bare(daemon.url)
    pid = daemon.pid
    assert bare.get("/healthz").status_code == 200
    for method, path in (
        ("GET", "/v1/runs"),
        ("GET", "/metrics"),
        ("POST", "/v1/runs"),
        ("GET", "/openapi.json"),
        ("GET", "/nowhere"),
    ):
        response = bare.request(method, path)
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
    wrong = {"Authorization": "Bearer " + "x" * len(TOKEN)}
    assert bare.get("/v1/runs", headers=wrong).status_code == 401
    assert bare.get("/v1/runs", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    # Only from the header: never a query parameter or a cookie.
    assert bare.get("/v1/runs", params={"token": TOKEN}).status_code == 401
    assert bare.get("/v1/runs", headers={"Cookie": f"token={TOKEN}"}).status_code == 401
    assert daemon.alive() and daemon.pid == pid

    run_id = daemon.submit("note", {"topic": "with a token"})["run_id"]
    daemon.wait_state(run_id, "completed")
    assert daemon.http.get("/metrics").status_code == 200

    # The CLI client takes the token from a file or the environment.
    env = {**env_with_agents(), "HANDOFFS_URL": daemon.url}
    cli = [sys.executable, "-m", "handoffs", "runs", "--json"]
    denied = subprocess.run(cli, capture_output=True, text=True, env=env, check=False)
    assert denied.returncode == 1 and "bearer token" in denied.stderr
    by_file = subprocess.run(
        [*cli, "--token-file", str(token_file)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert by_file.returncode == 0 and run_id in by_file.stdout
    by_env = subprocess.run(
        cli, capture_output=True, text=True, check=False, env={**env, "HANDOFFS_TOKEN": TOKEN}
    )
    assert by_env.returncode == 0 and run_id in by_env.stdout

    assert daemon.stop() == 0
    log = daemon.log()
    assert '"event":"request"' in log  # debug level: every request is logged...
    assert TOKEN not in log  # ...and the token never is


def test_logs_are_one_json_object_per_line(start_daemon: Any) -> None:
    import json

    daemon: Daemon = start_daemon()
    daemon.http.get("/v1/runs")
    daemon.http.post("/v1/runs", content=b"{", headers={"Content-Type": "application/json"})
    assert daemon.stop() == 0
    records = [json.loads(line) for line in daemon.log().splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    events = [r.get("event") for r in records]
    assert events.index("listening") < events.index("stopping") < events.index("stopped")
    requests = [r for r in records if r.get("event") == "request"]
    assert {(r["method"], r["path"], r["status"]) for r in requests} >= {
        ("GET", "/v1/runs", 200),
        ("POST", "/v1/runs", 400),
    }
    assert os.getpid() != daemon.pid
