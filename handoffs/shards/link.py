"""The front's side of one shard: its process, its connection, its calls in flight, and
starting it again when it dies.

A call is a future keyed by its id; one reader thread per shard answers them and passes
commit notices on. When the connection breaks (the process was killed, crashed, or
exited), every call in flight fails with :class:`ShardUnavailable` at once (its effect is
unknown: a submit may have committed, which is what idempotency keys are for), and the link
starts the process again after a backoff, up to ``max_restarts`` within ``period`` seconds
(the supervisor's rule for agents): past that the shard stays down and health says why.
The store is LMDB, so a shard killed with SIGKILL reopens with every acknowledged commit.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import logging
import multiprocessing
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec

from handoffs.daemon.logs import log_event
from handoffs.messages import Config, HandoffsError
from handoffs.shards.calls import NOTICE, ShardUnavailable, WireError, rebuild
from handoffs.shards.worker import ShardSettings

__all__ = ["LinkOptions", "ShardLink"]

log = logging.getLogger("handoffs.shards")

#: Ended runs, as a notice lists them: ``(run_id, event type)``.
Ended = list[tuple[str, str]]


@dataclass(frozen=True)
class LinkOptions:
    """How a shard is started and kept up."""

    #: Seconds a shard may take to open its store and say ``ready``.
    start_timeout: float = 60.0
    #: Restarts allowed within ``period`` seconds before the shard is left down.
    max_restarts: int = 5
    period: float = 60.0
    #: Seconds before the first restart; doubled for each further one within ``period``.
    backoff: float = 0.1
    #: The log level of the shard process (``None``: leave its logging unconfigured).
    log_level: str | None = None
    #: Export traces from the shard as the ``OTEL_*`` variables say.
    tracing: bool = False
    #: Tasks one agent actor may hold at once (``Runtime.open``'s ``prefetch``).
    prefetch: int = 4


class ShardLink:
    """One shard process and the calls to it. Thread-safe."""

    def __init__(
        self,
        shard: int,
        config: Path | Config,
        data: Path,
        options: LinkOptions,
        on_ended: Callable[[Ended], None],
    ) -> None:
        self.shard = shard
        self._config = config
        self._data = data
        self._options = options
        self._on_ended = on_ended
        # Where agents import from now (the daemon's --app-dir is on it while it opens).
        self._sys_path = list(sys.path)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # notified when it comes up or down
        self._ids = itertools.count(1)
        self._pending: dict[int, concurrent.futures.Future[Any]] = {}
        self._outgoing: list[tuple[int, str, tuple[Any, ...], dict[str, Any]]] = []
        self._sending = False
        self._conn: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._closing = threading.Event()
        self._restarts: deque[float] = deque()
        #: Why the shard is not serving (``None``: it is).
        self.down: str | None = "not started"
        self.pid: int | None = None
        #: The journal's last seq, as the shard last said.
        self.last_seq = 0
        #: Times the process was started and said ready.
        self.started = 0
        self.dispatching = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the process and wait until it is ready.

        Raises:
            HandoffsError: what the shard raised while opening (a config that strands its
                runs, a locked store), of its own type; or ShardUnavailable when it did not
                answer within ``start_timeout``.
        """
        ours, theirs = multiprocessing.Pipe()
        # A fresh interpreter running the worker module (not multiprocessing's spawn, which
        # imports the parent's __main__ again: a script without a main guard would run twice).
        options = self._options
        settings = ShardSettings(
            shard=self.shard,
            config=self._config if isinstance(self._config, Config) else str(self._config),
            data=str(self._data),
            fd=theirs.fileno(),
            log_level=options.log_level,
            sys_path=self._sys_path,
            tracing=options.tracing,
            prefetch=options.prefetch,
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "handoffs.shards", msgspec.json.encode(settings).decode()],
            pass_fds=[theirs.fileno()],
            # Out of the terminal's process group: ^C reaches the front, which stops shards.
            start_new_session=True,
        )
        theirs.close()
        try:
            if not ours.poll(self._options.start_timeout):
                raise ShardUnavailable(self.shard, "it did not start in time")
            kind, value = ours.recv()
        except (EOFError, OSError):
            code = process.wait()
            ours.close()
            raise ShardUnavailable(
                self.shard, f"it exited while starting (exit code {code})"
            ) from None
        except ShardUnavailable:
            process.kill()
            process.wait()
            ours.close()
            raise
        if kind != "ready":
            process.wait()
            ours.close()
            raise rebuild(value)
        with self._lock:
            self._conn, self._process = ours, process
            self.pid, self.last_seq = value
            self.down = None
            self.started += 1
            self._changed.notify_all()
        threading.Thread(
            target=self._read,
            args=(ours, process),
            name=f"handoffs-shard-{self.shard}-read",
            daemon=True,
        ).start()
        log_event(
            log,
            logging.INFO,
            "shard.started",
            f"shard {self.shard} started (pid {self.pid}) on {self._data}",
            shard=self.shard,
            pid=self.pid,
            data=str(self._data),
        )
        if self.dispatching:
            # A shard that dies again at once is its reader's to handle (and restart).
            with contextlib.suppress(HandoffsError):
                self.call("start_dispatching", timeout=10.0)

    def close(self, timeout: float) -> None:
        """Ask the shard to close (drain, stop, close its store) within ``timeout``; kill it
        if it has not exited shortly after."""
        self._closing.set()
        with self._lock:
            process, conn = self._process, self._conn
        if process is None or conn is None:
            return
        with contextlib.suppress(HandoffsError):
            self.call("close", timeout, timeout=timeout + 5.0)
        try:
            process.wait(timeout + 5.0)
        except subprocess.TimeoutExpired:
            log_event(
                log,
                logging.ERROR,
                "shard.killed",
                f"shard {self.shard} did not stop in time; killing it",
                shard=self.shard,
            )
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL the process (tests, chaos): the link notices and starts it again."""
        with self._lock:
            process = self._process
        if process is not None:
            process.kill()

    @property
    def restarts(self) -> int:
        """Times the process was started again after it died."""
        return max(0, self.started - 1)

    def wait_started(self, count: int, timeout: float | None = None) -> bool:
        """Wait until the process has been started ``count`` times in all (1: the first
        start; 2: back after one death) and is up; return whether it is."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self.started >= count and self.down is None, timeout
            )

    # ------------------------------------------------------------------ calls

    def call_async(self, method: str, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        """Send a call; the future gives its result or raises what the shard raised."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            conn = self._conn
            if conn is None or self.down is not None:
                future.set_exception(ShardUnavailable(self.shard, self.down or "not started"))
                return future
            call_id = next(self._ids)
            self._pending[call_id] = future
            self._outgoing.append((call_id, method, args, kwargs))
            if self._sending:
                return future  # the thread sending now takes it along
            self._sending = True
        self._flush(conn)
        return future

    def _flush(self, conn: Connection) -> None:
        """Send what callers queued, in batches, until nothing is left (combining: the
        first caller to find no send in progress sends for everyone who queues meanwhile,
        so a burst of calls costs a few writes and wakes the shard a few times)."""
        while True:
            with self._lock:
                batch, self._outgoing = self._outgoing, []
                if not batch:
                    self._sending = False
                    return
            try:
                conn.send(batch)
            except (OSError, ValueError):
                self._fail([message[0] for message in batch], "its connection broke")
            except Exception:  # an argument that does not pickle: send the others
                for message in batch:
                    try:
                        conn.send([message])
                    except (OSError, ValueError):
                        self._fail([message[0]], "its connection broke")
                    except Exception as exc:
                        self._fail([message[0]], f"the call could not be sent: {exc}")

    def _fail(self, call_ids: list[int], reason: str) -> None:
        with self._lock:
            futures = [self._pending.pop(i, None) for i in call_ids]
        for future in futures:
            if future is not None:
                future.set_exception(ShardUnavailable(self.shard, reason))

    def call(self, method: str, *args: Any, timeout: float | None = 30.0, **kwargs: Any) -> Any:
        """Call and wait up to ``timeout`` seconds.

        Raises:
            ShardUnavailable: the shard is down, or went down before answering.
            RuntimeTimeout: no answer in time.
            HandoffsError: what the shard raised, of its own type.
        """
        future = self.call_async(method, *args, **kwargs)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            from handoffs.actors.errors import RuntimeTimeout

            raise RuntimeTimeout(f"shard {self.shard}: {method}", timeout or 0.0) from None

    # ------------------------------------------------------------------ reader

    def _read(self, conn: Connection, process: subprocess.Popen[bytes]) -> None:
        while True:
            try:
                batch = conn.recv()
            except (EOFError, OSError):
                break
            for call_id, ok, value in batch:
                if call_id == NOTICE:
                    last_seq, ended = value
                    self.last_seq = max(self.last_seq, last_seq)
                    if ended:
                        self._on_ended(ended)
                    continue
                with self._lock:
                    future = self._pending.pop(call_id, None)
                if future is None:
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(rebuild(value) if isinstance(value, WireError) else value)
        try:
            code: int | str = process.wait(5.0)
        except subprocess.TimeoutExpired:  # its connection broke but it lives: end it
            process.kill()
            code = process.wait()
        self._lost(conn, f"the process exited (exit code {code})")

    def _lost(self, conn: Connection, reason: str) -> None:
        with self._lock:
            self._conn, self._process, self.pid = None, None, None
            self.down = "closed" if self._closing.is_set() else reason
            pending, self._pending = self._pending, {}
            self._outgoing, self._sending = [], False
            self._changed.notify_all()
        conn.close()
        for future in pending.values():
            future.set_exception(ShardUnavailable(self.shard, reason))
        if self._closing.is_set():
            return
        log_event(
            log,
            logging.ERROR,
            "shard.down",
            f"shard {self.shard} went down: {reason}; starting it again",
            shard=self.shard,
            reason=reason,
        )
        self._restart(reason)

    def _restart(self, reason: str) -> None:
        options = self._options
        while not self._closing.is_set():
            now = time.monotonic()
            while self._restarts and now - self._restarts[0] > options.period:
                self._restarts.popleft()
            if len(self._restarts) >= options.max_restarts:
                self.down = (
                    f"{reason}; it went down {len(self._restarts) + 1} times within "
                    f"{options.period:g}s, so it is left down (restart the daemon)"
                )
                log_event(
                    log,
                    logging.ERROR,
                    "shard.left_down",
                    f"shard {self.shard}: {self.down}",
                    shard=self.shard,
                )
                return
            delay = options.backoff * (2 ** len(self._restarts))
            self._restarts.append(now)
            if self._closing.wait(delay):
                return
            try:
                self.start()
            except HandoffsError as exc:
                reason = f"it could not start again: {exc}"
                self.down = reason
                log_event(
                    log,
                    logging.ERROR,
                    "shard.start_failed",
                    f"shard {self.shard}: {reason}",
                    shard=self.shard,
                )
                continue
            log_event(
                log,
                logging.WARNING,
                "shard.back",
                f"shard {self.shard} is back (pid {self.pid})",
                shard=self.shard,
                pid=self.pid,
            )
            return
