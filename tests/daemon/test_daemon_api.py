"""The HTTP API end to end: a real daemon, driven over HTTP."""

from __future__ import annotations

import threading
import time

import httpx
from daemon_process import Daemon, wait_for


def test_submit_runs_to_completion_with_its_timeline(daemon: Daemon) -> None:
    created = daemon.http.post("/v1/runs", json={"pipeline": "note", "input": {"topic": "bees"}})
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"run_id", "state"}
    assert created.headers["location"] == f"/v1/runs/{body['run_id']}"

    run = daemon.wait_state(body["run_id"], "completed")
    assert run["pipeline"] == "note"
    assert run["input"] == {"topic": "bees"}
    assert run["attempts"] == {"write": 1}
    assert [h["stage"] for h in run["handoffs"]] == ["write"]
    handoff = run["handoffs"][0]
    assert handoff["kind"] == "Draft"
    assert handoff["outcome"] == "accepted"
    assert handoff["quality"]["confidence"] == 0.9
    assert "payload" not in handoff

    with_payload = daemon.run(body["run_id"], payload=1)
    assert with_payload["handoffs"][0]["payload"]["title"] == "bees"


def test_review_loop_escalates_and_a_person_approves(daemon: Daemon) -> None:
    run_id = daemon.submit("reviewed", {"topic": "wasps", "approve": False})["run_id"]
    run = daemon.wait_state(run_id, "escalated")
    assert run["revisions"] == {"write": 1}
    outcomes = [(h["stage"], h["outcome"]) for h in run["handoffs"]]
    assert outcomes == [
        ("write", "accepted"),
        ("review", "rejected"),
        ("write", "accepted"),
        ("review", "rejected"),
    ]
    assert run["handoffs"][1]["feedback"][0]["issue"] == "the note says nothing specific"

    listed = daemon.http.get("/v1/escalations", params={"state": "open"}).json()["items"]
    escalation = next(e for e in listed if e["run_id"] == run_id)
    assert escalation["reason"] == "revisions_exhausted"
    assert daemon.http.get(f"/v1/escalations/{escalation['id']}").json()["id"] == escalation["id"]

    resolved = daemon.http.post(
        f"/v1/escalations/{escalation['id']}/resolve",
        json={"action": "approve", "feedback": "good enough"},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "resolved"
    assert resolved.json()["resolution"]["action"] == "approve"
    daemon.wait_state(run_id, "completed")

    again = daemon.http.post(
        f"/v1/escalations/{escalation['id']}/resolve", json={"action": "cancel"}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "escalation_resolved"


def test_a_person_cancels_an_escalated_run(daemon: Daemon) -> None:
    run_id = daemon.submit("reviewed", {"topic": "hornets", "approve": False})["run_id"]
    escalation_id = daemon.wait_state(run_id, "escalated")["escalation_id"]
    response = daemon.http.post(
        f"/v1/escalations/{escalation_id}/resolve", json={"action": "cancel"}
    )
    assert response.status_code == 200
    daemon.wait_state(run_id, "cancelled")


def test_idempotent_resubmission(daemon: Daemon) -> None:
    request = {"pipeline": "note", "input": {"topic": "ants"}}
    key = {"Idempotency-Key": f"ants-{time.time_ns()}"}
    first = daemon.http.post("/v1/runs", json=request, headers=key)
    second = daemon.http.post("/v1/runs", json=request, headers=key)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["run_id"] == second.json()["run_id"]

    other = daemon.http.post("/v1/runs", json={**request, "input": {"topic": "moths"}}, headers=key)
    assert other.status_code == 409
    assert other.json()["error"] == {
        "code": "idempotency_conflict",
        "message": other.json()["error"]["message"],
        "field": "Idempotency-Key",
    }
    assert daemon.run(first.json()["run_id"])["idempotency_key"] == key["Idempotency-Key"]


def test_runs_listing_filters_and_pages(daemon: Daemon) -> None:
    ids = [daemon.submit("note", {"topic": f"page {n}"})["run_id"] for n in range(3)]
    for run_id in ids:
        daemon.wait_state(run_id, "completed")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"pipeline": "note", "state": "completed", "limit": 2}
        page = daemon.http.get(
            "/v1/runs", params={**params, **({"cursor": cursor} if cursor else {})}
        ).json()
        assert len(page["items"]) <= 2
        seen += [r["run_id"] for r in page["items"]]
        assert all(r["pipeline"] == "note" and r["state"] == "completed" for r in page["items"])
        cursor = page["cursor"]
        if cursor is None:
            break
    assert set(ids) <= set(seen)
    assert seen == sorted(seen)


def test_artifacts_by_id_and_by_index(daemon: Daemon) -> None:
    run_id = daemon.submit("note", {"topic": "owls"})["run_id"]
    artifact = daemon.wait_state(run_id, "completed")["handoffs"][0]
    one = daemon.http.get(f"/v1/artifacts/{artifact['id']}").json()
    assert one["payload"]["title"] == "owls"
    for params in (
        {"run_id": run_id},
        {"pipeline": "note", "stage": "write"},
        {"pipeline": "note"},
        {"kind": "Draft"},
    ):
        items = daemon.http.get("/v1/artifacts", params={**params, "limit": 1000}).json()["items"]
        assert artifact["id"] in [i["id"] for i in items], params
    assert "payload" not in items[0]


def test_events_tail_and_long_poll(daemon: Daemon) -> None:
    first = daemon.http.get("/v1/events", params={"after": 0, "limit": 1000}).json()
    assert first["events"], "the journal has the earlier tests' events"
    seqs = [e["seq"] for e in first["events"]]
    assert seqs == sorted(seqs) and seqs[0] == 1
    last = daemon.http.get("/v1/events", params={"limit": 0}).json()["last_seq"]

    quiet_started = time.monotonic()
    quiet = daemon.http.get("/v1/events", params={"after": last + 10**6, "wait": 0.3}).json()
    assert quiet["events"] == [] and time.monotonic() - quiet_started >= 0.25

    results: list[httpx.Response] = []
    waiter = threading.Thread(
        target=lambda: results.append(
            daemon.http.get("/v1/events", params={"after": last, "wait": 10})
        )
    )
    waiter.start()
    time.sleep(0.1)
    run_id = daemon.submit("note", {"topic": "tail"})["run_id"]
    waiter.join(10)
    events = results[0].json()["events"]
    assert events and events[0]["seq"] == last + 1
    assert any(e["run_id"] == run_id for e in events)


def test_health_and_openapi(daemon: Daemon) -> None:
    assert daemon.http.get("/healthz").json() == {"status": "ok", "reasons": []}
    document = daemon.http.get("/openapi.json").json()
    submit = document["paths"]["/v1/runs"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SubmitRequest"
    }
    schemas = document["components"]["schemas"]
    assert schemas["SubmitRequest"]["required"] == ["pipeline"]
    assert schemas["SubmitRequest"]["properties"]["pipeline"]["pattern"]
    assert set(schemas["ResolveRequest"]["properties"]["action"]["enum"]) == {
        "approve",
        "revise",
        "cancel",
    }
    assert {"RunDetail", "HandoffView", "Escalation", "EventList", "ErrorBody"} <= set(schemas)
    for path in (
        "/v1/runs/{run_id}",
        "/v1/escalations/{escalation_id}/resolve",
        "/v1/events",
        "/v1/artifacts",
        "/healthz",
        "/metrics",
    ):
        assert path in document["paths"]


def test_many_concurrent_submissions(daemon: Daemon) -> None:
    results: list[int] = []

    def submit(n: int) -> None:
        with httpx.Client(base_url=daemon.url, trust_env=False) as client:
            for i in range(10):
                request = {"pipeline": "note", "input": {"topic": f"{n}-{i}"}}
                response = client.post("/v1/runs", json=request)
                results.append(response.status_code)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [201] * 40
    wait_for(lambda: not daemon.http.get("/v1/runs", params={"state": "running"}).json()["items"])
