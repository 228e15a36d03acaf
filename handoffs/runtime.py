"""The Runtime: one object that opens the store, starts the actors, and takes work.

::

    with Runtime.open("pipelines.toml", "data/") as rt:
        run_id, created = rt.submit("content", {"topic": "vector databases"})
        run = rt.wait(run_id, timeout=30)

Threads: every method may be called from any thread. Writes go through the orchestrator
actor (the single writer); reads go straight to the store, which is the truth.

Errors: every public method raises only our own errors (``handoffs.HandoffsError``), each a
``CallerError`` (fix the call) or a ``RuntimeFault`` (the runtime could not; see
:mod:`handoffs.actors.errors` for the tree). Nothing of pykka, LMDB or msgspec comes out.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import pykka
from prometheus_client import CollectorRegistry

from handoffs.actors import (
    AgentFactory,
    ChildSpec,
    InvalidInput,
    Knowledge,
    Orchestrator,
    OrchestratorStatistics,
    RunNotFound,
    RuntimeClosed,
    RuntimeMetrics,
    RunWaiters,
    Supervisor,
    SupervisorStatistics,
    Timers,
    UnknownPipeline,
)
from handoffs.actors.protocol import Cancel, Drain, Resolve, Resume, Submit
from handoffs.config import LoadedConfig, load_config
from handoffs.edits import edited_output
from handoffs.evolution import migrate, stranded, stranded_message
from handoffs.housekeeping import Housekeeper, retention_policy
from handoffs.inputs import MAX_INPUT_BYTES, MAX_INPUT_DEPTH, encode_input
from handoffs.interpreter import GC_THRESHOLD, SWITCH_INTERVAL, TUNING, Tuned, tune
from handoffs.messages import (
    Config,
    ConfigError,
    Escalation,
    Handoff,
    RaySpec,
    ResolutionAction,
    Run,
    decode_msgpack,
)
from handoffs.replies import Reply, boundary, result
from handoffs.store import PruneReport, Store, StoreOptions, StoreStatistics, parse_duration
from handoffs.store_view import StoreView
from handoffs.versions import record_config_versions

if TYPE_CHECKING:
    from handoffs.llm.metrics import LLMMetrics

__all__ = [
    "GC_THRESHOLD",
    "MAX_INPUT_BYTES",
    "MAX_INPUT_DEPTH",
    "SWITCH_INTERVAL",
    "TUNING",
    "QueueWait",
    "Runtime",
    "RuntimeStatistics",
    "Submitted",
]

log = logging.getLogger("handoffs.runtime")


class Submitted(NamedTuple):
    """What :meth:`Runtime.submit` gives: the run's id, and whether this call created it
    (``False``: its idempotency key named a run made by an earlier call)."""

    run_id: str
    created: bool


def _submitted(value: tuple[str, bool]) -> Submitted:
    return Submitted(*value)


class QueueWait(msgspec.Struct, frozen=True, kw_only=True):
    """How long a role's tasks waited for an agent to start them (not agent time)."""

    started: int
    mean_seconds: float
    waiting: int


class RuntimeStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of the whole runtime."""

    store: StoreStatistics
    supervisor: SupervisorStatistics
    orchestrator: OrchestratorStatistics
    runs: dict[str, int]
    escalations_open: int
    queue: dict[str, QueueWait] = {}


def _llm_metrics(registry: CollectorRegistry) -> LLMMetrics:
    # Imported only for a config with a model role: the SDK takes a while to load.
    from handoffs.llm.metrics import LLMMetrics

    return LLMMetrics(registry)


def _factory(loaded: LoadedConfig, role: str, llm_metrics: LLMMetrics | None) -> AgentFactory:
    """The role's agent factory: its imported agent, or a model agent for an ``llm`` role."""
    spec = loaded.config.roles[role].llm
    if spec is None:
        return loaded.agents[role]
    from handoffs.llm.agent import LLMAgent

    stages = {
        (pname, sname): stage.output
        for pname, pipeline in loaded.config.pipelines.items()
        for sname, stage in pipeline.stages.items()
        if stage.role == role
    }
    return functools.partial(LLMAgent.for_role, role, spec, stages, loaded.registry, llm_metrics)


