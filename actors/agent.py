"""The agent actor: runs the user's agent code, in its own thread, one task at a time.

An agent is a plain callable ``def write(task: Task) -> Draft``, or a class with ``__call__``
and optional ``setup()`` / ``teardown()``; a class is instantiated once per actor, so each
actor (and each restart) gets fresh agent state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pykka
from handoffs.actors.checks import validate_output
from handoffs.actors.inbox import ThreadActor
from handoffs.actors.protocol import ActorExited, Perform, TaskDone, TaskFailed
from handoffs.messages import Result, Task

__all__ = ["AgentActor", "AgentFactory", "make_agent_factory"]

log = logging.getLogger("handoffs.agent")

AgentCallable = Callable[[Task], Any]
AgentFactory = Callable[[], AgentCallable]


def make_agent_factory(obj: object) -> AgentFactory:
    """A factory giving each actor its agent: a new instance for a class, else ``obj`` itself.

    Raises:
        TypeError: ``obj`` is neither a class nor a callable.
    """
    if isinstance(obj, type):
        cls: type[Any] = obj
        return cls
    if callable(obj):
        fn: AgentCallable = obj
        return lambda: fn
    raise TypeError(f"agent {obj!r} is neither a callable nor a class")


class AgentActor(ThreadActor):
    """One member of a role's pool.

    Exceptions from agent code are task failures (the orchestrator retries with backoff);
    the actor lives on. A ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``, ...) is
    contained too: reported as a fatal failure, then this actor stops and the supervisor
    starts a fresh one. It never reaches pykka, which would stop every actor.
    """

    # A hung agent cannot be killed in Python; a daemon thread at least lets the process exit.
    use_daemon_thread = True

    def __init__(
        self,
        role: str,
        index: int,
        factory: AgentFactory,
        orchestrator: pykka.ActorRef[Any],
        supervisor: pykka.ActorRef[Any] | None,
        generation: int = 0,
    ) -> None:
        super().__init__()
        self.role = role
        self.index = index
        self.name = f"{role}/{index}.{generation}"
        self._factory = factory
        self._orchestrator = orchestrator
        self._supervisor = supervisor
        self._agent: AgentCallable | None = None
        self._exit_reported = False

    def on_start(self) -> None:
        """Build the agent and run its ``setup()``. Runs in the actor's own thread."""
        try:
            agent = self._factory()
            setup = getattr(agent, "setup", None)
            if callable(setup):
                setup()
            self._agent = agent
        except BaseException as exc:  # any failure to start is a crash the supervisor handles
            log.error("agent %s failed to start: %r", self.name, exc)
            self._report_exit(abnormal=True, reason=f"setup failed: {type(exc).__name__}: {exc}")
            self._stop()

    def on_stop(self) -> None:
        """Run the agent's ``teardown()``. Runs in the actor's own thread."""
        teardown = getattr(self._agent, "teardown", None)
        if callable(teardown):
            try:
                teardown()
            except Exception as exc:
                log.warning("agent %s teardown failed: %r", self.name, exc)
        self._report_exit(abnormal=False, reason="stopped")

    def on_failure(self, *exc_info: object) -> None:
        """An exception escaped this actor (a bug in the runtime, not the agent)."""
        self._report_exit(abnormal=True, reason=f"actor failed: {exc_info[1]!r}")

    def _report_exit(self, *, abnormal: bool, reason: str) -> None:
        if self._exit_reported:
            return
        self._exit_reported = True
        message = ActorExited(self.role, self.index, self.name, abnormal, reason)
        self._tell(self._orchestrator, message)
        if self._supervisor is not None:
            self._tell(self._supervisor, message)

    @staticmethod
    def _tell(ref: pykka.ActorRef[Any], message: object) -> None:
        # A runtime that closed while this agent was still busy (a hung agent) is gone:
        # the result has nowhere to go, and the store still holds the task for next time.
        # (A bare try: contextlib.suppress costs 40 times as much, once per task.)
        try:  # noqa: SIM105
            ref.tell(message)
        except pykka.ActorDeadError:
            pass

    def on_receive(self, message: Perform) -> None:
        """Run one task and tell the orchestrator how it went. Runs in the actor's thread."""
        task = message.task
        agent = self._agent
        started = time.perf_counter()
        try:
            if agent is None:
                raise RuntimeError(f"agent {self.name} is not started")
            output = agent(task)
        except Exception as exc:
            self._failed(task, exc, started, fatal=False)
            return
        except BaseException as exc:
            self._failed(task, exc, started, fatal=True)
            self._report_exit(abnormal=True, reason=f"{type(exc).__name__} in agent code")
            self.stop_now()
            return
        seconds = time.perf_counter() - started
        quality = None
        tags: list[str] = []
        if isinstance(output, Result):
            quality, tags, output = output.quality, list(output.tags), output.output
        # Validated here, where the output comes in: on this thread, not the orchestrator's.
        checked = validate_output(output, message.contract, message.contract_name, quality)
        done = TaskDone(task.task_id, task.attempt, self.name, checked, tags, seconds)
        self._tell(self._orchestrator, done)

    def _failed(self, task: Task, exc: BaseException, started: float, *, fatal: bool) -> None:
        error = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - started
        failed = TaskFailed(task.task_id, task.attempt, self.name, error, seconds, fatal=fatal)
        self._tell(self._orchestrator, failed)

    def stop_now(self) -> None:
        """Stop after this message; queued tasks are dropped (the orchestrator re-sends them)."""
        self._stop()
