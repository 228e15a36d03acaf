"""Bad input from outside: each case gets its 4xx with a JSON error naming the problem, and
the daemon stays up (same PID; the next valid request succeeds)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from daemon_process import Daemon

NESTED = b"[" * 100_000 + b"]" * 100_000
RUN = "/v1/runs"
UNKNOWN_RUN = "run-" + "0" * 24
UNKNOWN_ESC = "esc-" + "0" * 24


def raw(body: bytes | Iterator[bytes]) -> dict[str, Any]:
    """Request kwargs sending ``body`` as it is, declared as JSON."""
    return {"content": body, "headers": {"Content-Type": "application/json"}}


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent chunked (no Content-Length), so only the bytes received can be counted."""
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


# (id, method, path, request kwargs, status, code, field)
CASES: list[tuple[str, str, str, dict[str, Any], int, str, str | None]] = [
    (
        "truncated-json",
        "POST",
        RUN,
        raw(b'{"pipeline": "note", "inp'),
        400,
        "invalid_json",
        None,
    ),
    ("not-json", "POST", RUN, raw(b"pipeline=note"), 400, "invalid_json", None),
    (
        "trailing-garbage",
        "POST",
        RUN,
        raw(b'{"pipeline": "note"} x'),
        400,
        "invalid_json",
        None,
    ),
    (
        "nan",
        "POST",
        RUN,
        raw(b'{"pipeline": "note", "input": {"x": NaN}}'),
        400,
        "invalid_json",
        None,
    ),
    ("empty-body", "POST", RUN, raw(b""), 400, "empty_body", None),
    ("array-body", "POST", RUN, {"json": ["note"]}, 400, "invalid_field", "$"),
    (
        "pipeline-wrong-type",
        "POST",
        RUN,
        {"json": {"pipeline": 5}},
        400,
        "invalid_field",
        "$.pipeline",
    ),
    (
        "input-wrong-type",
        "POST",
        RUN,
        {"json": {"pipeline": "note", "input": [1, 2]}},
        400,
        "invalid_field",
        "$.input",
    ),
    (
        "input-string",
        "POST",
        RUN,
        {"json": {"pipeline": "note", "input": "topic"}},
        400,
        "invalid_field",
        "$.input",
    ),
    ("missing-pipeline", "POST", RUN, {"json": {"input": {}}}, 400, "invalid_field", "$.pipeline"),
    (
        "unknown-field",
        "POST",
        RUN,
        {"json": {"pipeline": "note", "priority": 1}},
        400,
        "invalid_field",
        "$.priority",
    ),
    (
        "pipeline-bad-name",
        "POST",
        RUN,
        {"json": {"pipeline": "no spaces"}},
        400,
        "invalid_field",
        "$.pipeline",
    ),
    (
        "unknown-pipeline",
        "POST",
        RUN,
        {"json": {"pipeline": "nope"}},
        422,
        "unknown_pipeline",
        "$.pipeline",
    ),
    ("huge-body", "POST", RUN, raw(b" " * ((1 << 20) + 1)), 413, "body_too_large", None),
    (
        "huge-chunked-body",
        "POST",
        RUN,
        raw(chunks((1 << 20) + 1)),
        413,
        "body_too_large",
        None,
    ),
    (
        "invalid-utf8",
        "POST",
        RUN,
        raw(b'{"pipeline": "note", "input": {"x": "\xff"}}'),
        400,
        "invalid_utf8",
        None,
    ),
    (
        "surrogate-utf8",
        "POST",
        RUN,
        raw(b'{"pipeline": "note", "input": {"x": "\xed\xa0\x80"}}'),
        400,
        "invalid_utf8",
        None,
    ),
    (
        "deep-nesting",
        "POST",
        RUN,
        raw(b'{"pipeline": "note", "input": {"x": ' + NESTED + b"}}"),
        400,
        "too_deep",
        None,
    ),
    (
        "input-too-deep",
        "POST",
        RUN,
        raw(b'{"pipeline": "note", "input": {"x": ' + b"[" * 40 + b"]" * 40 + b"}}"),
        400,
        "too_deep",
        "$.input",
    ),
    (
        "integer-out-of-range",
        "POST",
        RUN,
        raw(b'{"pipeline": "note", "input": {"x": 123456789012345678901234567890}}'),
        400,
        "invalid_field",
        "$.input",
    ),
    (
        "bad-idempotency-key",
        "POST",
        RUN,
        {"json": {"pipeline": "note"}, "headers": {"Idempotency-Key": "has spaces"}},
        400,
        "invalid_parameter",
        "Idempotency-Key",
    ),
    (
        "non-ascii-idempotency-key",
        "POST",
        RUN,
        {"json": {"pipeline": "note"}, "headers": {"Idempotency-Key": b"\xff\xfe"}},
        400,
        "invalid_parameter",
        "Idempotency-Key",
    ),
    (
        "bad-host",
        "GET",
        "/v1/runs",
        {"headers": {"Host": "evil.example:8765"}},
        400,
        "invalid_host",
        "Host",
    ),
    (
        "rebinding-host",
        "GET",
        "/healthz",
        {"headers": {"Host": "attacker.example"}},
        400,
        "invalid_host",
        "Host",
    ),
    ("bad-run-id", "GET", "/v1/runs/not-an-id", {}, 400, "invalid_parameter", "run_id"),
    ("unknown-run", "GET", f"/v1/runs/{UNKNOWN_RUN}", {}, 404, "run_not_found", "run_id"),
    ("limit-zero", "GET", "/v1/runs?limit=0", {}, 400, "invalid_parameter", "limit"),
    ("limit-not-int", "GET", "/v1/runs?limit=ten", {}, 400, "invalid_parameter", "limit"),
    ("bad-state", "GET", "/v1/runs?state=sleeping", {}, 400, "invalid_parameter", "state"),
    ("bad-cursor", "GET", "/v1/runs?cursor=../../etc", {}, 400, "invalid_parameter", "cursor"),
    (
        "bad-percent-encoding",
        "GET",
        "/v1/runs?pipeline=%ff%fe",
        {},
        400,
        "invalid_parameter",
        "pipeline",
    ),
    ("events-negative-after", "GET", "/v1/events?after=-1", {}, 400, "invalid_parameter", "after"),
    ("events-wait-too-long", "GET", "/v1/events?wait=3600", {}, 400, "invalid_parameter", "wait"),
    ("artifacts-no-selector", "GET", "/v1/artifacts", {}, 400, "invalid_selector", None),
    (
        "artifacts-two-selectors",
        "GET",
        "/v1/artifacts?kind=Draft&tag=x",
        {},
        400,
        "invalid_selector",
        "tag",
    ),
    (
        "artifacts-stage-alone",
        "GET",
        "/v1/artifacts?stage=write",
        {},
        400,
        "invalid_selector",
        "stage",
    ),
    (
        "resolve-bad-action",
        "POST",
        f"/v1/escalations/{UNKNOWN_ESC}/resolve",
        {"json": {"action": "maybe"}},
        400,
        "invalid_field",
        "$.action",
    ),
    (
        "resolve-unknown-field",
        "POST",
        f"/v1/escalations/{UNKNOWN_ESC}/resolve",
        {"json": {"action": "approve", "feedbak": "x"}},
        400,
        "invalid_field",
        "$.feedbak",
    ),
    (
        "resolve-unknown-escalation",
        "POST",
        f"/v1/escalations/{UNKNOWN_ESC}/resolve",
        {"json": {"action": "approve"}},
        404,
        "escalation_not_found",
        "escalation_id",
    ),
    (
        "resolve-bad-id",
        "POST",
        "/v1/escalations/x/resolve",
        {"json": {"action": "approve"}},
        400,
        "invalid_parameter",
        "escalation_id",
    ),
    # cross-site requests: what a web page in the operator's browser can send
    (
        "text-plain-body",
        "POST",
        RUN,
        {"content": b'{"pipeline": "note"}', "headers": {"Content-Type": "text/plain"}},
        415,
        "unsupported_media_type",
        "Content-Type",
    ),
    (
        "body-without-content-type",
        "POST",
        RUN,
        {"content": b'{"pipeline": "note"}'},
        415,
        "unsupported_media_type",
        "Content-Type",
    ),
    (
        "form-body",
        "POST",
        f"/v1/escalations/{UNKNOWN_ESC}/resolve",
        {"data": {"action": "approve"}},
        415,
        "unsupported_media_type",
        "Content-Type",
    ),
    (
        "foreign-origin",
        "POST",
        RUN,
        {"json": {"pipeline": "note"}, "headers": {"Origin": "http://evil.example"}},
        403,
        "foreign_origin",
        "Origin",
    ),
    (
        "foreign-origin-same-host-other-port",
        "GET",
        RUN,
        {"headers": {"Origin": "http://127.0.0.1:1"}},
        403,
        "foreign_origin",
        "Origin",
    ),
    ("null-origin", "GET", RUN, {"headers": {"Origin": "null"}}, 403, "foreign_origin", "Origin"),
    (
        "cross-site-fetch",
        "GET",
        RUN,
        {"headers": {"Sec-Fetch-Site": "cross-site"}},
        403,
        "cross_site",
        "Sec-Fetch-Site",
    ),
    # integer parameters are bounded
    (
        "events-after-past-uint64",
        "GET",
        "/v1/events?after=18446744073709551615",
        {},
        400,
        "invalid_parameter",
        "after",
    ),
    (
        "events-after-past-int64",
        "GET",
        "/v1/events?after=9223372036854775808",
        {},
        400,
        "invalid_parameter",
        "after",
    ),
    (
        "events-after-a-sharded-position",
        "GET",
        "/v1/events?after=1.2",
        {},
        400,
        "invalid_parameter",
        "after",
    ),
    (
        "events-after-not-a-position",
        "GET",
        "/v1/events?after=1..2",
        {},
        400,
        "invalid_parameter",
        "after",
    ),
    (
        "events-limit-huge",
        "GET",
        "/v1/events?limit=1" + "0" * 30,
        {},
        400,
        "invalid_parameter",
        "limit",
    ),
    ("events-wait-nan", "GET", "/v1/events?wait=nan", {}, 400, "invalid_parameter", "wait"),
    ("runs-limit-too-big", "GET", "/v1/runs?limit=1001", {}, 400, "invalid_parameter", "limit"),
    (
        "artifacts-limit-huge",
        "GET",
        "/v1/artifacts?kind=Draft&limit=18446744073709551616",
        {},
        400,
        "invalid_parameter",
        "limit",
    ),
    # ids and names match whole: no trailing newline
    (
        "run-id-trailing-newline",
        "GET",
        f"/v1/runs/{UNKNOWN_RUN}%0A",
        {},
        400,
        "invalid_parameter",
        "run_id",
    ),
    (
        "escalation-id-trailing-newline",
        "GET",
        f"/v1/escalations/{UNKNOWN_ESC}%0A",
        {},
        400,
        "invalid_parameter",
        "escalation_id",
    ),
    (
        "artifact-id-trailing-newline",
        "GET",
        "/v1/artifacts/art-" + "0" * 24 + "%0A",
        {},
        400,
        "invalid_parameter",
        "artifact_id",
    ),
    (
        "cancel-id-trailing-newline",
        "POST",
        f"/v1/runs/{UNKNOWN_RUN}%0A/cancel",
        {},
        400,
        "invalid_parameter",
        "run_id",
    ),
    (
        "pipeline-query-trailing-newline",
        "GET",
        "/v1/runs?pipeline=note%0A",
        {},
        400,
        "invalid_parameter",
        "pipeline",
    ),
    (
        "cursor-trailing-newline",
        "GET",
        f"/v1/runs?cursor={UNKNOWN_RUN}%0A",
        {},
        400,
        "invalid_parameter",
        "cursor",
    ),
    (
        "artifacts-run-id-trailing-newline",
        "GET",
        f"/v1/artifacts?run_id={UNKNOWN_RUN}%0A",
        {},
        400,
        "invalid_parameter",
        "run_id",
    ),
    (
        "pipeline-body-trailing-newline",
        "POST",
        RUN,
        {"json": {"pipeline": "note\n"}},
        400,
        "invalid_field",
        "$.pipeline",
    ),
    # headers that mean one thing, once
    (
        "two-idempotency-keys",
        "POST",
        RUN,
        {
            "json": {"pipeline": "note"},
            "headers": [("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
        },
        400,
        "invalid_header",
        "Idempotency-Key",
    ),
    (
        "two-content-types",
        "POST",
        RUN,
        {
            "content": b'{"pipeline": "note"}',
            "headers": [("Content-Type", "application/json"), ("Content-Type", "text/plain")],
        },
        400,
        "invalid_header",
        "Content-Type",
    ),
    ("unknown-schema-path", "GET", "/openapi.json/x", {}, 404, "not_found", None),
    ("unknown-schema-subpath", "GET", "/openapi.json/swagger", {}, 404, "not_found", None),
    ("unknown-route", "GET", "/v2/everything", {}, 404, "not_found", None),
    ("wrong-method", "DELETE", "/v1/runs", {}, 405, "method_not_allowed", None),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_request_gets_its_4xx_and_the_daemon_stays_up(
    daemon: Daemon,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
    field: str | None,
) -> None:
    pid = daemon.pid
    response = daemon.http.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["field"] == field
    assert error["message"]
    assert daemon.alive() and daemon.pid == pid
    assert daemon.submit("note", {"topic": "still here"})["state"] in ("running", "completed")


def raw_request(daemon: Daemon, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(b"GET /healthz HTTP/1.0\r\n\r\n", b"400", id="no-host-header"),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", b"400", id="two-host-headers"
        ),
        pytest.param(b"NONSENSE\r\n\r\n", b"400", id="not-http"),
        pytest.param(
            b"POST /v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n",
            b"400",
            id="bad-content-length",
        ),
    ],
)
def test_malformed_http_is_refused_and_the_daemon_stays_up(
    daemon: Daemon, request_bytes: bytes, status: bytes
) -> None:
    pid = daemon.pid
    host = f"Host: 127.0.0.1:{daemon.port}".encode()
    reply = raw_request(daemon, request_bytes.replace(b"Host: 127.0.0.1", host))
    assert reply.split(b" ", 2)[1] == status, reply[:200]
    assert daemon.alive() and daemon.pid == pid
    assert daemon.http.get("/healthz").status_code == 200
