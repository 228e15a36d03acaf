"""A shard process: one :class:`~handoffs.runtime.Runtime` (decider, committer, agent pools)
on its own LMDB environment, answering the front over a multiprocessing connection.

Started by :class:`~handoffs.shards.link.ShardLink` as ``python -m handoffs.shards
SETTINGS`` (:class:`ShardSettings` as JSON) with one end of a ``multiprocessing.Pipe`` as
the file descriptor the settings name (a fresh interpreter: the front has threads, which
``fork`` would not carry over sanely, and ``spawn`` would import the front's ``__main__``
again). It numbers its ids with its shard (:func:`~handoffs.messages.ids.set_shard`), opens
the runtime paused, says ``ready`` (or why it could not open), then serves calls until the
front asks it to close or goes away: a closed connection (the front died) closes the
runtime, so no shard outlives its daemon.

Threads: the main thread reads calls; a submit is answered from its future's callback,
every other call runs on a small pool (a resolve waits for its commit); ONE sender thread
writes to the connection (replies and commit notices), so no two threads write at once.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Final

import msgspec
from prometheus_client import generate_latest

from handoffs.messages import Config, Event
from handoffs.messages.ids import set_shard
from handoffs.runtime import TUNING, Runtime
from handoffs.shards.calls import NOTICE, to_wire

__all__ = ["ENDING_EVENTS", "ShardSettings", "shard_main"]

log = logging.getLogger("handoffs.shards")

#: Journal events after which a run is no longer ``running`` (what ``wait`` waits for).
ENDING_EVENTS: Final = frozenset({"run.completed", "run.failed", "run.cancelled", "run.escalated"})
#: Calls served on the pool at once (each holds a thread while it waits for a commit).
_POOL: Final = 16
_STOP: Final = object()
#: Messages sent to the front in one write, at most.
_BATCH: Final = 1000


def _sendable(message: tuple[Any, ...]) -> tuple[Any, ...]:
    try:
        pickle.dumps(message)
    except Exception:
        return (message[0], False, to_wire(RuntimeError("the reply could not be sent")))
    return message


class ShardSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What a shard process is started with (its one argument, as JSON)."""

    shard: int
    #: The config file's path, or the config itself.
    config: str | Config
    data: str
    #: The file descriptor of its end of the pipe.
    fd: int
    log_level: str | None = None
    #: The front's ``sys.path`` when it opened (where agents import from, ``--app-dir``
    #: included), as ``multiprocessing``'s spawn would pass it on.
    sys_path: list[str] = []
    #: Export traces as the ``OTEL_*`` variables say (``serve --tracing``).
    tracing: bool = False
    #: Tasks one agent actor may hold at once (``Runtime.open``'s ``prefetch``).
    prefetch: int = 4


def shard_main(settings: ShardSettings, conn: Connection) -> None:
    """The shard process's work: open the runtime, say so, serve until told to stop."""
    # SIGINT goes to the whole process group on ^C: the front decides when shards stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if settings.log_level is not None:
        from handoffs.daemon.logs import configure_logging

        configure_logging(settings.log_level)
    sys.path[:0] = [entry for entry in settings.sys_path if entry not in sys.path]
    set_shard(settings.shard)
    try:
        if settings.tracing:
            from handoffs.tracing import enable_from_environment

            enable_from_environment()
        runtime = Runtime.open(
            settings.config,
            settings.data,
            dispatch=False,
            prefetch=settings.prefetch,
            **TUNING,
        )
    except Exception as exc:  # the front reports it
        conn.send(("failed", to_wire(exc)))
        conn.close()
        return
    conn.send(("ready", (os.getpid(), runtime.store.last_seq)))
    _Server(runtime, conn).serve()


