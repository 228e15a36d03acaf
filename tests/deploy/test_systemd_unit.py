"""deploy/systemd/handoffs.service: restarts on failure, hardened, writes only its data
directory, stops by SIGTERM with room for the drain; ``systemd-analyze verify`` passes."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from promql import DEPLOY

from handoffs.cli import main

UNIT = DEPLOY / "systemd" / "handoffs.service"


def settings() -> dict[str, list[str]]:
    """``Key -> values`` over the unit's sections (a key may repeat), continuations joined."""
    found: dict[str, list[str]] = {}
    text = re.sub(r"\\\n\s*", " ", UNIT.read_text())
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key, []).append(value)
    return found


def setting(key: str) -> str:
    (value,) = settings()[key]
    return value


def serve_args() -> dict[str, str]:
    argv = shlex.split(setting("ExecStart"))
    assert argv[0].endswith("/handoffs") and argv[1] == "serve"
    return dict(zip(argv[2::2], argv[3::2], strict=True))


def test_it_restarts_on_failure_and_starts_simply() -> None:
    assert setting("Type") in ("simple", "exec")  # the daemon has no sd_notify
    assert setting("Restart") == "on-failure"
    assert setting("WantedBy") == "multi-user.target"


def test_the_data_directory_is_the_only_writable_path() -> None:
    data = serve_args()["--data"]
    assert setting("ProtectSystem") == "strict"
    assert setting("ReadWritePaths") == data
    assert data == "/var/lib/" + setting("StateDirectory")
    assert setting("StateDirectoryMode") == "0700"


def test_it_is_hardened() -> None:
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "yes",
        "SystemCallArchitectures": "native",
    }.items():
        assert setting(key) == value, key
    assert setting("User") == "handoffs"


def test_sigterm_stops_it_with_time_to_drain() -> None:
    assert setting("KillSignal") == "SIGTERM"
    drain = float(serve_args()["--shutdown-timeout"])
    assert float(setting("TimeoutStopSec")) >= drain + 10


def test_the_command_line_is_one_serve_accepts() -> None:
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    for flag in serve_args():
        assert re.search(rf"^\s+{flag}\b", help_text, re.MULTILINE), flag
    assert serve_args()["--token-file"] == "${CREDENTIALS_DIRECTORY}/token"
    assert setting("LoadCredential").startswith("token:")


def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    handoffs = shutil.which("handoffs")
    assert handoffs is not None
    # verify checks that ExecStart's program exists: point it at this environment's.
    unit = tmp_path / "handoffs.service"
    unit.write_text(UNIT.read_text().replace("/opt/handoffs/bin/handoffs", handoffs))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
