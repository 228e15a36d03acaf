"""deploy/Dockerfile, read structurally (CI has no docker daemon): a slim base, a non-root
user, the data directory a volume, SIGTERM to the daemon as PID 1, and a HEALTHCHECK whose
command is run here against a real daemon."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from promql import DEPLOY

from handoffs.cli import main

ROOT = DEPLOY.parent
DOCKERFILE = DEPLOY / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends in a continuation"
    parsed = []
    for entry in logical:
        word, _, rest = entry.strip().partition(" ")
        parsed.append((word.upper(), rest.strip()))
    return parsed


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def one(word: str) -> str:
    found = [rest for w, rest in final_stage() if w == word]
    assert len(found) == 1, f"{word}: {found}"
    return found[0]


def exec_form(word: str) -> list[str]:
    args = json.loads(one(word))
    assert isinstance(args, list) and all(isinstance(a, str) for a in args), word
    return args


def serve_args() -> dict[str, str]:
    args = exec_form("CMD")
    return dict(zip(args[::2], args[1::2], strict=True))


def test_a_slim_python_base() -> None:
    bases = [rest for word, rest in instructions() if word == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.1[1-9]-slim( AS \w+)?", b) for b in bases)


def test_the_daemon_runs_as_a_user_made_in_the_image_not_root() -> None:
    user = one("USER")
    assert user not in ("root", "0") and not user.startswith(("root:", "0:"))
    run = " ".join(rest for word, rest in final_stage() if word == "RUN")
    assert re.search(rf"useradd .*--uid (\d+) .*{user}\b", run)
    words = [word for word, _ in final_stage()]
    assert words.index("USER") < words.index("ENTRYPOINT")


def test_the_data_directory_is_a_volume_owned_by_that_user() -> None:
    data = serve_args()["--data"]
    assert json.loads(one("VOLUME")) == [data]
    run = " ".join(rest for word, rest in final_stage() if word == "RUN")
    assert f"mkdir -p {data}" in run and "chown -R handoffs:handoffs" in run


def test_sigterm_reaches_the_daemon_as_pid_1() -> None:
    assert one("STOPSIGNAL") == "SIGTERM"
    # The exec form: no shell in between that would swallow the signal.
    assert exec_form("ENTRYPOINT") == ["handoffs", "serve"]


def test_the_command_line_is_one_serve_accepts() -> None:
    args = serve_args()
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    for flag in args:
        assert re.search(rf"^\s+{flag}\b", help_text, re.MULTILINE), flag
    # Binding beyond loopback needs the token (the daemon refuses to start otherwise).
    assert args["--host"] == "0.0.0.0" and "--token-file" in args
    assert one("EXPOSE") == args["--port"]


def test_the_build_stage_copies_every_package_folder() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = set(project["tool"]["setuptools"]["package-dir"].values())
    sources = [rest for word, rest in instructions() if word == "COPY" and "--from" not in rest]
    copied = {shlex.split(rest)[0] for rest in sources}
    assert folders <= copied
    assert {"pyproject.toml", "README.md"} <= set(
        shlex.split(next(rest for word, rest in instructions() if word == "COPY"))[:-1]
    )
    extras = project["project"]["optional-dependencies"]
    assert "otel" in extras  # the image's EXTRAS=otel


def healthcheck_command(port: int) -> list[str]:
    """The HEALTHCHECK's exec-form command, pointed at ``port``."""
    spec = one("HEALTHCHECK")
    assert re.search(r"--interval=\d+s", spec) and re.search(r"--start-period=\d+s", spec)
    command = json.loads(spec[spec.index("CMD ") + 4 :])
    assert command[:2] == ["python", "-c"]
    assert "/healthz" in command[2] and f":{serve_args()['--port']}/" in command[2]
    return [sys.executable, "-c", command[2].replace(":8765/", f":{port}/")]


class _Health(BaseHTTPRequestHandler):
    status = "degraded"

    def do_GET(self) -> None:
        body = json.dumps({"status": self.status, "reasons": ["role writer is down"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def degraded() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_healthcheck_fails_on_a_degraded_daemon(degraded: int) -> None:
    result = subprocess.run(healthcheck_command(degraded), capture_output=True, check=False)
    assert result.returncode == 1


def test_the_healthcheck_fails_when_nothing_listens(degraded: int) -> None:
    result = subprocess.run(healthcheck_command(1), capture_output=True, check=False)
    assert result.returncode == 1
    assert b"Connection refused" in result.stderr


def test_the_healthcheck_passes_on_a_real_daemon(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "daemon"))
    from daemon_process import Daemon

    daemon = Daemon(tmp_path / "kb", tmp_path / "daemon.log", [])
    try:
        daemon.wait_ready()
        result = subprocess.run(healthcheck_command(daemon.port), capture_output=True, check=False)
        assert result.returncode == 0, result.stderr
    finally:
        daemon.close()
