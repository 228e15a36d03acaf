"""The sync agent actor: runs the user's agent code, in its own thread, one task at a time.

An agent is a plain callable ``def write(task: Task) -> Draft`` (or ``(task, kb)`` for the
read-only knowledge base), or a class with ``__call__`` and optional ``setup()`` /
``teardown()``; a class is instantiated once per actor, so each actor (and each restart) gets
fresh agent state. ``async def`` agents run on an event loop instead (``async_agent``).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

from handoffs.actors.handle import AgentHandle, TaskKey
from handoffs.actors.inbox import ThreadActor
from handoffs.actors.protocol import Perform
from handoffs.actors.work import AgentCall, Seat, make_call

__all__ = ["AgentActor", "AgentFactory", "is_async_agent", "make_agent_factory"]

log = logging.getLogger("handoffs.agent")

AgentFactory = Callable[[], Any]


def make_agent_factory(obj: object) -> AgentFactory:
    """A factory giving each actor its agent: a new instance for a class, else ``obj`` itself.

    Raises:
        TypeError: ``obj`` is neither a class nor a callable.
    """
    if isinstance(obj, type):
        cls: type[Any] = obj
        return cls
    if callable(obj):
        return lambda: obj
    raise TypeError(f"agent {obj!r} is neither a callable nor a class")


def is_async_agent(obj: object) -> bool:
    """Whether ``obj`` (a function, a class, or a factory's product) is an ``async def``
    agent: a coroutine function, or a class or object whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(obj):
        return True
    # On a class this finds the __call__ its body defines (its MRO comes before type's).
    return inspect.iscoroutinefunction(getattr(obj, "__call__", None))  # noqa: B004


class AgentActor(ThreadActor):
    """One member of a role's pool of threads.

    Exceptions from agent code are task failures (the orchestrator retries with backoff);
    the actor lives on. A ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``, ...) is
    contained too: reported as a fatal failure, then this actor stops and the supervisor
    starts a fresh one. It never reaches pykka, which would stop every actor.
    """

    # A hung agent cannot be killed in Python; a daemon thread at least lets the process exit.
    use_daemon_thread = True

    @classmethod
    def launch(cls, seat: Seat, factory: AgentFactory, *, prefetch: int = 4) -> AgentHandle:
        """Start an actor in ``seat``; return the orchestrator's handle on it (holding up to
        ``prefetch`` tasks, so the thread never idles waiting for the orchestrator)."""
        withdrawn: set[TaskKey] = set()
        ref = cls.start(seat, factory, withdrawn)
        return AgentHandle(
            ref, capacity=prefetch, cancels=False, send=ref.tell, withdraw=withdrawn.add
        )

    def __init__(
        self, seat: Seat, factory: AgentFactory, withdrawn: set[TaskKey] | None = None
    ) -> None:
        super().__init__()
        self._seat = seat
        self.role, self.index, self.name = seat.role, seat.index, seat.name
        self._factory = factory
        self._reporter = seat.reporter
        #: Attempts the orchestrator no longer wants (set from its thread): skipped here.
        self._withdrawn = withdrawn if withdrawn is not None else set()
        self._agent: Any = None
        self._call: AgentCall | None = None

    def on_start(self) -> None:
        """Build the agent and run its ``setup()``. Runs in the actor's own thread."""
        try:
            agent = self._factory()
            setup = getattr(agent, "setup", None)
            if callable(setup):
                setup()
            self._agent = agent
            self._call = make_call(agent, self._seat.context.knowledge)
        except BaseException as exc:  # any failure to start is a crash the supervisor handles
            log.error("agent %s failed to start: %r", self.name, exc)
            self._seat.report_exit(
                abnormal=True, reason=f"setup failed: {type(exc).__name__}: {exc}"
            )
            self._stop()

    def on_stop(self) -> None:
        """Run the agent's ``teardown()``. Runs in the actor's own thread."""
        teardown = getattr(self._agent, "teardown", None)
        if callable(teardown):
            try:
                teardown()
            except Exception as exc:
                log.warning("agent %s teardown failed: %r", self.name, exc)
        self._seat.report_exit(abnormal=False, reason="stopped")

    def on_failure(self, *exc_info: object) -> None:
        """An exception escaped this actor (a bug in the runtime, not the agent)."""
        self._seat.report_exit(abnormal=True, reason=f"actor failed: {exc_info[1]!r}")

    def on_receive(self, message: Perform) -> None:
        """Run one task and tell the orchestrator how it went. Runs in the actor's thread."""
        withdrawn = self._withdrawn
        if withdrawn:
            key = (message.task.task_id, message.task.attempt)
            if key in withdrawn:
                withdrawn.discard(key)
                return
        reporter = self._reporter
        started = time.perf_counter()
        try:
            call = self._call
            if call is None:
                raise RuntimeError(f"agent {self.name} is not started")
            output = call(reporter.begin(message))
        except Exception as exc:
            reporter.failed(message, exc, started, fatal=False)
            return
        except BaseException as exc:
            reporter.failed(message, exc, started, fatal=True)
            self._seat.report_exit(abnormal=True, reason=f"{type(exc).__name__} in agent code")
            self.stop_now()
            return
        reporter.done(message, output, started)

    def stop_now(self) -> None:
        """Stop after this message; queued tasks are dropped (the orchestrator re-sends them)."""
        self._stop()
