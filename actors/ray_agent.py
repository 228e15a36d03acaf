"""The agent actor of a role on Ray: a pykka actor in the daemon standing for one Ray actor.

The orchestrator and the store stay in the daemon; the agent runs in a Ray actor
(``ray_worker``), anywhere in the cluster. This actor is the orchestrator's ``AgentHandle``
on it, so supervision, leases and retries are the local ones:

- a sync agent's Ray actor runs one task at a time; this actor holds up to ``prefetch``
  more, so the Ray actor never waits for the orchestrator. An async agent's Ray actor runs up
  to ``concurrency`` tasks at once on its event loop.
- a task's lease starts when it is sent to the Ray actor (which has room for it at once).
  A withdrawn task (lease expired, run cancelled) is ``ray.cancel``-ed on an async agent,
  freeing its room; Ray cannot interrupt a running sync task any more than Python can
  interrupt a thread, so its late answer is stale, as a local thread's is.
- the Ray actor dying (``RayActorError``: ``ray.kill``, its process or node lost) or an
  agent raising a ``BaseException`` is this actor crashing: ``ActorExited(abnormal)``, the
  tasks it held go to another actor at the same attempt, and the supervisor restarts it (a
  fresh Ray actor) under the role's restart intensity, or marks the role down.

Threads: the pykka actor's thread sends tasks and reads results; Ray calls back on its own
thread when a result is ready, which only tells this actor, so results and the exit reach
the orchestrator in order, from one thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from functools import partial
from typing import Any

import msgspec
import pykka
from handoffs.actors.agent import AgentFactory
from handoffs.actors.checks import ValidOutput
from handoffs.actors.handle import AgentHandle, TaskKey
from handoffs.actors.inbox import ThreadActor
from handoffs.actors.protocol import Perform, TaskDone, TaskFailed
from handoffs.actors.ray_worker import (
    AsyncWorker,
    Done,
    Failed,
    Rejected,
    SyncWorker,
    decode_outcome,
    wire_task,
)
from handoffs.actors.work import Seat, end_detached
from handoffs.messages import RaySpec, msgpack_decoder

__all__ = ["RayAgentActor", "connect"]

log = logging.getLogger("handoffs.agent")

#: How long a stopping actor waits for its agent's ``teardown()`` before killing it.
_TEARDOWN_SECONDS = 5.0

_connect_lock = threading.Lock()
_remote_classes: dict[type, Any] = {}


def connect(spec: RaySpec) -> None:
    """Connect this process to Ray at ``spec.address``, once; a process already connected
    (a test's local cluster, a program's own ``ray.init``) stays connected where it is."""
    import ray

    with _connect_lock:
        if ray.is_initialized():
            return
        address = None if spec.address == "local" else spec.address
        ray.init(address=address, include_dashboard=False if address is None else None)


def _remote(cls: type) -> Any:
    """``ray.remote(cls)``, made once per class: each remote class is exported to the
    cluster when first used."""
    import ray

    with _connect_lock:
        remote = _remote_classes.get(cls)
        if remote is None:
            remote = _remote_classes[cls] = ray.remote(cls)
        return remote


class _Finished(msgspec.Struct, frozen=True):
    """Ray -> this actor: the attempt ``key`` sent as ``ref`` has an answer."""

    key: TaskKey
    ref: Any


class _Withdraw(msgspec.Struct, frozen=True):
    key: TaskKey


class RayAgentActor(ThreadActor):
    """One Ray actor of a role, as the orchestrator and the supervisor see it."""

    use_daemon_thread = True

    @classmethod
    def launch(
        cls,
        seat: Seat,
        factory: AgentFactory,
        spec: RaySpec,
        *,
        run_async: bool,
        concurrency: int,
        prefetch: int = 4,
    ) -> AgentHandle:
        """Start the actor in ``seat`` (its Ray actor starts on its thread); return the
        orchestrator's handle on it."""
        room = concurrency if run_async else 1
        ref = cls.start(seat, factory, spec, run_async, room)

        def withdraw(key: TaskKey) -> None:
            try:  # noqa: SIM105
                ref.tell(_Withdraw(key))
            except pykka.ActorDeadError:  # gone: nothing of it runs any more
                pass

        capacity = concurrency if run_async else prefetch
        return AgentHandle(
            ref, capacity=capacity, cancels=run_async, send=ref.tell, withdraw=withdraw
        )

    def __init__(
        self, seat: Seat, factory: AgentFactory, spec: RaySpec, run_async: bool, room: int
    ) -> None:
        super().__init__()
        self._seat = seat
        self.role, self.index, self.name = seat.role, seat.index, seat.name
        self._factory = factory
        self._spec = spec
        self._run_async = run_async
        #: Tasks the Ray actor runs at once.
        self._room = room
        self._reporter = seat.reporter
        self._worker: Any = None
        #: Held here until the Ray actor has room.
        self._waiting: deque[Perform] = deque()
        #: Sent to the Ray actor: the attempt -> (its result's ref, the task, when sent).
        self._sent: dict[TaskKey, tuple[Any, Perform, float, Any]] = {}

    # ----------------------------------------------------------------- actor thread

    def on_start(self) -> None:
        """Start the Ray actor and wait until its agent is set up. Runs in the actor's
        own thread; tasks sent meanwhile wait in its inbox."""
        import ray

        spec = self._spec
        try:
            connect(spec)
            remote = _remote(AsyncWorker if self._run_async else SyncWorker)
            self._worker = remote.options(
                num_cpus=spec.num_cpus,
                num_gpus=spec.num_gpus,
                max_concurrency=self._room,
                max_restarts=0,  # the supervisor restarts it, under the role's intensity
                runtime_env=spec.runtime_env or None,
            ).remote(self._factory, self.name)
            where = ray.get(self._worker.ready.remote(), timeout=spec.start_timeout)
        except Exception as exc:
            reason = _said(exc)
            if isinstance(exc, ray.exceptions.GetTimeoutError):
                reason = (
                    f"the Ray actor did not start within {spec.start_timeout:g}s "
                    f"(no node with num_cpus={spec.num_cpus:g}, num_gpus={spec.num_gpus:g}?)"
                )
            log.error("agent %s failed to start on Ray: %s", self.name, reason)
            self._kill()
            self._seat.report_exit(abnormal=True, reason=f"setup failed: {reason}")
            self._stop()
            return
        log.info("agent %s runs on Ray (%s)", self.name, where)

    def on_stop(self) -> None:
        """Run the agent's ``teardown()`` (briefly) and end the Ray actor. Runs in the
        actor's own thread."""
        if self._worker is not None:
            import ray

            try:
                ray.get(self._worker.teardown.remote(), timeout=_TEARDOWN_SECONDS)
            except Exception as exc:
                log.warning("agent %s teardown failed: %s", self.name, _said(exc))
            self._kill()
        self._seat.report_exit(abnormal=False, reason="stopped")

    def on_failure(self, *exc_info: object) -> None:
        """An exception escaped this actor (a bug in the runtime, not the agent)."""
        self._kill()
        self._seat.report_exit(abnormal=True, reason=f"actor failed: {exc_info[1]!r}")

    def on_receive(self, message: Any) -> None:
        """Handle a task, a withdrawal or an answer. Runs in the actor's thread."""
        match message:
            case Perform():
                self._waiting.append(message)
            case _Finished(key, ref):
                self._finished(key, ref)
            case _Withdraw(key):
                self._withdraw(key)
        self._send()

    # ----------------------------------------------------------------- the Ray actor

    def _send(self) -> None:
        """Send waiting tasks while the Ray actor has room; the lease starts now."""
        waiting, sent = self._waiting, self._sent
        while waiting and len(sent) < self._room and self._worker is not None:
            message = waiting.popleft()
            task, span = self._reporter.begin_detached(message)
            key = (task.task_id, task.attempt)
            ref = self._worker.perform.remote(wire_task(message, task))
            sent[key] = (ref, message, time.perf_counter(), span)
            ref.future().add_done_callback(partial(_tell, self.actor_ref, key, ref))

    def _withdraw(self, key: TaskKey) -> None:
        for message in self._waiting:
            if (message.task.task_id, message.task.attempt) == key:
                self._waiting.remove(message)
                return
        entry = self._sent.get(key)
        if entry is not None and self._run_async:
            import ray

            ray.cancel(entry[0])  # its answer (TaskCancelledError) frees the room

    def _finished(self, key: TaskKey, ref: Any) -> None:
        import ray

        entry = self._sent.get(key)
        if entry is None or entry[0] is not ref:
            return
        del self._sent[key]
        _, message, started, span = entry
        try:
            data = ray.get(ref, timeout=0)
        except ray.exceptions.TaskCancelledError:
            end_detached(span, "withdrawn")  # the orchestrator no longer waits for it
            return
        except ray.exceptions.RayActorError as exc:
            end_detached(span, "crashed", f"Ray actor died: {_said(exc)}")
            self._crash(f"Ray actor died: {_said(exc)}")
            return
        except ray.exceptions.RayError as exc:
            # Not the agent (its exceptions come back as outcomes): Ray could not run the
            # task, e.g. a contract that does not import on the worker. A failure to retry.
            if isinstance(getattr(exc, "cause", None), ray.exceptions.TaskCancelledError):
                end_detached(span, "withdrawn")
                return
            end_detached(span, "failed", f"Ray: {_said(exc)}")
            self._report_failure(message, f"Ray: {_said(exc)}", started)
            return
        self._report(message, data, started, span)

    def _report(self, message: Perform, data: bytes, started: float, span: Any) -> None:
        try:
            outcome = decode_outcome(data)
            report = self._outcome(message, outcome)
        except msgspec.MsgspecError as exc:
            error = f"undecodable answer from Ray: {exc}"
            end_detached(span, "failed", error)
            self._report_failure(message, error, started)
            return
        end_detached(span, *_traced(outcome))
        self._reporter.tell(report)
        if isinstance(outcome, Failed) and outcome.fatal:
            self._crash(f"{outcome.error.partition(':')[0]} in agent code")

    def _outcome(self, message: Perform, outcome: Done | Rejected | Failed) -> Any:
        """What to tell the orchestrator of ``outcome``.

        Raises:
            msgspec.MsgspecError: a Done whose payload its contract does not accept.
        """
        task, name = message.task, self.name
        if isinstance(outcome, Done):
            # The boundary: the payload is decoded (validated) again here, as the store
            # keeps only what its contract accepts.
            value = msgpack_decoder(message.contract).decode(outcome.payload)
            checked = ValidOutput(value, outcome.payload, outcome.quality)
            return TaskDone(
                task.task_id, task.attempt, name, checked, outcome.tags, outcome.seconds
            )
        if isinstance(outcome, Rejected):
            return TaskDone(task.task_id, task.attempt, name, outcome.feedback, [], outcome.seconds)
        return TaskFailed(
            task.task_id,
            task.attempt,
            name,
            outcome.error,
            outcome.seconds,
            fatal=outcome.fatal,
            unrecoverable=outcome.unrecoverable,
        )

    def _report_failure(self, message: Perform, error: str, started: float) -> None:
        task = message.task
        seconds = time.perf_counter() - started
        self._reporter.tell(TaskFailed(task.task_id, task.attempt, self.name, error, seconds))

    def _crash(self, reason: str) -> None:
        """The Ray actor is dead (or must be): a crashed agent. What this actor held goes
        to another at the same attempt (the orchestrator does that on ``ActorExited``)."""
        log.error("agent %s crashed: %s", self.name, reason)
        self._kill()
        self._waiting.clear()
        self._sent.clear()
        self._seat.report_exit(abnormal=True, reason=reason)
        self._stop()

    def _kill(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        import ray

        try:
            ray.kill(worker, no_restart=True)
        except Exception as exc:  # already gone, or Ray shut down under us
            log.debug("agent %s: ray.kill: %r", self.name, exc)


def _tell(me: pykka.ActorRef[Any], key: TaskKey, ref: Any, _future: object) -> None:
    """On Ray's thread: a result is ready; the actor's thread reads it."""
    try:  # noqa: SIM105
        me.tell(_Finished(key, ref))
    except pykka.ActorDeadError:  # crashed or stopped: the orchestrator sent its tasks on
        pass


def _traced(outcome: Done | Rejected | Failed) -> tuple[str, str | None]:
    """The outcome and error an attempt's span ends with."""
    if isinstance(outcome, Done):
        return "ok", None
    if isinstance(outcome, Rejected):
        return "invalid_output", None
    return ("fatal" if outcome.fatal else "failed"), outcome.error


def _said(exc: BaseException) -> str:
    """An exception in one line, at most 500 characters (Ray's carry whole tracebacks)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500]
