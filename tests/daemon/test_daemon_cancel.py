"""Cancelling a run through the daemon: ``POST /v1/runs/{id}/cancel`` and ``handoffs cancel``.

A run that stays running is a ``note`` whose writer sleeps (``{"sleep": N}``); each test
that needs one starts its own daemon, so a writer still sleeping after the cancel holds up
no other test.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from daemon_process import Daemon, wait_for

from handoffs import RunFinished, RunNotFound, StoreUnavailable
from handoffs.cli import main
from handoffs.daemon.app import to_api_error

UNKNOWN = "run-0123456789abcdef01234567"


def metric(daemon: Daemon, line_start: str) -> float:
    """The value of the first sample line of /metrics that starts with ``line_start``."""
    for line in daemon.http.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def start_hanging(daemon: Daemon, topic: str, seconds: float = 2.0) -> str:
    """A run whose writer is busy with it for ``seconds``; returns once the task is in flight."""
    run_id: str = daemon.submit("note", {"topic": topic, "sleep": seconds})["run_id"]
    wait_for(lambda: metric(daemon, 'handoffs_tasks_inflight{role="writer"}') == 1)
    return run_id


def cancel(daemon: Daemon, run_id: str, body: Any = None) -> httpx.Response:
    return daemon.http.post(f"/v1/runs/{run_id}/cancel", json=body)


def invoke(daemon: Daemon, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--url", daemon.url], catch_exceptions=False)


def test_cancel_a_running_run(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon()
    run_id = start_hanging(daemon, "never mind")

    response = cancel(daemon, run_id, {"reason": "not needed any more"})
    assert response.status_code == 200, response.text
    run = response.json()
    assert (run["run_id"], run["state"], run["reason"]) == (
        run_id,
        "cancelled",
        "not needed any more",
    )
    assert run["handoffs"] == []
    assert daemon.run(run_id)["state"] == "cancelled"
    # The writer's room is free at once; its late result is dropped, not committed.
    assert metric(daemon, 'handoffs_tasks_inflight{role="writer"}') == 0
    wait_for(lambda: metric(daemon, "handoffs_stale_results_total") == 1)
    after = daemon.run(run_id)
    assert (after["state"], after["handoff_count"]) == ("cancelled", 0)
    events = daemon.http.get("/v1/events", params={"limit": 1000}).json()["events"]
    assert [e["type"] for e in events if e["run_id"] == run_id][-1] == "run.cancelled"

    again = cancel(daemon, run_id)
    assert again.status_code == 409
    assert again.json() == {
        "error": {
            "code": "run_finished",
            "message": f"run {run_id} already ended (cancelled)",
            "field": "run_id",
            "state": "cancelled",
        }
    }


def test_cancel_without_a_body_and_with_an_empty_one(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon()
    first = start_hanging(daemon, "no body")
    response = daemon.http.post(f"/v1/runs/{first}/cancel")
    assert response.status_code == 200, response.text
    assert (response.json()["state"], response.json()["reason"]) == ("cancelled", "cancelled")
    wait_for(lambda: metric(daemon, "handoffs_stale_results_total") == 1)

    second = start_hanging(daemon, "empty object")
    response = cancel(daemon, second, {})
    assert response.status_code == 200, response.text
    assert (response.json()["state"], response.json()["reason"]) == ("cancelled", "cancelled")


def test_cancel_a_completed_run_is_409_with_its_state(daemon: Daemon) -> None:
    run_id = daemon.submit("note", {"topic": "done already"})["run_id"]
    daemon.wait_state(run_id, "completed")
    response = cancel(daemon, run_id, {"reason": "too late"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["state"]) == ("run_finished", "completed")
    assert error["message"] == f"run {run_id} already ended (completed)"
    assert daemon.run(run_id)["state"] == "completed"


def test_cancel_an_escalated_run_resolves_its_escalation(daemon: Daemon) -> None:
    run_id = daemon.submit("reviewed", {"topic": "stuck", "approve": False})["run_id"]
    escalation_id = daemon.wait_state(run_id, "escalated")["escalation_id"]
    response = cancel(daemon, run_id, {"reason": "giving up"})
    assert response.status_code == 200, response.text
    assert (response.json()["state"], response.json()["reason"]) == ("cancelled", "giving up")
    assert len(response.json()["handoffs"]) == 4
    escalation = daemon.http.get(f"/v1/escalations/{escalation_id}").json()
    assert escalation["state"] == "resolved"
    assert (escalation["resolution"]["action"], escalation["resolution"]["feedback"]) == (
        "cancel",
        "giving up",
    )


def test_cancel_an_unknown_run_is_404(daemon: Daemon) -> None:
    response = cancel(daemon, UNKNOWN)
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "run_not_found", "message": f"no run {UNKNOWN}", "field": "run_id"}
    }


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (b'{"reason": 5}', "invalid_field", "$.reason"),
        (b'{"reason": ""}', "invalid_field", "$.reason"),
        (json.dumps({"reason": "x" * 2001}).encode(), "invalid_field", "$.reason"),
        (b'{"reasn": "typo"}', "invalid_field", "$.reasn"),
        (b'["not an object"]', "invalid_field", "$"),
        (b'{"reason": "cut', "invalid_json", None),
        (b'{"reason": "\xff"}', "invalid_utf8", None),
    ],
)
def test_a_bad_cancel_body_is_400_naming_the_field(
    daemon: Daemon, body: bytes, code: str, field: str | None
) -> None:
    run_id = daemon.submit("note", {"topic": "bad body"})["run_id"]
    response = daemon.http.post(
        f"/v1/runs/{run_id}/cancel", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert daemon.wait_state(run_id, "completed")["reason"] is None


def test_a_reason_of_2000_characters_is_taken(daemon: Daemon) -> None:
    run_id = daemon.submit("note", {"topic": "long reason"})["run_id"]
    daemon.wait_state(run_id, "completed")
    # Decoded and passed on: the finished run answers 409, not 400.
    assert cancel(daemon, run_id, {"reason": "x" * 2000}).status_code == 409


def test_a_bad_run_id_is_400(daemon: Daemon) -> None:
    response = cancel(daemon, "not an id!")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "run_id"


def test_cancel_in_the_openapi_document(daemon: Daemon) -> None:
    document = daemon.http.get("/openapi.json").json()
    operation = document["paths"]["/v1/runs/{run_id}/cancel"]["post"]
    assert operation["operationId"] == "cancelRun"
    assert operation["requestBody"] == {
        "required": False,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CancelRequest"}}},
    }
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RunDetail"
    }
    reason = document["components"]["schemas"]["CancelRequest"]["properties"]["reason"]
    assert {"type": "string", "minLength": 1, "maxLength": 2000} in reason["anyOf"]
    # The other bodies stay required.
    assert document["paths"]["/v1/runs"]["post"]["requestBody"]["required"] is True


def test_cli_cancel(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon()
    run_id = start_hanging(daemon, "cli cancel")

    result = invoke(daemon, "cancel", run_id, "--reason", "wrong topic")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"run {run_id}  pipeline note  state cancelled"
    assert "reason: wrong topic" in lines
    assert "no handoffs yet" in lines

    again = invoke(daemon, "cancel", run_id, "--json")
    assert again.exit_code == 1
    assert again.output == f"error: run {run_id} already ended (cancelled) (at run_id)\n"

    shown = invoke(daemon, "show", run_id, "--json")
    assert json.loads(shown.output)["state"] == "cancelled"


def test_cli_cancel_json(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon()
    run_id = start_hanging(daemon, "cli json")
    result = invoke(daemon, "cancel", run_id, "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.output)
    assert (run["run_id"], run["state"], run["reason"]) == (run_id, "cancelled", "cancelled")


def test_cli_cancel_errors(daemon: Daemon) -> None:
    unknown = invoke(daemon, "cancel", UNKNOWN)
    assert unknown.exit_code == 1
    assert unknown.output == f"error: no run {UNKNOWN} (at run_id)\n"

    run_id = daemon.submit("note", {"topic": "cli long reason"})["run_id"]
    too_long = invoke(daemon, "cancel", run_id, "--reason", "x" * 2001)
    assert too_long.exit_code == 1
    assert too_long.output.startswith("error: Expected `str` of length <= 2000")
    assert too_long.output.endswith(" (at $.reason)\n")


def test_runtime_errors_of_a_cancel_map_to_statuses() -> None:
    unavailable = to_api_error(StoreUnavailable("disk full"))
    assert (unavailable.status, unavailable.code, unavailable.message) == (
        507,
        "store_unavailable",
        "the store cannot take writes: disk full",
    )
    finished = to_api_error(RunFinished(UNKNOWN, "failed"))
    assert (finished.status, finished.code, finished.state) == (409, "run_finished", "failed")
    missing = to_api_error(RunNotFound(UNKNOWN))
    assert (missing.status, missing.code, missing.field) == (404, "run_not_found", "run_id")


def test_other_errors_carry_no_state(daemon: Daemon) -> None:
    body = daemon.http.get(f"/v1/runs/{UNKNOWN}").json()
    assert set(body["error"]) == {"code", "message", "field"}