class _Server:
    def __init__(self, runtime: Runtime, conn: Connection) -> None:
        self.runtime = runtime
        self.conn = conn
        self.outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.pool = concurrent.futures.ThreadPoolExecutor(_POOL, "handoffs-shard-call")
        store = runtime.store
        self.calls: dict[str, Callable[..., Any]] = {
            "cancel": runtime.cancel,
            "resolve": runtime.resolve,
            "start_dispatching": runtime.start_dispatching,
            "restart_role": runtime.restart_role,
            "health": runtime.health,
            "statistics": runtime.statistics,
            "metrics": lambda: generate_latest(runtime.registry),
            "get_run": store.get_run,
            "get_artifact": store.get_artifact,
            "get_escalation": store.get_escalation,
            "get_task": store.get_task,
            "run_handoffs": store.run_handoffs,
            "runs": store.runs,
            "escalations": store.escalations,
            "artifacts": store.artifacts,
            "journal": store.journal,
            "count_runs": store.count_runs,
            "count_escalations": store.count_escalations,
            "map_usage": store.map_usage,
        }

    def serve(self) -> None:
        sender = threading.Thread(target=self._send, name="handoffs-shard-send", daemon=True)
        sender.start()
        unsubscribe = self.runtime.store.subscribe(self._committed)
        timeout = 10.0
        try:
            closing = False
            while not closing:
                try:
                    batch = self.conn.recv()  # the calls the front had queued, in order
                except (EOFError, OSError):
                    log.warning("the front went away; closing the shard")
                    break
                for call_id, method, args, kwargs in batch:
                    if method == "close":
                        timeout = float(args[0])
                        self.outbox.put((call_id, True, None))
                        closing = True
                        break
                    self._dispatch(call_id, method, args, kwargs)
        finally:
            unsubscribe()
            self.runtime.close(timeout=timeout)
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.outbox.put(_STOP)
            sender.join(5.0)
            self.conn.close()

    def _dispatch(self, call_id: int, method: str, args: tuple[Any, ...], kwargs: Any) -> None:
        if method == "submit":
            # Answered from the commit itself: no thread waits while the run commits.
            try:
                future = self.runtime.submit_async(*args, **kwargs)
            except Exception as exc:
                self.outbox.put((call_id, False, to_wire(exc)))
                return
            future.add_done_callback(lambda f: self._answer(call_id, f))
            return
        call = self.calls.get(method)
        if call is None:
            self.outbox.put((call_id, False, to_wire(ValueError(f"no call {method!r}"))))
            return
        self.pool.submit(call, *args, **kwargs).add_done_callback(
            lambda f: self._answer(call_id, f)
        )

    def _answer(self, call_id: int, future: concurrent.futures.Future[Any]) -> None:
        exc = future.exception()
        if exc is None:
            self.outbox.put((call_id, True, future.result()))
        else:
            self.outbox.put((call_id, False, to_wire(exc)))

    def _committed(self, events: list[Event]) -> None:
        # On the committing thread under the store's write lock: hand off, never block.
        ended = [(e.run_id, e.type) for e in events if e.type in ENDING_EVENTS and e.run_id]
        self.outbox.put((NOTICE, "commit", (events[-1].seq if events else 0, ended)))

    def _send(self) -> None:
        # Everything queued goes in one message: under load, one pickle and one write carry
        # many replies and notices (and wake the front's reader once).
        stopping = False
        while not stopping:
            batch = [self.outbox.get()]
            while len(batch) < _BATCH:
                try:
                    batch.append(self.outbox.get_nowait())
                except queue.Empty:
                    break
            if batch[-1] is _STOP:
                batch.pop()
                stopping = True
            try:
                self.conn.send(batch)
            except (OSError, ValueError):  # the front is gone: nothing to tell any more
                return
            except Exception:  # a result that does not pickle: send the rest, say so
                log.exception("a reply could not be sent")
                self.conn.send([_sendable(message) for message in batch])


def main(argv: list[str]) -> None:
    """``python -m handoffs.shards SETTINGS_JSON`` (``handoffs/shards/__main__.py``)."""
    settings = msgspec.json.decode(argv[0], type=ShardSettings)
    shard_main(settings, Connection(settings.fd))
