"""``handoffs demo``: it tells what the runtime did (handoff chains, a trigger, an escalation
and its resolution), its table adds up, its store stays where it says, and the commands it
prints work as printed."""

from __future__ import annotations

import os
import pty
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from handoffs.store import Store

from handoffs.cli import main
from handoffs.demo import MARKER

DEMO = [sys.executable, "-m", "handoffs", "demo"]


def demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The demo as a user runs it: a fresh process, stdout and stderr not terminals."""
    return subprocess.run(
        [*DEMO, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def table(output: str) -> dict[str, dict[str, str]]:
    """The summary table's rows by pipeline, each a dict by column."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("pipeline "))
    header = lines[start].split()
    header[-2:] = ["wall s"]  # the last column's name has a space
    rows: dict[str, dict[str, str]] = {}
    for line in lines[start + 2 :]:
        if not line[:1].isalpha():  # the line under the table starts with the run count
            break
        cells = line.split()
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_demo_tells_each_pattern_and_its_commands_work_as_printed(tmp_path: Path) -> None:
    result = demo(tmp_path, "--runs", "15")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # not a terminal: no progress lines
    out = result.stdout
    # One run of each pattern, as its handoff chain: outcomes, quality, feedback, next action.
    assert out.startswith("content: Research a topic, write an article from the findings")
    assert "  run run-" in out and ' input {"topic":"solar panels"}' in out
    assert "    review    r0    rejected    title FAILED, confidence 0.83\n" in out
    assert (
        "              reviewer: title does not contain the topic keyword 'solar panels' -> "
        "add 'solar pan..."
    ) in out
    assert "              next: revise write\n" in out
    assert "  => completed (8 handoffs, 2 revisions)\n" in out
    assert "\ncoding: Make a change to the bundled project" in out
    assert "               gate: tests are failing; this stage requires passing tests" in out
    # The triggered run, and what triggered it.
    assert "  => its SupportResolution has doc_gap set: the knowledge_base trigger started" in out
    assert "\nknowledge_base: Turn a resolution that revealed a documentation gap" in out
    assert "(triggered by art-" in out
    # The escalation, resolved through the Runtime API, and the run going on to its end.
    assert "\nAn escalation and its resolution: content run run-" in out
    assert '  input {"topic":"electric bikes"}\n' in out
    assert "  escalated esc-" in out and "(revisions_exhausted): research failed its" in out
    assert '  resolved: runtime.resolve(its id, "approve", "one good source is enough here")' in out
    assert "  => completed (8 handoffs, 3 revisions)\n" in out

    # The table adds up: 15 submitted + the triggered runs, every run in one end state.
    rows = table(out)
    assert set(rows) == {"coding", "content", "knowledge_base", "support", "total"}
    total = {k: int(v) for k, v in rows["total"].items() if k not in ("pipeline", "wall s")}
    triggered = int(rows["knowledge_base"]["triggered"])
    assert triggered == int(rows["knowledge_base"]["runs"]) >= 1
    assert total["runs"] == 15 + triggered == total["triggered"] + 15
    ends = ("completed", "escalated", "failed", "cancelled")
    assert total["runs"] == sum(total[end] for end in ends)
    assert total["failed"] == total["cancelled"] == 0
    assert f"{total['runs']} runs: 15 submitted + {triggered} started by a trigger " in out

    # The store is where it says, and the printed commands work as printed.
    lines = out.splitlines()
    assert "The store stays in handoffs-demo. Look around with the daemon and its client:" in lines
    assert (tmp_path / "handoffs-demo" / MARKER).is_file()
    serve = shlex.split(next(line for line in lines if line.startswith("  handoffs serve ")))
    show = shlex.split(next(line for line in lines if line.startswith("  handoffs show ")))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFFS_")}
    daemon = subprocess.Popen(
        [sys.executable, "-m", *serve, "--port", str(port)],
        cwd=tmp_path,
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
                assert time.monotonic() < deadline, "the printed serve command never got ready"
            time.sleep(0.05)
        shown = subprocess.run(
            [sys.executable, "-m", *show[:3], "--url", url],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert shown.returncode == 0, shown.stderr
        assert f"run {show[2]}  pipeline content  state completed" in shown.stdout
    finally:
        daemon.terminate()
        daemon.wait(30)
        if daemon.stderr:
            daemon.stderr.close()


def test_a_rerun_starts_fresh_and_keep_adds_to_the_store(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "store"
    first = runner.invoke(main, ["demo", "--runs", "2", "--data", str(data)])
    assert first.exit_code == 0, first.output
    assert not first.output.startswith(("removing", "reusing"))
    again = runner.invoke(main, ["demo", "--runs", "2", "--data", str(data)])
    assert again.exit_code == 0, again.output
    assert again.output.startswith(
        f"removing the previous demo store at {data} (--keep reuses it)\n"
    )
    assert table(again.output)["total"]["runs"] == "2"
    kept = runner.invoke(main, ["demo", "--runs", "1", "--data", str(data), "--keep"])
    assert kept.exit_code == 0, kept.output
    assert kept.output.startswith(f"reusing the demo store at {data} (--keep)\n")
    assert table(kept.output)["total"]["runs"] == "1"  # this demo's runs only
    with Store.open(data) as store:
        assert sum(store.count_runs().values()) == 3


def test_the_demo_leaves_a_directory_it_did_not_make_alone(tmp_path: Path) -> None:
    runner = CliRunner()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = runner.invoke(main, ["demo", "--runs", "1", "--data", str(mine)])
    assert result.exit_code == 1
    assert result.output == (
        f"error: {mine} is not a demo store (it has no {MARKER} file): "
        "pass another --data, or empty it first\n"
    )
    assert (mine / "notes.txt").read_text() == "keep me"
    afile = tmp_path / "afile"
    afile.write_text("")
    result = runner.invoke(main, ["demo", "--runs", "1", "--data", str(afile)])
    assert result.exit_code != 0 and "afile" in result.output


def test_the_demo_does_not_remove_a_store_another_process_has_open(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "store"
    assert runner.invoke(main, ["demo", "--runs", "1", "--data", str(data)]).exit_code == 0
    with Store.open(data):
        result = runner.invoke(main, ["demo", "--runs", "1", "--data", str(data)])
    assert result.exit_code == 1
    assert result.output == (
        f"error: store {data} is locked by process {os.getpid()}; only one process may open it\n"
    )
    assert (data / MARKER).is_file() and (data / "data.mdb").is_file()


@pytest.mark.skipif(not hasattr(pty, "openpty"), reason="needs a pseudo-terminal")
def test_on_a_terminal_a_progress_bar_with_an_eta(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [*DEMO, "--runs", "6"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=follower,
            stdin=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
        os.close(follower)
        follower = -1
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end is closed: all is read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert proc.returncode == 0
    bar = b"".join(chunks).decode()
    assert "runs settled" in bar and "6/6" in bar
    assert b"runs settled" not in proc.stdout  # the report stays clean
