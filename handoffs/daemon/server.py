"""``handoffs serve``: host one Runtime behind the HTTP API until SIGTERM or SIGINT.

Start: check the token file and the address, open the runtime (a second daemon on the same
data directory fails here, naming the process that holds it), bind, serve. The HTTP server
(uvicorn) runs its event loop on a thread of its own; the main thread owns the signals.

Stop (the first SIGTERM or SIGINT): stop accepting connections, let requests in flight
finish, then drain the agents' tasks in flight, close the store, exit 0; all within
``shutdown_timeout`` (tasks still running then stay in the store and run again at the next
start). A second signal stops waiting for HTTP requests.
"""

from __future__ import annotations

import logging
import math
import signal
import socket
import stat
import threading
import time
from pathlib import Path
from types import FrameType

import msgspec
import uvicorn

from handoffs.daemon.app import build_app
from handoffs.daemon.errors import ServeError
from handoffs.daemon.guard import allowed_hosts, is_loopback, is_wildcard
from handoffs.daemon.host import Host
from handoffs.daemon.logs import log_event
from handoffs.messages import ConfigError
from handoffs.runtime import TUNING, Runtime
from handoffs.shards import (
    LinkOptions,
    ShardedRuntime,
    ShardLayoutError,
    ShardUnavailable,
    shard_dir,
)
from handoffs.store import StoreError, StoreLocked, compact

__all__ = ["ServeOptions", "read_token", "serve"]

log = logging.getLogger("handoffs.daemon")

#: Shortest token accepted: guessing must be hopeless.
MIN_TOKEN_LENGTH = 16
_STARTUP_SECONDS = 30.0


class ServeOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What ``handoffs serve`` was asked to do."""

    config: Path
    data: Path
    host: str = "127.0.0.1"
    port: int = 8765
    token_file: Path | None = None
    allow_hosts: tuple[str, ...] = ()
    shutdown_timeout: float = 10.0
    #: Rewrite the store without its free pages before opening it (after a large prune).
    compact_on_start: bool = False
    #: Orchestrator shards (``None``: one runtime in this process on ``data`` itself).
    shards: int | None = None
    #: The shard processes' log level.
    log_level: str = "info"
    #: The shard processes export traces (``--tracing``).
    tracing: bool = False


def read_token(path: Path) -> str:
    """The bearer token in ``path``, a regular file only its owner may read (0600).

    Raises:
        ServeError: the file is missing, readable by others, or holds no usable token.
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ServeError(f"token file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise ServeError(
                f"token file {path} is open to other users (mode {stat.S_IMODE(info.st_mode):04o});"
                f" run: chmod 600 {path}"
            )
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ServeError(f"cannot read token file {path}: {exc}") from None
    if len(text) < MIN_TOKEN_LENGTH or not text.isascii() or not text.isprintable() or " " in text:
        raise ServeError(
            f"token file {path} must hold one token of at least {MIN_TOKEN_LENGTH} printable "
            "ASCII characters without spaces"
        )
    return text


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc}") from None
    return sock