class Runtime:
    """The facade over the knowledge base, the orchestrator and the supervisor."""

    def __init__(
        self,
        loaded: LoadedConfig,
        store: Store,
        metrics: RuntimeMetrics,
        *,
        prefetch: int = 4,
        seed: int | None = None,
        dispatch: bool = True,
    ) -> None:
        self.config = loaded
        self._store = store
        self._view = StoreView(store)
        self._tuned = Tuned()
        self.metrics = metrics
        self.registry = metrics.registry
        self._waiters = RunWaiters()
        self._timers = Timers()
        self._closed = False
        self._close_lock = threading.Lock()
        store.on_commit = metrics.on_commit
        metrics.watch_store(store.map_usage, store.options.max_map_size)
        self.knowledge = Knowledge(store, loaded.registry)
        llm_metrics = _llm_metrics(metrics.registry) if loaded.llm_roles() else None
        specs = [
            ChildSpec(
                role=role,
                # A model agent on Ray counts its calls there, not in this registry.
                factory=_factory(loaded, role, None if spec.executor == "ray" else llm_metrics),
                concurrency=spec.concurrency,
                run_async=role in loaded.asynchronous,
                restart=spec.restart,
                max_restarts=spec.max_restarts,
                period=spec.period,
                backoff=spec.restart_backoff,
                ray=(spec.ray or RaySpec()) if spec.executor == "ray" else None,
            )
            for role, spec in loaded.config.roles.items()
        ]
        self._supervisor = Supervisor.start(
            specs, metrics, self._timers, seed=seed, knowledge=self.knowledge, prefetch=prefetch
        )
        try:
            self._orchestrator = Orchestrator.start(
                store,
                loaded.pipelines,
                metrics,
                self._timers,
                self._waiters,
                supervisor=self._supervisor,
                paused=not dispatch,
            )
            Supervisor.start_children(self._supervisor, self._orchestrator)
        except BaseException:
            # Stop every thread started so far: an embedding process must be able to exit.
            with contextlib.suppress(Exception):
                Supervisor.stop_children(self._supervisor, 0.0)
            with contextlib.suppress(Exception):
                self._supervisor.stop(timeout=2.0)
            self._timers.stop()
            raise
        # Retention ([store] retain_*): pruned on a thread of its own, in small transactions.
        store_spec = loaded.config.store
        self._housekeeper = Housekeeper(
            store, retention_policy(store_spec), parse_duration(store_spec.retention_every)
        )
        if self._housekeeper.active:
            self._housekeeper.start()

    @classmethod
    def open(
        cls,
        config: str | Path | Config | LoadedConfig,
        data_dir: str | Path,
        *,
        registry: CollectorRegistry | None = None,
        store_options: StoreOptions | None = None,
        prefetch: int = 4,
        seed: int | None = None,
        switch_interval: float | None = None,
        gc_threshold: int | None = None,
        dispatch: bool = True,
    ) -> Runtime:
        """Open the store in ``data_dir``, start the actors, and dispatch again every task the
        store holds as ready or running (crash recovery).

        Args:
            config: a TOML path, a decoded ``Config``, or a ``LoadedConfig``.
            data_dir: the knowledge base directory (created 0700 if missing).
            registry: where to register the metrics; a fresh registry if ``None``.
            store_options: LMDB settings; default from the config's ``[store]`` table.
            prefetch: tasks one agent actor may hold at once.
            seed: seeds the supervisor's restart jitter (for reproducible tests).
            dispatch: ``False`` opens it paused: runs are taken and recovered work is
                counted, but no agent gets a task until :meth:`start_dispatching` (the
                daemon opens its HTTP port first, so a task that kills the process cannot
                keep it unreachable).
            switch_interval: sets the process's GIL switch interval (``None``, the default:
                leave it). Applications running many runs at once want
                :data:`SWITCH_INTERVAL` (0.5 ms; ``handoffs serve``, the demo and the bench
                use it): with CPython's 5 ms a thread back from an fsync waits up to 5 ms
                for the GIL while another computes, starving the committer and the agents.
            gc_threshold: raises the garbage collector's youngest-generation threshold to at
                least this (``None``, the default: leave it; a higher one, or 0, stays).
                Applications under load want :data:`GC_THRESHOLD` (100,000): with CPython's
                700 the runtime's objects in flight set off a young collection every few
                decisions. Both are process-wide: :meth:`close` restores each one the runtime
                changed, if it still holds the runtime's value.

        Raises:
            ConfigError: the config is invalid, or so is ``switch_interval``/``gc_threshold``,
                or it strands runs in flight in the store (a stage they need is gone and no
                ``renamed`` entry says where they go; the message lists them).
            StorePathError: ``data_dir`` is a file, or cannot be made a directory.
            StoreLocked: another process has ``data_dir`` open.
        """
        with boundary("Runtime.open"):
            loaded = config if isinstance(config, LoadedConfig) else load_config(config)
            spec = loaded.config.store
            options = store_options or StoreOptions(
                map_size=spec.map_size, max_map_size=spec.max_map_size, sync=spec.sync
            )
            try:
                tuned = tune(switch_interval, gc_threshold)
            except ValueError as exc:
                raise ConfigError(f"Runtime.open: {exc}") from None
            try:
                store = Store.open(data_dir, options)
                try:
                    # Before any thread starts: runs at a renamed stage move, and a config
                    # that still strands runs is refused at once (it would kill the
                    # orchestrator while it loads them).
                    migrate(store, loaded.config)
                    found = stranded(store, loaded.config)
                    if found:
                        raise ConfigError(f"Runtime.open: {stranded_message(found)}")
                    record_config_versions(store, loaded.config)
                    metrics = RuntimeMetrics(registry or CollectorRegistry())
                    runtime = cls(
                        loaded, store, metrics, prefetch=prefetch, seed=seed, dispatch=dispatch
                    )
                except BaseException:
                    store.close()
                    raise
            except BaseException:
                tuned.restore()
                raise
            runtime._tuned = tuned
            return runtime

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- work

    def submit(
        self,
        pipeline: str,
        input: dict[str, Any],
        idempotency_key: str | None = None,
        *,
        timeout: float | None = 30.0,
    ) -> Submitted:
        """Start a run of ``pipeline`` on ``input``; return ``Submitted(run_id, created)``
        once the run and its first task are committed.

        With an ``idempotency_key``, the same key and request return the existing run
        (``created`` is False); the same key with another request raises.

        Raises:
            UnknownPipeline: no such pipeline.
            InvalidInput: ``input`` is not an object JSON can hold (a set, bytes, a datetime,
                NaN, a non-string key, nesting deeper than 64), or is over 1 MiB encoded;
                the error's ``path`` says where (``$.items[2]``).
            IdempotencyConflict: the key was used with a different request.
            InvalidKey: ``idempotency_key`` is not a valid key.
            StoreUnavailable: the store cannot take writes now; nothing was done.
            RuntimeTimeout: no answer within ``timeout`` (the run may still be created:
                retry with the same idempotency key).
            RuntimeClosed: the runtime is closing.
        """
        return result(self.submit_async(pipeline, input, idempotency_key), "submit", timeout)

    def submit_async(
        self, pipeline: str, input: dict[str, Any], idempotency_key: str | None = None
    ) -> concurrent.futures.Future[Submitted]:
        """Start a run without waiting: the future gives ``Submitted(run_id, created)`` once
        the run is committed, or raises what :meth:`submit` would. For callers that keep many
        runs in flight from one thread (``concurrent.futures.wait``, ``asyncio.wrap_future``
        take it). The future cannot be cancelled; its done-callbacks run on the runtime's
        orchestrator thread, so they must be quick and must not call the runtime and wait.

        Raises:
            UnknownPipeline: no such pipeline (at once, not through the future).
            InvalidInput: ``input`` cannot be stored (at once).
            RuntimeClosed: the runtime is closing.
        """
        self._require_open()
        if pipeline not in self.config.config.pipelines:
            raise UnknownPipeline(pipeline, list(self.config.config.pipelines))
        digest = hashlib.sha256(encode_input(pipeline, input)).hexdigest()
        future: concurrent.futures.Future[Submitted] = concurrent.futures.Future()
        reply = Reply("submit", future, _submitted)
        with boundary("submit"):
            self._orchestrator.tell(Submit(pipeline, input, idempotency_key, digest, reply))
        return future

    def resolve(
        self,
        escalation_id: str,
        action: ResolutionAction,
        feedback: str | None = None,
        *,
        output: dict[str, Any] | None = None,
        timeout: float | None = 30.0,
    ) -> Escalation:
        """A person's decision on an escalation: ``approve``, ``revise`` or ``cancel``.

        ``output`` ("edit and approve", with ``approve`` only): the person's own output for
        the stage in question, checked against its contract, recorded as that stage's
        handoff (produced by ``person``); the run goes on from there.

        Raises:
            EscalationNotFound: no such escalation.
            EscalationResolved: it was already resolved (nothing is applied twice).
            InvalidInput: ``action`` is not one of the three, or ``output`` does not fit the
                stage's contract (the message names the field).
        """
        self._require_open()
        if action not in ("approve", "revise", "cancel"):
            raise InvalidInput(f"action must be approve, revise or cancel, not {action!r}")
        edited = None
        if output is not None:
            if action != "approve":
                raise InvalidInput(f"output: an edited output comes with approve, not {action}")
            stored = self._store.get_escalation(escalation_id)
            edited = edited_output(self.config.pipelines, stored, escalation_id, output)
        future: concurrent.futures.Future[Escalation] = concurrent.futures.Future()
        with boundary("resolve"):
            self._orchestrator.tell(
                Resolve(escalation_id, action, feedback, Reply("resolve", future), edited)
            )
        return result(future, "resolve", timeout)

    def prune(self) -> PruneReport:
        """Apply the config's ``[store]`` retention now, on the calling thread (the runtime
        also does it on its own every ``retention_every``): finished runs past their age go,
        with their handoffs, tasks, escalations, keys and index entries, and the journal's
        old head. Commits go on meanwhile. Returns what was deleted.

        Raises:
            StoreError: the store failed; what was pruned stays pruned.
        """
        self._require_open()
        with boundary("prune"):
            return self._housekeeper.run_pass()

    def start_dispatching(self) -> None:
        """Start handing tasks to agents (after ``Runtime.open(..., dispatch=False)``)."""
        self._require_open()
        with boundary("start_dispatching"):
            self._orchestrator.tell(Resume())

    def cancel(
        self, run_id: str, reason: str = "cancelled", *, timeout: float | None = 30.0
    ) -> Run:
        """End a running or escalated run ``cancelled`` now. Its tasks are withdrawn (an async
        agent's is cancelled on its loop); their late results are dropped and counted.

        Returns the run as committed.

        Raises:
            RunNotFound: no such run.
            RunFinished: the run already ended (completed, failed, cancelled).
            StoreUnavailable: the store cannot take writes now.
        """
        self._require_open()
        future: concurrent.futures.Future[Run] = concurrent.futures.Future()
        with boundary("cancel"):
            self._orchestrator.tell(
                Cancel(run_id, (reason or "cancelled")[:2000], Reply("cancel", future))
            )
        return result(future, "cancel", timeout)

    def restart_role(self, role: str, *, timeout: float | None = 30.0) -> None:
        """Bring back a role the supervisor marked down; its escalated runs continue.

        Raises:
            RoleNotFound: no such role.
            RuntimeTimeout: the role's runs were not resumed within ``timeout``.
        """
        self._require_open()
        with boundary("restart_role", timeout):
            Supervisor.restart_role(self._supervisor, role, timeout)

    # ----------------------------------------------------------------- queries

    @property
    def store(self) -> StoreView:
        """The knowledge base, read-only (the orchestrator is its only writer)."""
        return self._view

    def get_run(self, run_id: str) -> Run | None:
        """The run as committed, or ``None``.

        Raises:
            InvalidKey: ``run_id`` is not a valid id.
        """
        with boundary("get_run"):
            return self._store.get_run(run_id)

    def handoffs(self, run_id: str) -> list[Handoff]:
        """A run's handoff history, in order (empty for an unknown run)."""
        with boundary("handoffs"):
            return self._store.run_handoffs(run_id)

    def payload(self, handoff: Handoff) -> Any:
        """A handoff's payload decoded into its contract type.

        Raises:
            ContractError: the handoff's contract is not in this runtime's registry.
            DecodeError: the payload does not decode into it.
        """
        with boundary("payload"):
            return decode_msgpack(handoff.payload, self.config.registry.get(handoff.kind))

    def wait(self, run_id: str, timeout: float | None = None) -> Run:
        """Wait until the run leaves ``running`` (completed, escalated, failed, cancelled).

        Returns the run as it is when it settles, or when ``timeout`` passes (then still
        ``running``: check ``run.state``; waiting is not an error).

        Raises:
            RunNotFound: no such run.
            InvalidKey: ``run_id`` is not a valid id.
        """
        with boundary("wait"):
            run = self._waiters.wait(run_id, self._store.get_run, timeout)
        if run is None:
            raise RunNotFound(run_id)
        return run

    def escalations(self, state: str | None = "open") -> list[Escalation]:
        """Escalations in ``state`` (all when ``None``), oldest first."""
        with boundary("escalations"):
            items: list[Escalation] = self._store.escalations(state=state, limit=1 << 62).items
        return items

    def statistics(self, *, timeout: float | None = 30.0) -> RuntimeStatistics:
        """Store, supervisor and orchestrator statistics, and runs by state.

        Raises:
            RuntimeTimeout: an actor did not answer within ``timeout``.
        """
        self._require_open()
        with boundary("statistics", timeout):
            supervisor = Supervisor.statistics_of(self._supervisor)
            orchestrator = self._orchestrator.proxy().statistics().get(timeout=timeout)
            store = self._store
            return RuntimeStatistics(
                store=store.statistics(),
                supervisor=supervisor,
                orchestrator=orchestrator,
                runs=store.count_runs(),
                escalations_open=store.count_escalations().get("open", 0),
                queue={r: self._queue_wait(r, orchestrator) for r in self.config.config.roles},
            )

    def _queue_wait(self, role: str, orchestrator: OrchestratorStatistics) -> QueueWait:
        read = self.registry.get_sample_value
        started = read("handoffs_task_queue_seconds_count", {"role": role}) or 0.0
        total = read("handoffs_task_queue_seconds_sum", {"role": role}) or 0.0
        return QueueWait(
            started=int(started),
            mean_seconds=total / started if started else 0.0,
            waiting=orchestrator.waiting.get(role, 0),
        )

    def health(self, *, timeout: float | None = 30.0) -> tuple[bool, list[str]]:
        """``(ok, reasons)``: not ok when a role is down, the store refuses writes (nothing is
        dispatched then), or the runtime is closed.

        Raises:
            RuntimeTimeout: an actor did not answer within ``timeout``.
        """
        if self._closed:
            return False, ["runtime is closed"]
        with boundary("health", timeout):
            reasons = [
                f"role {role.role} is down: {role.down_reason}"
                for role in Supervisor.statistics_of(self._supervisor).roles
                if not role.up
            ]
            try:
                degraded = self._orchestrator.proxy().statistics().get(timeout=timeout).degraded
            except pykka.ActorDeadError:
                # Nothing is decided or committed any more: every submit fails.
                return False, [*reasons, "the orchestrator stopped; restart the runtime"]
        if degraded is not None:
            reasons.append(f"the store refuses writes, nothing is dispatched: {degraded}")
        return not reasons, reasons

    # ----------------------------------------------------------------- shutdown

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _require_open(self) -> None:
        if self._closed:
            raise RuntimeClosed("the runtime is closed")

    def close(self, timeout: float = 10.0) -> None:
        """Stop dispatching, wait for tasks in flight, stop the actors (in reverse start
        order) and close the store, all within ``timeout`` seconds, however many agents hang:
        one deadline, of which stopping the agents keeps the last half (at most a second) and
        the drain gets the rest. A hung agent's thread is left behind. The runtime's own
        actors then get a short fixed allowance to stop before the store closes. Unfinished
        tasks stay in the store and are dispatched again by the next ``Runtime.open``.
        Idempotent."""
        import time

        deadline = time.monotonic() + timeout
        # A drain that times out must leave the agents time to stop: an async one cancels
        # what it still runs and tears down; a hung sync one is not waited past the deadline.
        drain_until = deadline - min(timeout / 2, 1.0)
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._housekeeper.stop()  # between two of its transactions, so before the drain
        drained: pykka.Future[Any] = pykka.ThreadingFuture()
        try:
            self._orchestrator.tell(Drain(drained))
            drained.get(timeout=max(0.0, drain_until - time.monotonic()))
        except pykka.Timeout:
            log.warning("close: tasks still in flight at the deadline; they stay queued")
        except pykka.ActorDeadError:
            pass
        except Exception:  # close must finish: the store still has to close
            log.exception("close: the drain failed; tasks in flight stay queued")
        with contextlib.suppress(pykka.ActorDeadError, pykka.Timeout):
            Supervisor.stop_children(self._supervisor, deadline)
        # The orchestrator and the supervisor are ours, not agent code: they stop at once
        # unless a commit is in flight, and must be gone before the store closes.
        allowance = max(deadline, time.monotonic()) + 2.0  # seconds, whatever timeout says
        for ref in (self._orchestrator, self._supervisor):
            with contextlib.suppress(pykka.ActorDeadError, pykka.Timeout):
                ref.stop(timeout=max(0.0, allowance - time.monotonic()))
        self._timers.stop()
        self._store.close()
        self._tuned.restore()
