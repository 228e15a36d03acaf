"""Agents next to the config import: ``check`` and ``serve`` put the config file's directory
(or ``--app-dir``) first on ``sys.path``, from any working directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from handoffs.cli import main

CONFIG = """
[roles.writer]
agent = "beside_agents:write"

[pipelines.note]
start = "write"

[pipelines.note.stages.write]
role = "writer"
output = "Draft"
instruction = "Write a note about {topic}."
"""

AGENTS = """
from handoffs.messages import Draft, Task


def write(task: Task) -> Draft:
    return Draft(title=str(task.input["topic"]), body="a note")
"""


def project(root: Path) -> Path:
    """A config with its agent module beside it, as a user lays a project out."""
    app = root / "app"
    app.mkdir()
    (app / "pipelines.toml").write_text(CONFIG)
    (app / "beside_agents.py").write_text(AGENTS)
    (root / "elsewhere").mkdir()
    return app / "pipelines.toml"


def handoffs(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-m", "handoffs", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_check_imports_agents_beside_the_config_from_any_directory(tmp_path: Path) -> None:
    config = project(tmp_path)
    result = handoffs(tmp_path / "elsewhere", "check", str(config))
    assert result.returncode == 0, result.stderr
    # --app-dir points somewhere else: the module beside the config is not found there.
    other = handoffs(
        tmp_path / "elsewhere", "check", str(config), "--app-dir", str(tmp_path / "elsewhere")
    )
    assert other.returncode == 1
    assert "No module named 'beside_agents'" in other.stderr + other.stdout


def test_app_dir_names_the_directory_to_import_from(tmp_path: Path) -> None:
    config = project(tmp_path)
    moved = tmp_path / "lib"
    (tmp_path / "app" / "beside_agents.py").rename(tmp_path / "elsewhere" / "beside_agents.py")
    moved.mkdir()
    assert handoffs(tmp_path, "check", str(config)).returncode == 1
    result = handoffs(moved, "check", str(config), "--app-dir", "../elsewhere")
    assert result.returncode == 0, result.stderr


def test_check_in_process_leaves_sys_path_as_it_was(tmp_path: Path) -> None:
    config = project(tmp_path)
    before = list(sys.path)
    result = CliRunner().invoke(main, ["check", str(config)])
    assert result.exit_code == 0, result.output
    assert sys.path == before
    sys.modules.pop("beside_agents", None)


def test_serve_imports_agents_beside_the_config(tmp_path: Path) -> None:
    config = project(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    command = [sys.executable, "-m", "handoffs", "serve", "--config", str(config)]
    daemon = subprocess.Popen(
        [*command, "--data", str(tmp_path / "kb"), "--port", str(port)],
        cwd=tmp_path / "elsewhere",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert daemon.poll() is None, daemon.stderr.read() if daemon.stderr else ""
            try:
                if httpx.get(f"{url}/healthz", trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve never got ready"
            time.sleep(0.05)
        body = {"pipeline": "note", "input": {"topic": "beside"}}
        created = httpx.post(f"{url}/v1/runs", json=body, trust_env=False)
        assert created.status_code == 201, created.text
    finally:
        daemon.terminate()
        daemon.wait(30)
        if daemon.stderr:
            daemon.stderr.close()


def test_serve_says_where_it_looked_for_a_missing_agent_module(tmp_path: Path) -> None:
    config = project(tmp_path)
    (tmp_path / "app" / "beside_agents.py").unlink()
    result = handoffs(
        tmp_path / "elsewhere", "serve", "--config", str(config), "--data", str(tmp_path / "kb")
    )
    assert result.returncode == 1
    app = (tmp_path / "app").resolve()
    assert result.stderr.startswith("error: ")
    assert "No module named 'beside_agents'" in result.stderr
    assert result.stderr.endswith(
        f"(agents import from {app} and the installed packages; "
        "--app-dir DIR imports them from DIR instead)\n"
    )