class _Signals:
    """Turns SIGTERM and SIGINT into an event; a second one asks for a forced stop."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.received: list[int] = []
        self.server: uvicorn.Server | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes: no logging here, only flags.
        self.received.append(signum)
        if len(self.received) > 1 and self.server is not None:
            self.server.force_exit = True
        self.stop.set()


def serve(options: ServeOptions) -> int:
    """Run the daemon until a signal; return the exit status (0 after a clean stop).

    Raises:
        ServeError: it could not start (the message says why).
    """
    token = read_token(options.token_file) if options.token_file is not None else None
    if token is None and not is_loopback(options.host):
        raise ServeError(
            f"binding {options.host or '0.0.0.0'} exposes the API beyond this machine: "
            "pass --token-file (a 0600 file holding the token), or bind 127.0.0.1"
        )
    started = time.monotonic()
    stores = (
        [options.data]
        if options.shards is None
        else [shard_dir(options.data, k) for k in range(options.shards)]
    )
    for store in stores:
        if options.compact_on_start and (store / "data.mdb").is_file():
            _compact(store)
    try:
        # Paused until the port is open: recovered work that kills the process must not keep
        # the daemon unreachable (its attempts count at each open; see the README).
        runtime = _open(options)
    except StoreLocked as exc:
        raise ServeError(
            f"{exc} (is another `handoffs serve` running on {options.data}?)"
        ) from None
    except (ConfigError, StoreError, ShardLayoutError, ShardUnavailable) as exc:
        raise ServeError(str(exc)) from None
    signals = _Signals()
    deadline: float | None = None
    try:
        sock = _bind(options.host, options.port)
        try:
            deadline = _run(runtime, sock, token, options, signals, started)
        finally:
            sock.close()
    finally:
        remaining = options.shutdown_timeout if deadline is None else deadline - time.monotonic()
        runtime.close(timeout=max(remaining, 0.1))
        signals.restore()
    log_event(log, logging.INFO, "stopped", "daemon stopped")
    return 0


def _open(options: ServeOptions) -> Host:
    if options.shards is not None:
        return ShardedRuntime.open(
            options.config,
            options.data,
            options.shards,
            dispatch=False,
            options=LinkOptions(log_level=options.log_level, tracing=options.tracing),
        )
    if shard_dir(options.data, 0).is_dir():
        raise ServeError(
            f"{options.data} holds orchestrator shards (shard-0, ...): serve it with --shards N"
        )
    return Runtime.open(options.config, options.data, dispatch=False, **TUNING)


def _compact(data: Path) -> None:
    try:
        before, after = compact(data)
    except StoreLocked as exc:
        raise ServeError(f"{exc} (is another `handoffs serve` running on {data}?)") from None
    except StoreError as exc:
        raise ServeError(f"cannot compact the store: {exc}") from None
    log_event(
        log,
        logging.INFO,
        "compacted",
        f"compacted the store: {before} -> {after} bytes",
        before=before,
        after=after,
    )


def _run(
    runtime: Host,
    sock: socket.socket,
    token: str | None,
    options: ServeOptions,
    signals: _Signals,
    started: float,
) -> float:
    """Serve until a signal; return the shutdown deadline (monotonic)."""
    port = sock.getsockname()[1]
    hosts = allowed_hosts(options.host, port, options.allow_hosts)
    stopping = threading.Event()
    app = build_app(runtime, stopping=stopping, hosts=hosts, token=token)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            http="h11",
            # The API speaks HTTP only; upgrades are not taken (the Guard refuses them too).
            ws="none",
            loop="asyncio",
            lifespan="on",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=max(1, math.ceil(options.shutdown_timeout)),
        )
    )
    signals.server = server
    signals.install()
    # Off the main thread uvicorn installs no signal handlers: the main thread keeps them.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="handoffs-http", daemon=True
    )
    thread.start()
    wait_until = time.monotonic() + _STARTUP_SECONDS
    while not server.started and thread.is_alive() and not signals.stop.is_set():
        if time.monotonic() > wait_until:
            break
        time.sleep(0.01)
    if not server.started and not signals.stop.is_set():
        server.should_exit = True
        thread.join(5)
        raise ServeError("the HTTP server did not start; see the log above")
    host = f"[{options.host}]" if ":" in options.host else options.host or "0.0.0.0"
    if server.started:
        _log_listening(options, host, port, token is not None, started)
    runtime.start_dispatching()
    while not signals.stop.wait(0.25):
        if not thread.is_alive():
            log_event(log, logging.ERROR, "server.died", "the HTTP server stopped by itself")
            raise ServeError("the HTTP server stopped unexpectedly; see the log above")
    name = signal.Signals(signals.received[0]).name if signals.received else "stop"
    deadline = time.monotonic() + options.shutdown_timeout
    log_event(
        log,
        logging.INFO,
        "stopping",
        f"{name}: no new connections; draining requests and tasks",
        signal=name,
        timeout=options.shutdown_timeout,
    )
    stopping.set()
    server.should_exit = True
    thread.join(max(deadline - time.monotonic(), 0.0) + 1.0)
    if thread.is_alive():
        server.force_exit = True
        thread.join(2.0)
    return deadline


def _log_listening(
    options: ServeOptions, host: str, port: int, has_token: bool, started: float
) -> None:
    log_event(
        log,
        logging.INFO,
        "listening",
        f"serving on http://{host}:{port}",
        url=f"http://{host}:{port}",
        host=options.host,
        port=port,
        token_required=has_token,
        wildcard=is_wildcard(options.host),
        config=str(options.config),
        data=str(options.data),
        startup_seconds=round(time.monotonic() - started, 3),
    )
