"""The daemon's edges: HEAD, requests from the daemon's own origin, what /healthz tells whom,
and scopes other than HTTP (which never reach the API)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon_process import HERE, Daemon, wait_for
from litestar.types import Message, Receive, Scope, Send

from handoffs.daemon.guard import Guard

TOKEN = "s3cret-token-for-the-edge-tests"
DOWN = HERE / "down.toml"
#: What /healthz says about the broken role to a caller without the token...
SUMMARY = "role broken is down"
#: ...and to one with it.
DETAIL = (
    "role broken is down: no live actors: the last exited (temporary: not restarted): "
    "broken/0.1: setup failed: RuntimeError: api key sk-do-not-show rejected by the model "
    "endpoint"
)


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json", "/v1/runs", "/metrics"])
def test_head_answers_like_get_without_the_body(daemon: Daemon, path: str) -> None:
    got = daemon.http.get(path)
    head = daemon.http.head(path)
    assert (head.status_code, got.status_code) == (200, 200)
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    if path == "/openapi.json":  # the others may change between the two requests
        assert head.headers["content-length"] == str(len(got.content))


def test_head_keeps_the_get_routes_errors(daemon: Daemon) -> None:
    missing = daemon.http.head("/v1/runs/run-" + "0" * 24)
    assert (missing.status_code, missing.content) == (404, b"")
    assert missing.headers["content-type"] == "application/json"
    # HEAD stands for GET only: a POST route does not take it.
    assert daemon.http.head("/v1/runs/run-" + "0" * 24 + "/cancel").status_code == 405


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_requests_from_the_daemons_own_origin_are_served(daemon: Daemon, host: str) -> None:
    headers = {"Origin": f"http://{host}:{daemon.port}", "Sec-Fetch-Site": "same-origin"}
    response = daemon.http.post("/v1/runs", json={"pipeline": "note"}, headers=headers)
    assert response.status_code == 201, response.text
    charset = {"Content-Type": "application/json; charset=utf-8"}
    again = daemon.http.post("/v1/runs", content=b'{"pipeline": "note"}', headers=charset)
    assert again.status_code == 201, again.text


def test_a_cancel_without_a_body_needs_no_content_type(daemon: Daemon) -> None:
    run_id = daemon.submit("note", {"topic": "cancel me"})["run_id"]
    response = daemon.http.post(f"/v1/runs/{run_id}/cancel")
    assert response.status_code in (200, 409), response.text


def degraded(client: httpx.Client) -> dict[str, Any] | None:
    body: dict[str, Any] = client.get("/healthz").json()
    return body if body["status"] == "degraded" else None


def test_healthz_shows_role_names_to_all_and_errors_only_with_the_token(
    start_daemon: Any, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    daemon: Daemon = start_daemon(
        "--config", str(DOWN), "--token-file", str(token_file), token=TOKEN
    )
    assert wait_for(lambda: degraded(daemon.http))["reasons"] == [DETAIL]
    with httpx.Client(base_url=daemon.url, trust_env=False, timeout=10) as bare:
        assert bare.get("/healthz").json() == {"status": "degraded", "reasons": [SUMMARY]}
        wrong = {"Authorization": "Bearer not-the-token-at-all"}
        assert bare.get("/healthz", headers=wrong).json()["reasons"] == [SUMMARY]


def test_healthz_shows_errors_when_the_daemon_has_no_token(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon("--config", str(DOWN))
    assert wait_for(lambda: degraded(daemon.http))["reasons"] == [DETAIL]


# ----------------------------------------------------------------- scopes other than HTTP


class _Recorder:
    """An ASGI app that accepts everything, noting each scope it was given."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope["type"])
        if scope["type"] == "websocket":
            await send({"type": "websocket.accept", "subprotocol": None, "headers": []})


def _call(guard: Guard, scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(guard(scope, receive, send))  # type: ignore[arg-type]
    return sent


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([(b"host", b"127.0.0.1:8765")], id="no-token"),
        pytest.param([(b"host", b"evil.example")], id="foreign-host"),
        pytest.param(
            [(b"host", b"127.0.0.1:8765"), (b"authorization", f"Bearer {TOKEN}".encode())],
            id="with-token",
        ),
    ],
)
def test_a_websocket_never_reaches_the_app(headers: list[tuple[bytes, bytes]]) -> None:
    inner = _Recorder()
    guard = Guard(inner, hosts=frozenset({"127.0.0.1:8765"}), token=TOKEN)
    scope = {"type": "websocket", "path": "/v1/runs", "headers": headers, "subprotocols": []}
    sent = _call(guard, scope)
    assert inner.scopes == []
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": ""}]


def test_an_unknown_scope_never_reaches_the_app() -> None:
    inner = _Recorder()
    guard = Guard(inner, hosts=frozenset({"127.0.0.1:8765"}), token=None)
    assert _call(guard, {"type": "webtransport", "path": "/", "headers": []}) == []
    assert inner.scopes == []


def test_lifespan_reaches_the_app() -> None:
    inner = _Recorder()
    guard = Guard(inner, hosts=frozenset({"127.0.0.1:8765"}), token=TOKEN)
    _call(guard, {"type": "lifespan"})
    assert inner.scopes == ["lifespan"]


def test_the_daemon_does_not_upgrade_to_a_websocket(daemon: Daemon) -> None:
    request = (
        f"GET /v1/runs HTTP/1.1\r\nHost: 127.0.0.1:{daemon.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        sock.sendall(request)
        status_line = sock.makefile("rb").readline()
    assert status_line.split(b" ", 2)[1] != b"101", status_line
