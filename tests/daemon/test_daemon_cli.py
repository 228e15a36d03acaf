"""The CLI client against a running daemon: tables for people, --json for scripts."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from daemon_process import Daemon, env_with_agents, free_port

from handoffs.cli import main


@pytest.fixture
def cli(daemon: Daemon) -> Any:
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(
            main, [*args, "--url", daemon.url], input=input, catch_exceptions=False
        )

    return invoke


def test_submit_show_and_list(cli: Any, daemon: Daemon) -> None:
    result = cli("submit", "note", "--input", '{"topic": "cli"}', "--json", "--wait", "10")
    assert result.exit_code == 0, result.output
    submitted = json.loads(result.output)
    assert submitted["state"] == "completed" and submitted["created"] is True
    run_id = submitted["run_id"]

    shown = cli("show", run_id)
    assert shown.exit_code == 0, shown.output
    assert f"run {run_id}  pipeline note  state completed" in shown.output
    assert "write  r0 a1  accepted    Draft" in shown.output
    assert "quality: confidence 0.90, completeness 1.00" in shown.output
    assert '"title": "cli"' not in shown.output
    assert '"title": "cli"' in cli("show", run_id, "--payload").output
    assert json.loads(cli("show", run_id, "--json").output)["handoffs"][0]["kind"] == "Draft"

    table = cli("runs", "--pipeline", "note", "--limit", "1000")
    assert table.exit_code == 0
    assert table.output.splitlines()[0].split() == [
        "run",
        "pipeline",
        "state",
        "stage",
        "handoffs",
        "revisions",
        "updated",
        "reason",
    ]
    assert run_id in table.output
    listed = json.loads(cli("runs", "--json", "--state", "completed", "--limit", "1000").output)
    assert run_id in [r["run_id"] for r in listed["items"]]


def test_submit_input_from_a_file_and_idempotency(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_text('{"topic": "from a file"}')
    key = f"cli-{uuid.uuid4().hex}"
    first = cli("submit", "note", "--input", f"@{path}", "--idempotency-key", key)
    again = cli("submit", "note", "--input", f"@{path}", "--idempotency-key", key)
    assert first.exit_code == again.exit_code == 0
    assert first.output.split()[0] == again.output.split()[0]
    assert "(existing run)" in again.output
    stdin = cli("submit", "note", "--input", "@-", input='{"topic": "stdin"}')
    assert stdin.exit_code == 0 and stdin.output.startswith("run-")


def test_bad_cli_arguments_are_errors_like_any_other(cli: Any, tmp_path: Path) -> None:
    # The command's own argument errors: one `error: ...` line and exit 1, like the
    # daemon's refusals; no usage text, no traceback.
    def refused(*args: str) -> str:
        result = cli(*args)
        assert result.exit_code == 1, result.output
        assert "Usage:" not in result.output and "Traceback" not in result.output
        output: str = result.output
        return output

    assert refused("submit", "note", "--input", "[1, 2]") == (
        "error: --input: not a JSON object: Expected `object`, got `array`\n"
    )
    assert refused("submit", "note", "--input", '{"a":') == (
        "error: --input: not a JSON object: Input data was truncated\n"
    )
    missing = tmp_path / "missing.json"
    assert refused("submit", "note", "--input", f"@{missing}") == (
        f"error: --input: cannot read {missing}: No such file or directory\n"
    )
    assert refused("submit", "note", "--input", f"@{tmp_path}") == (
        f"error: --input: cannot read {tmp_path}: Is a directory\n"
    )
    assert refused("submit", "nope").startswith("error: unknown pipeline 'nope'")
    assert refused("resolve", "esc-" + "0" * 24) == (
        "error: give exactly one of --approve, --revise TEXT, --cancel\n"
    )
    assert refused("resolve", "esc-" + "0" * 24, "--approve", "--cancel") == (
        "error: give exactly one of --approve, --revise TEXT, --cancel\n"
    )
    assert refused("resolve", "esc-" + "0" * 24, "--revise", "x", "--feedback", "y") == (
        "error: --revise takes its feedback as its own value\n"
    )


def test_escalations_show_and_resolve(cli: Any, daemon: Daemon) -> None:
    revise = daemon.submit("reviewed", {"topic": "cli loop", "approve": False})["run_id"]
    cancel = daemon.submit("reviewed", {"topic": "cli cancel", "approve": False})["run_id"]
    first = daemon.wait_state(revise, "escalated")["escalation_id"]
    second = daemon.wait_state(cancel, "escalated")["escalation_id"]

    table = cli("escalations")
    assert table.exit_code == 0
    assert first in table.output and "revisions_exhausted" in table.output

    shown = cli("show", revise).output
    assert f"escalation {first} (revisions_exhausted, open)" in shown
    assert (
        "feedback [reviewer/major] clarity: the note says nothing specific -> name one number"
    ) in shown
    assert "revisions: write 1" in shown

    revised = cli("resolve", first, "--revise", "say what the bees do")
    assert revised.exit_code == 0, revised.output
    assert f"{first}  resolved  (revise)" in revised.output
    cancelled = cli("resolve", second, "--cancel", "--json")
    assert json.loads(cancelled.output)["resolution"]["action"] == "cancel"
    daemon.wait_state(cancel, "cancelled")
    again = cli("resolve", second, "--approve")
    assert again.exit_code == 1 and "already resolved" in again.output
    resolved = json.loads(cli("escalations", "--state", "resolved", "--json").output)["items"]
    assert {first, second} <= {e["id"] for e in resolved}


def test_tail_once(cli: Any, daemon: Daemon) -> None:
    run_id = daemon.submit("note", {"topic": "tail once"})["run_id"]
    daemon.wait_state(run_id, "completed")
    result = cli("tail", "--after", "0", "--once", "--json")
    events = [json.loads(line) for line in result.output.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    mine = [e["type"] for e in events if e["run_id"] == run_id]
    assert mine[0] == "run.submitted" and mine[-1] == "run.completed"
    text = cli("tail", "--once").output.splitlines()
    assert 0 < len(text) <= 10


def test_tail_follows_the_journal(daemon: Daemon) -> None:
    daemon.wait_state(daemon.submit("note", {"topic": "before the tail"})["run_id"], "completed")
    tail = subprocess.Popen(
        [sys.executable, "-m", "handoffs", "tail", "--json", "--url", daemon.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_with_agents(),
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in tail.stdout or []], daemon=True
    )
    reader.start()
    try:
        # The tail prints the last events first: wait for its first line before submitting.
        run_id = None
        seen: list[dict[str, Any]] = []
        while True:
            event = json.loads(lines.get(timeout=15))
            seen.append(event)
            if run_id is None:
                run_id = daemon.submit("note", {"topic": "followed"})["run_id"]
            if event["run_id"] == run_id and event["type"] == "run.completed":
                break
    finally:
        tail.terminate()
        tail.communicate(timeout=10)
    assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)


def test_an_unreachable_daemon_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["runs", "--url", url])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: cannot reach the daemon at {url}")
