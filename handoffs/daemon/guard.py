"""The daemon's front door, an ASGI wrapper around the API: every check that needs no route,
for every request before any routing, and the access log.

- Scope: HTTP and lifespan only. Anything else (a websocket) is refused here, never passed
  on: the checks below are written for HTTP requests and must not be bypassed.
- Host: the ``Host`` header must name the address the daemon is bound to (DNS rebinding: a
  web page that got its own name pointed at 127.0.0.1 still sends its own name).
- Headers that mean one thing (``Host``, ``Authorization``, ``Content-Type``, ``Origin``,
  ``Sec-Fetch-Site``, ``Idempotency-Key``) appear at most once: two would be read differently
  by different layers.
- Cross-site: a web page the operator visits can send requests to the loopback daemon with a
  valid ``Host``. A browser says where a request comes from: ``Origin`` must name this daemon
  when present, and ``Sec-Fetch-Site: cross-site`` is refused.
- Token: when the daemon has one, every request but ``/healthz`` must carry
  ``Authorization: Bearer <token>``; compared in constant time, taken from no other place.
  Whether the request carried it is left in ``scope["state"]["authorized"]``, for routes
  open to all that say more to an authorized caller.
- The web console (``console``, a path prefix): a browser cannot send the header on a page
  load, so there (and on ``cookie_paths``, the event stream an ``EventSource`` opens) the
  token may come in the console's ``HttpOnly``, ``SameSite=Strict`` cookie instead. The
  console's pages check ``authorized`` themselves (a page without the token leads to the
  login form, not to a JSON 401), and its form POSTs carry a CSRF token the console checks.
- Body: a request with a body must say ``Content-Type: application/json`` (a page can send
  ``text/plain`` without asking the daemon first; it cannot send JSON that way); only the
  console's own forms may also send ``application/x-www-form-urlencoded``.
- ``HEAD``: served as the ``GET`` it stands for, without the body.
- Access log: one line per request, method, path, status and duration; never a header.

Runs on the server's event loop thread.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import socket
import time
from collections.abc import Iterable
from typing import cast

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseStartEvent,
    HTTPScope,
    Message,
    Receive,
    Scope,
    Send,
)

from handoffs.daemon.logs import log_event
from handoffs.daemon.wire import ErrorBody, ErrorDetail
from handoffs.messages import encode_json

__all__ = ["TOKEN_COOKIE", "Guard", "allowed_hosts", "is_loopback", "is_wildcard"]

log = logging.getLogger("handoffs.daemon.access")

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_QUIET_PATHS = frozenset({"/healthz", "/metrics"})
#: Headers a request may carry at most once, with the name an error gives.
_SINGLE_HEADERS = {
    b"authorization": "Authorization",
    b"content-type": "Content-Type",
    b"origin": "Origin",
    b"sec-fetch-site": "Sec-Fetch-Site",
    b"idempotency-key": "Idempotency-Key",
}
_JSON = "application/json"
_FORM = b"application/x-www-form-urlencoded"
#: The cookie holding the token for the web console (and its event stream).
TOKEN_COOKIE = "handoffs_token"

#: ``(status, code, message, field, extra headers)`` of a refused request.
Refusal = tuple[int, str, str, str, list[tuple[bytes, bytes]]]


def is_wildcard(host: str) -> bool:
    """Whether binding ``host`` listens on every interface."""
    return host in ("", "0.0.0.0", "::", "[::]")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is a loopback address."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_form(name: str) -> str:
    name = name.strip().lower().rstrip(".")
    if ":" in name and not name.startswith("["):
        return f"[{name}]"  # an IPv6 literal, as a Host header writes it
    return name


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The ``Host`` header values a daemon bound to ``host:port`` accepts.

    Loopback binds accept the loopback names; a wildcard bind also accepts this machine's
    name and addresses; ``extra`` adds names (``--allow-host``). Each with the port, and
    also without it when the port is 80.
    """
    names = {_host_form(n) for n in extra}
    if not is_wildcard(host):
        names.add(_host_form(host))
    if is_loopback(host) or is_wildcard(host):
        names.update(_LOOPBACK_NAMES)
    if is_wildcard(host):
        local = {socket.gethostname(), socket.getfqdn()}
        addresses: set[str] = set()
        for name in local:
            with contextlib.suppress(OSError):
                addresses.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
        names.update(_host_form(n) for n in local | addresses if n)
    allowed = {f"{n}:{port}" for n in names}
    if port == 80:
        allowed.update(names)
    return frozenset(allowed)


