"""``GET /v1/events/stream`` read with a real HTTP client from a real daemon."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
from console_daemon import TOKEN, ConsoleDaemon


def data_events(lines: Iterator[str]) -> Iterator[tuple[int, dict[str, object]]]:
    """``(id, decoded data)`` of each event on the stream, as it arrives."""
    event_id = None
    for line in lines:
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            assert event_id is not None
            yield event_id, msgspec.json.decode(line[6:])


def test_the_stream_sends_each_new_journal_event_with_its_seq_as_id(
    daemon: ConsoleDaemon,
) -> None:
    last = daemon.http.get("/v1/events").json()["last_seq"]
    with daemon.http.stream("GET", "/v1/events/stream", params={"after": last}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        lines = response.iter_lines()
        assert next(lines) == f": last_seq {last}"
        assert next(lines) == "retry: 1000"
        run_id = daemon.submit("note", {"topic": "streams"})
        seen = []
        for seq, event in data_events(lines):
            assert seq == event["seq"]
            seen.append((event["type"], event["run_id"]))
            if event["type"] == "run.completed":
                break
    assert seen[0] == ("run.submitted", run_id)
    assert seen[-1] == ("run.completed", run_id)


def test_a_reconnecting_client_resumes_after_its_last_event_id(daemon: ConsoleDaemon) -> None:
    daemon.wait_state(daemon.submit("note", {"topic": "resume"}), "completed")
    last = daemon.http.get("/v1/events").json()["last_seq"]
    headers = {"Last-Event-ID": str(last - 2)}
    with daemon.http.stream("GET", "/v1/events/stream", headers=headers) as response:
        first = next(data_events(response.iter_lines()))
    assert first[0] == last - 1


def test_a_last_event_id_that_is_no_seq_is_refused_naming_the_header(
    daemon: ConsoleDaemon,
) -> None:
    response = daemon.http.get("/v1/events/stream", headers={"Last-Event-ID": "seven"})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid_parameter",
            "message": "Last-Event-ID: must be a journal position "
            "(a seq, or one per shard joined by dots)",
            "field": "Last-Event-ID",
        }
    }


def test_with_a_token_the_stream_takes_it_from_the_header_or_the_console_cookie(
    token_daemon: ConsoleDaemon,
) -> None:
    with httpx.Client(base_url=token_daemon.url, trust_env=False) as anonymous:
        response = anonymous.get("/v1/events/stream")
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "this daemon needs a bearer token"
        wrong = anonymous.get("/v1/events/stream", headers={"Cookie": "handoffs_token=nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["message"] == "the bearer token is not valid"
        # The cookie stands for the token on the stream and the console only, not the API.
        cookie = {"Cookie": f"handoffs_token={TOKEN}"}
        assert anonymous.get("/v1/runs", headers=cookie).status_code == 401
        with anonymous.stream("GET", "/v1/events/stream", headers=cookie) as response:
            assert response.status_code == 200
            assert next(response.iter_lines()).startswith(": last_seq ")


def test_an_open_stream_ends_when_the_daemon_stops(tmp_path: Path) -> None:
    daemon = ConsoleDaemon(tmp_path).wait_ready()
    try:
        with daemon.http.stream("GET", "/v1/events/stream") as response:
            lines = response.iter_lines()
            assert next(lines) == ": last_seq 0"
            daemon.proc.send_signal(signal.SIGTERM)
            assert list(lines) == ["retry: 1000", ""]
        assert daemon.proc.wait(20) == 0
    finally:
        daemon.close()
