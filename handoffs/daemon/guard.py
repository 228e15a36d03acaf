"""The daemon's front door, an ASGI wrapper around the API: the Host check, the token check,
and the access log, for every request before any routing.

- Host: the ``Host`` header must name the address the daemon is bound to (DNS rebinding: a
  web page that got its own name pointed at 127.0.0.1 still sends its own name).
- Token: when the daemon has one, every request but ``/healthz`` must carry
  ``Authorization: Bearer <token>``; compared in constant time, taken from no other place.
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

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from handoffs.daemon.logs import log_event
from handoffs.daemon.wire import ErrorBody, ErrorDetail
from handoffs.messages import encode_json

__all__ = ["Guard", "allowed_hosts", "is_loopback", "is_wildcard"]

log = logging.getLogger("handoffs.daemon.access")

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_QUIET_PATHS = frozenset({"/healthz", "/metrics"})


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
    """Checks Host and token, then hands the request to ``app``; logs every request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: frozenset[str],
        token: str | None,
        open_paths: frozenset[str] = frozenset({"/healthz"}),
    ) -> None:
        self.app = app
        self.hosts = hosts
        self._token = token.encode() if token is not None else None
        self._open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        headers = scope["headers"]
        path = scope["path"]
        try:
            refused = self._refuse(headers, path)
            if refused is None:
                await self.app(scope, receive, send_and_note)
            else:
                await _send_error(send_and_note, *refused)
        finally:
            level = logging.DEBUG if path in _QUIET_PATHS and status < 400 else logging.INFO
            client = scope.get("client")
            log_event(
                log,
                level,
                "request",
                f"{scope['method']} {path} {status}",
                method=scope["method"],
                path=path,
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
                client=f"{client[0]}:{client[1]}" if client else None,
            )

    def _refuse(
        self, headers: Iterable[tuple[bytes, bytes]], path: str
    ) -> tuple[int, str, str, str, list[tuple[bytes, bytes]]] | None:
        """``(status, code, message, field, extra headers)`` when the request is refused."""
        hosts = [v for k, v in headers if k == b"host"]
        if len(hosts) != 1:
            return 400, "invalid_host", "the request needs exactly one Host header", "Host", []
        host = hosts[0].decode("latin-1").strip().lower()
        if host.rstrip(".") not in self.hosts and host not in self.hosts:
            # The value is the client's own text; the log line escapes it.
            return 400, "invalid_host", "the Host header does not name this daemon", "Host", []
        if self._token is None or path in self._open_paths:
            return None
        challenge = [(b"www-authenticate", b'Bearer realm="handoffs"')]
        given = [v for k, v in headers if k == b"authorization"]
        if len(given) != 1:
            return (
                401,
                "unauthorized",
                "this daemon needs a bearer token",
                "Authorization",
                challenge,
            )
        scheme, _, credential = given[0].strip().partition(b" ")
        # Compare even when the scheme is wrong, so timing says nothing about the token.
        matches = hmac.compare_digest(credential.strip(), self._token)
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