class Guard:
    """Checks scope, Host, origin, token and content type, then hands the request to
    ``app``; logs every request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: frozenset[str],
        token: str | None,
        open_paths: frozenset[str] = frozenset({"/healthz"}),
        console: str | None = None,
        cookie_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.hosts = hosts
        self._token = token.encode() if token is not None else None
        self._open_paths = open_paths
        self._console = console
        self._cookie_paths = cookie_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        # Litestar's Scope type leaves lifespan out; the server sends it all the same.
        kind: str = scope["type"]
        if kind == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != ScopeType.HTTP:
            # Fail closed: a websocket (or any later kind) never reaches the API. Closing
            # before accepting makes the server answer the handshake with 403.
            if kind == ScopeType.WEBSOCKET:
                await send({"type": "websocket.close", "code": 1008, "reason": ""})
            return
        started = time.perf_counter()
        status = 0
        head = scope["method"] == "HEAD"
        body_done = False

        async def send_and_note(message: Message) -> None:
            nonlocal status, body_done
            if message["type"] == "http.response.start":
                status = message["status"]
            elif head and message["type"] == "http.response.body":
                # A HEAD answer has the GET's headers (Content-Length too) and no body.
                if body_done:
                    return
                body_done = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        headers = scope["headers"]
        path = scope["path"]
        try:
            refused, authorized = self._refuse(headers, path)
            if refused is not None:
                await _send_error(send_and_note, *refused)
            else:
                scope.setdefault("state", {})["authorized"] = authorized
                if head:
                    scope = cast(HTTPScope, {**scope, "method": "GET"})
                await self.app(scope, receive, send_and_note)
        finally:
            level = logging.DEBUG if path in _QUIET_PATHS and status < 400 else logging.INFO
            client = scope.get("client")
            method = "HEAD" if head else scope["method"]
            log_event(
                log,
                level,
                "request",
                f"{method} {path} {status}",
                method=method,
                path=path,
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
                client=f"{client[0]}:{client[1]}" if client else None,
            )

    def _refuse(
        self, headers: Iterable[tuple[bytes, bytes]], path: str
    ) -> tuple[Refusal | None, bool]:
        """The refusal of a request, if it is refused; and whether it carried the token
        (``True`` as well when the daemon has none)."""
        named: dict[bytes, list[bytes]] = {}
        has_body = False
        for key, value in headers:
            if key in (b"host", b"cookie") or key in _SINGLE_HEADERS:
                named.setdefault(key, []).append(value)
            elif key == b"transfer-encoding" or (key == b"content-length" and value != b"0"):
                has_body = True
        hosts = named.get(b"host", [])
        if len(hosts) != 1:
            return (
                400,
                "invalid_host",
                "the request needs exactly one Host header",
                "Host",
                [],
            ), False
        host = hosts[0].decode("latin-1").strip().lower()
        if host.rstrip(".") not in self.hosts and host not in self.hosts:
            # The value is the client's own text; the log line escapes it.
            return (
                400,
                "invalid_host",
                "the Host header does not name this daemon",
                "Host",
                [],
            ), False
        for key, name in _SINGLE_HEADERS.items():
            if len(named.get(key, ())) > 1:
                return (
                    400,
                    "invalid_header",
                    f"the request has two {name} headers",
                    name,
                    [],
                ), False
        refused = self._cross_site(named)
        if refused is not None:
            return refused, False
        console = self._console is not None and (
            path == self._console or path.startswith(self._console + "/")
        )
        authorized = self._token is None
        if self._token is not None:
            given = named.get(b"authorization")
            if not given and (console or path in self._cookie_paths):
                cookie = _cookie(named.get(b"cookie", []), TOKEN_COOKIE)
                given = [b"Bearer " + cookie] if cookie is not None else None
            refused = _check_token(self._token, given[0] if given else None)
            authorized = refused is None
            if refused is not None and path not in self._open_paths and not console:
                return refused, False
        content_type = named.get(b"content-type")
        media = content_type[0].partition(b";")[0].strip().lower() if content_type else None
        if has_body and media != _JSON.encode() and not (console and media == _FORM):
            return (
                415,
                "unsupported_media_type",
                f"a request body must be sent as Content-Type: {_JSON}",
                "Content-Type",
                [],
            ), authorized
        return None, authorized

    def _cross_site(self, named: dict[bytes, list[bytes]]) -> Refusal | None:
        """Refuses what a browser says comes from another site."""
        fetch_site = named.get(b"sec-fetch-site")
        if fetch_site and fetch_site[0].strip().lower() == b"cross-site":
            return (
                403,
                "cross_site",
                "cross-site requests are refused (Sec-Fetch-Site: cross-site)",
                "Sec-Fetch-Site",
                [],
            )
        origin = named.get(b"origin")
        if origin:
            scheme, sep, authority = origin[0].decode("latin-1").strip().lower().partition("://")
            if not sep or scheme not in ("http", "https") or authority not in self.hosts:
                # "null" (a sandboxed page, a redirect) names no origin: refused too.
                return 403, "foreign_origin", "the Origin header names another site", "Origin", []
        return None


def _cookie(headers: list[bytes], name: str) -> bytes | None:
    """The value of cookie ``name``; ``None`` when it is missing or given twice (two values
    would be read differently by different layers)."""
    key = name.encode()
    values = [
        value.strip()
        for header in headers
        for pair in header.split(b";")
        for found, sep, value in [pair.strip().partition(b"=")]
        if sep and found == key
    ]
    return values[0] if len(values) == 1 else None


def _check_token(token: bytes, given: bytes | None) -> Refusal | None:
    """The 401 for a missing or wrong bearer token."""
    challenge = [(b"www-authenticate", b'Bearer realm="handoffs"')]
    if given is None:
        return (
            401,
            "unauthorized",
            "this daemon needs a bearer token",
            "Authorization",
            challenge,
        )
    scheme, _, credential = given.strip().partition(b" ")
    # Compare even when the scheme is wrong, so timing says nothing about the token.
    matches = hmac.compare_digest(credential.strip(), token)
    if scheme.lower() != b"bearer" or not matches:
        return 401, "unauthorized", "the bearer token is not valid", "Authorization", challenge
    return None


async def _send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    field: str,
    extra: list[tuple[bytes, bytes]],
) -> None:
    body = encode_json(ErrorBody(error=ErrorDetail(code=code, message=message, field=field)))
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *extra,
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
