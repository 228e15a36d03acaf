"""A ``handoffs serve`` process for the console tests, on a free loopback port, with the
console tests' config and agents (``console.toml``, ``console_agents.py``). Readiness is
polled on /healthz with a deadline, never slept for.
"""

from __future__ import annotations

import os
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
CONFIG = HERE / "console.toml"
#: A config with fan-out (branches, a map branch) and its agents (``fanout_agents.py``).
FANOUT_CONFIG = HERE / "fanout.toml"
START_SECONDS = 30.0
TOKEN = "console-test-token-0123456789"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {check}")
        time.sleep(interval)


class ConsoleDaemon:
    """One daemon and an API client for it (with the token when it has one)."""

    def __init__(self, root: Path, *, token: str | None = None, config: Path = CONFIG) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        args = []
        if token is not None:
            token_file = root / "token"
            token_file.write_text(token)
            token_file.chmod(0o600)
            args = ["--token-file", str(token_file)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
        self.log_path = root / "daemon.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "handoffs",
                "serve",
                "--config",
                str(config),
                "--data",
                str(root / "kb"),
                "--port",
                str(self.port),
                *args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=10.0, trust_env=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> ConsoleDaemon:
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

    def close(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()

    # ----------------------------------------------------------------- helpers

    def submit(self, pipeline: str, input: dict[str, Any]) -> str:
        response = self.http.post("/v1/runs", json={"pipeline": pipeline, "input": input})
        assert response.status_code == 201, response.text
        run_id: str = response.json()["run_id"]
        return run_id

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/runs/{run_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_state(self, run_id: str, state: str) -> dict[str, Any]:
        """Poll the run until it is in ``state``."""

        def reached() -> dict[str, Any] | None:
            run = self.run(run_id)
            return run if run["state"] == state else None

        found: dict[str, Any] = wait_for(reached)
        return found
