"""The daemon under test: ``python -m handoffs serve`` as a real subprocess on a free loopback
port, driven over HTTP. Readiness is polled on /healthz with a deadline, never slept for.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "daemon.toml"
START_SECONDS = 30.0


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def env_with_agents() -> dict[str, str]:
    """The environment a daemon (or CLI) subprocess needs to import the fake agents."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
    for name in ("HANDOFFS_URL", "HANDOFFS_TOKEN", "HANDOFFS_TOKEN_FILE"):
        env.pop(name, None)
    return env


def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {check}")
        time.sleep(interval)


class Daemon:
    """One ``handoffs serve`` process and an HTTP client for it."""

    def __init__(self, data: Path, log: Path, args: list[str], token: str | None = None):
        self.data = data
        self.log_path = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "handoffs",
            "serve",
            "--config",
            str(CONFIG),
            "--data",
            str(data),
            "--port",
            str(self.port),
            *args,
        ]
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env_with_agents()
        )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=10.0, trust_env=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> Daemon:
        """Poll /healthz until it answers; fail with the daemon's log if it never does."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.http.get("/healthz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"daemon not ready within {START_SECONDS}s:\n{self.log()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``sig`` and wait for the exit status."""
        if self.alive():
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"daemon did not exit within {timeout}s after {sig}:\n{self.log()}")

    def close(self) -> None:
        self.http.close()
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()

    # ----------------------------------------------------------------- helpers

    def submit(self, pipeline: str, input: dict[str, Any], **headers: str) -> dict[str, Any]:
        response = self.http.post(
            "/v1/runs", json={"pipeline": pipeline, "input": input}, headers=headers
        )
        assert response.status_code in (200, 201), response.text
        body: dict[str, Any] = response.json()
        return body

    def run(self, run_id: str, **params: Any) -> dict[str, Any]:
        response = self.http.get(f"/v1/runs/{run_id}", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_state(self, run_id: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
        """Poll the run until it is in ``state``."""

        def reached() -> dict[str, Any] | None:
            run = self.run(run_id)
            return run if run["state"] == state else None

        found: dict[str, Any] = wait_for(reached, timeout)
        return found
