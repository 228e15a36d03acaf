"""``ShardedRuntime``: N orchestrator shards behind the interface of one runtime.

Each shard is a process holding a whole :class:`~handoffs.runtime.Runtime` (decider,
committer, agent pools) on its own LMDB environment, ``DATA/shard-K``. A run lives on one
shard for its life, and every id a shard makes names it (:mod:`handoffs.messages.ids`), so:

- a submit with an idempotency key goes to the shard its key hashes to (a retry lands on
  the same shard, where the key is remembered); one without a key goes round-robin to a
  shard that is up;
- a request about a run, escalation or handoff goes to the shard its id names;
- a run a handoff triggers starts on the handoff's shard, in the same commit (exactly once);
- listings, escalations and the journal merge across shards (:mod:`handoffs.shards.merged`).

A shard that dies (kill -9 included) is started again by its link; until it is back,
requests that need it get :class:`ShardUnavailable` and every other shard keeps serving.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import itertools
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from handoffs.actors.errors import UnknownPipeline
from handoffs.actors.waiters import RunWaiters
from handoffs.config import LoadedConfig, load_config
from handoffs.inputs import encode_input
from handoffs.messages import (
    CallerError,
    Config,
    Escalation,
    Handoff,
    HandoffsError,
    Run,
    decode_msgpack,
)
from handoffs.messages.ids import MAX_SHARDS
from handoffs.runtime import RuntimeStatistics, Submitted
from handoffs.shards.calls import ShardUnavailable
from handoffs.shards.figures import ShardCollector, merge_statistics
from handoffs.shards.link import Ended, LinkOptions, ShardLink
from handoffs.shards.merged import ShardedStore
from handoffs.store import StorePathError

__all__ = ["ShardLayoutError", "ShardedRuntime", "shard_dir"]

log = logging.getLogger("handoffs.shards")


class ShardLayoutError(CallerError):
    """The data directory does not fit the shard count (an unsharded store is there, or
    shards beyond the count hold runs that would be stranded)."""


def shard_dir(data: Path, shard: int) -> Path:
    """Where shard ``shard`` keeps its store."""
    return data / f"shard-{shard}"


class ShardedRuntime:
    """N shard processes, used like one :class:`~handoffs.runtime.Runtime` (the daemon's
    subset: submit, cancel, resolve, wait, the reads, health, statistics, metrics)."""

    def __init__(self, loaded: LoadedConfig, links: list[ShardLink]) -> None:
        self.config = loaded
        self._links = links
        self._store = ShardedStore(links)
        self._next = itertools.count()
        self._closed = False
        self._close_lock = threading.Lock()
        self._ended_lock = threading.Lock()
        self._ended_listeners: tuple[Callable[[str, str], None], ...] = ()
        self._waiters = RunWaiters()  # woken when runs end on any shard
        self.registry = CollectorRegistry()
        self.registry.register(ShardCollector(links))

    @classmethod
    def open(
        cls,
        config: str | Path | Config,
        data_dir: str | Path,
        shards: int,
        *,
        dispatch: bool = True,
        options: LinkOptions | None = None,
    ) -> ShardedRuntime:
        """Start ``shards`` shard processes on ``data_dir/shard-K`` and wait until each has
        opened its store (recovered its work, checked the config against its runs).

        Raises:
            ConfigError: the config is invalid, or strands runs on a shard (the message
                says which shard and which runs).
            ShardLayoutError: ``data_dir`` holds an unsharded store, or more shards.
            StoreLocked: another process has a shard's store open.
            ShardUnavailable: a shard did not start.
        """
        if not 1 <= shards <= MAX_SHARDS:
            raise ShardLayoutError(f"shards must be between 1 and {MAX_SHARDS}, not {shards}")
        loaded = load_config(config if isinstance(config, Config) else Path(config))
        data = Path(data_dir)
        _check_layout(data, shards)
        runtime = cls(loaded, [])
        links = [
            ShardLink(
                # The config as decoded here, not its file: a shard started again later runs
                # what its siblings run, even if the file changed meanwhile.
                k,
                loaded.config,
                shard_dir(data, k),
                options or LinkOptions(),
                runtime._ended,
            )
            for k in range(shards)
        ]
        runtime._links[:] = links
        with concurrent.futures.ThreadPoolExecutor(shards) as pool:
            started = [pool.submit(link.start) for link in links]
            errors = [f.exception() for f in started]
        failed = [(k, e) for k, e in enumerate(errors) if e is not None]
        if failed:
            runtime.close(timeout=5.0)
            shard, error = failed[0]
            if isinstance(error, HandoffsError):
                error.args = (f"shard {shard}: {error}",)
                raise error
            raise ShardUnavailable(shard, str(error))
        if dispatch:
            runtime.start_dispatching()
        return runtime

    def __enter__(self) -> ShardedRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def shards(self) -> list[ShardLink]:
        """The shards' links (their state: ``down``, ``pid``, ``restarts``)."""
        return list(self._links)

    @property
    def store(self) -> ShardedStore:
        """Every shard's store, read as one."""
        return self._store

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    # ------------------------------------------------------------------ work

    def shard_for_key(self, idempotency_key: str) -> int:
        """The shard a submit with this key goes to (stable across restarts)."""
        digest = hashlib.blake2b(idempotency_key.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % len(self._links)

    def _submit_link(self, idempotency_key: str | None) -> ShardLink:
        if idempotency_key is not None:
            return self._links[self.shard_for_key(idempotency_key)]
        for _ in range(len(self._links)):
            link = self._links[next(self._next) % len(self._links)]
            if link.down is None:
                return link
        return self._links[0]  # none is up: its call says why

    def submit_async(
        self, pipeline: str, input: dict[str, Any], idempotency_key: str | None = None
    ) -> concurrent.futures.Future[Submitted]:
        """Start a run on its shard; the future gives ``Submitted(run_id, created)`` once it
        is committed there, or raises what ``Runtime.submit`` would (or ShardUnavailable)."""
        self._check_submit(pipeline, input)
        return self._submit_link(idempotency_key).call_async(
            "submit", pipeline, input, idempotency_key
        )

    def _check_submit(self, pipeline: str, input: dict[str, Any]) -> None:
        # Here, not only on the shard: what cannot be stored must not reach the pipe either.
        self._require_open()
        if pipeline not in self.config.config.pipelines:
            raise UnknownPipeline(pipeline, list(self.config.config.pipelines))
        encode_input(pipeline, input)

    def submit(
        self,
        pipeline: str,
        input: dict[str, Any],
        idempotency_key: str | None = None,
        *,
        timeout: float | None = 30.0,
    ) -> Submitted:
        """Start a run and wait for its commit (see ``Runtime.submit``)."""
        self._check_submit(pipeline, input)
        link = self._submit_link(idempotency_key)
        submitted: Submitted = link.call(
            "submit", pipeline, input, idempotency_key, timeout=timeout
        )
        return submitted

    def _link_for(self, identifier: str, what: str, missing: HandoffsError) -> ShardLink:
        link = self._store.link_of(identifier, what)
        if link is None:
            raise missing
        return link

    def cancel(
        self, run_id: str, reason: str = "cancelled", *, timeout: float | None = 30.0
    ) -> Run:
        """Cancel a run on its shard (see ``Runtime.cancel``)."""
        from handoffs.actors.errors import RunNotFound

        self._require_open()
        link = self._link_for(run_id, "run id", RunNotFound(run_id))
        run: Run = link.call("cancel", run_id, reason, timeout=timeout)
        return run

    def resolve(
        self,
        escalation_id: str,
        action: Any,
        feedback: str | None = None,
        *,
        output: dict[str, Any] | None = None,
        timeout: float | None = 30.0,
    ) -> Escalation:
        """A person's decision, on the escalation's shard (see ``Runtime.resolve``)."""
        from handoffs.actors.errors import EscalationNotFound

        self._require_open()
        link = self._link_for(escalation_id, "escalation id", EscalationNotFound(escalation_id))
        escalation: Escalation = link.call(
            "resolve", escalation_id, action, feedback, output=output, timeout=timeout
        )
        return escalation

    def start_dispatching(self) -> None:
        """Let every shard hand tasks to its agents (a shard started again later does too)."""
        self._require_open()
        for link in self._links:
            link.dispatching = True
        for link in self._links:
            if link.down is None:
                link.call("start_dispatching", timeout=10.0)

    def restart_role(self, role: str, *, timeout: float | None = 30.0) -> None:
        """Bring back a role on every shard where it is down."""
        self._require_open()
        for link in self._links:
            link.call("restart_role", role, timeout=timeout)

    # ------------------------------------------------------------------ queries

    def get_run(self, run_id: str) -> Run | None:
        """The run as committed on its shard, or ``None``."""
        return self._store.get_run(run_id)

    def handoffs(self, run_id: str) -> list[Handoff]:
        """A run's handoff history, in order."""
        return self._store.run_handoffs(run_id)

    def payload(self, handoff: Handoff) -> Any:
        """A handoff's payload decoded into its contract type."""
        return decode_msgpack(handoff.payload, self.config.registry.get(handoff.kind))

    def escalations(self, state: str | None = "open") -> list[Escalation]:
        """Escalations in ``state`` over every shard, oldest first."""
        items: list[Escalation] = self._store.escalations(state=state, limit=1 << 62).items
        return items

    def wait(self, run_id: str, timeout: float | None = None) -> Run:
        """Wait until the run leaves ``running`` (see ``Runtime.wait``)."""
        from handoffs.actors.errors import RunNotFound

        run = self._waiters.wait(run_id, self.get_run, timeout)
        if run is None:
            raise RunNotFound(run_id)
        return run

    def on_run_end(self, listener: Callable[[str, str], None]) -> Callable[[], None]:
        """Call ``listener(run_id, event_type)`` when a run leaves ``running`` on any shard
        (on a shard's reader thread: be quick). Returns the function that unsubscribes."""
        with self._ended_lock:
            self._ended_listeners = (*self._ended_listeners, listener)

        def unsubscribe() -> None:
            with self._ended_lock:
                self._ended_listeners = tuple(x for x in self._ended_listeners if x is not listener)

        return unsubscribe

    def _ended(self, ended: Ended) -> None:
        for run_id, kind in ended:
            for listener in self._ended_listeners:
                try:
                    listener(run_id, kind)
                except Exception:  # a listener's bug must not stop this shard's reader
                    log.exception("an on_run_end listener raised")
        self._waiters.notify()

    def statistics(self, *, timeout: float | None = 30.0) -> RuntimeStatistics:
        """Every shard's statistics, summed (see ``Runtime.statistics``)."""
        futures = [link.call_async("statistics", timeout=timeout) for link in self._links]
        return merge_statistics([f.result(timeout) for f in futures])

    def health(self, *, timeout: float | None = 30.0) -> tuple[bool, list[str]]:
        """``(ok, reasons)`` over every shard; each reason names its shard."""
        if self._closed:
            return False, ["runtime is closed"]
        reasons: list[str] = []
        for link in self._links:
            if link.down is not None:
                reasons.append(f"shard {link.shard} is down: {link.down}")
                continue
            try:
                _, found = link.call("health", timeout=timeout)
            except HandoffsError as exc:
                reasons.append(f"shard {link.shard} did not answer: {exc}")
                continue
            reasons += [f"shard {link.shard}: {reason}" for reason in found]
        return not reasons, reasons

    # ------------------------------------------------------------------ shutdown

    def _require_open(self) -> None:
        if self._closed:
            from handoffs.actors.errors import RuntimeClosed

            raise RuntimeClosed("the runtime is closed")

    def close(self, timeout: float = 10.0) -> None:
        """Close every shard at once (each drains and closes its store within ``timeout``).
        Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        threads = [
            threading.Thread(target=link.close, args=(timeout,), daemon=True)
            for link in self._links
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout + 15.0)


def _check_layout(data: Path, shards: int) -> None:
    if data.exists() and not data.is_dir():
        raise StorePathError(str(data), "is not a directory")
    if (data / "data.mdb").exists():
        raise ShardLayoutError(
            f"{data} holds an unsharded store: serve it without --shards, or give the shards "
            "a new data directory"
        )
    present = sorted(
        int(p.name.removeprefix("shard-"))
        for p in (data.iterdir() if data.is_dir() else ())
        if p.name.startswith("shard-") and p.name.removeprefix("shard-").isdigit()
    )
    beyond = [k for k in present if k >= shards]
    if beyond:
        raise ShardLayoutError(
            f"{data} holds shards up to shard-{beyond[-1]}: their runs live there, so serve "
            f"it with --shards {beyond[-1] + 1} or more"
        )
    if not data.exists():
        data.mkdir(mode=0o700, parents=True)
