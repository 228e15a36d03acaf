"""The async agent actor: one event loop running up to ``concurrency`` tasks of a role at once.

An ``async def`` agent (a coroutine function, or a class with ``async def __call__`` and
optional sync or async ``setup()`` / ``teardown()``) spends its time waiting on models and
tools, so a role of them runs as coroutines on one asyncio event loop, with no thread per
task. One loop per role: a role whose agent blocks or crashes its loop stalls only that role,
and the loop is the unit the supervisor restarts (a crashed loop is a crashed actor).

Threads: the pykka actor's thread starts and stops the loop; the loop runs on a thread of its
own. The orchestrator hands tasks straight to the loop (``deliver``, no pykka mailbox hop)
and withdraws them (``withdraw``: the asyncio task is cancelled, so a hung agent does not keep
its room). Results are told to the orchestrator from the loop's thread.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

import pykka
from handoffs.actors.agent import AgentFactory
from handoffs.actors.handle import AgentHandle, TaskKey
from handoffs.actors.inbox import ThreadActor
from handoffs.actors.protocol import Perform
from handoffs.actors.work import AgentCall, Seat, make_call

__all__ = ["AsyncAgentActor"]

log = logging.getLogger("handoffs.agent")


class AsyncAgentActor(ThreadActor):
    """A role's event loop. Exceptions from agent code are task failures; a
    ``BaseException`` fails its task, then crashes the loop: every other task on it is
    cancelled (and dispatched again by the orchestrator), and the supervisor restarts it."""

    use_daemon_thread = True

    @classmethod
    def launch(cls, seat: Seat, factory: AgentFactory, *, concurrency: int = 1) -> AgentHandle:
        """Start the role's loop in ``seat``; return the orchestrator's handle on it
        (``concurrency`` tasks in flight at once)."""
        loop = _Loop(seat.name)
        ref = cls.start(seat, factory, loop)
        return AgentHandle(
            ref, capacity=concurrency, cancels=True, send=loop.deliver, withdraw=loop.withdraw
        )

    def __init__(self, seat: Seat, factory: AgentFactory, loop: _Loop | None = None) -> None:
        super().__init__()
        self._seat = seat
        self.role, self.index, self.name = seat.role, seat.index, seat.name
        self._factory = factory
        self._reporter = seat.reporter
        self._loop = loop or _Loop(self.name)
        self._agent: Any = None
        self._call: AgentCall | None = None

    # ----------------------------------------------------------------- actor thread

    def on_start(self) -> None:
        """Start the loop and build the agent on it. Runs in the actor's own thread."""
        self._loop.start(self._perform, self._crash)
        try:
            self._loop.run(self._setup())
            self._loop.take_tasks()
        except BaseException as exc:
            log.error("agent %s failed to start: %r", self.name, exc)
            self._loop.close()
            self._seat.report_exit(
                abnormal=True, reason=f"setup failed: {type(exc).__name__}: {exc}"
            )
            self._stop()

    def on_stop(self) -> None:
        """Cancel what still runs (the orchestrator drained what it waited for), run the
        agent's ``teardown()``, and stop the loop. Runs in the actor's own thread."""
        if not self._loop.closed:
            try:
                self._loop.run(self._shutdown(), timeout=5)
            except Exception as exc:
                log.warning("agent %s did not shut down cleanly: %r", self.name, exc)
        self._loop.close()
        self._seat.report_exit(abnormal=False, reason="stopped")

    def on_failure(self, *exc_info: object) -> None:
        """An exception escaped this actor (a bug in the runtime, not the agent)."""
        self._loop.close()
        self._seat.report_exit(abnormal=True, reason=f"actor failed: {exc_info[1]!r}")

    def on_receive(self, message: Any) -> None:
        """Tasks reach the loop through the handle; a ``Perform`` told the pykka way works
        too. Runs in the actor's thread."""
        if isinstance(message, Perform):
            self._loop.deliver(message)

    # ----------------------------------------------------------------- loop thread

    async def _setup(self) -> None:
        agent = self._factory()
        setup = getattr(agent, "setup", None)
        if callable(setup):
            result = setup()
            if inspect.isawaitable(result):
                await result
        self._agent = agent
        self._call = make_call(agent, self._seat.context.knowledge)

    async def _shutdown(self) -> None:
        await self._loop.cancel_all(timeout=5)
        teardown = getattr(self._agent, "teardown", None)
        if callable(teardown):
            try:
                result = teardown()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                log.warning("agent %s teardown failed: %r", self.name, exc)

    async def _perform(self, message: Perform) -> None:
        reporter = self._reporter
        started = time.perf_counter()
        try:
            call = self._call
            if call is None:
                raise RuntimeError(f"agent {self.name} is not started")
            output = call(reporter.begin(message))
            if inspect.isawaitable(output):
                output = await output
        except asyncio.CancelledError:
            return  # withdrawn or shutting down: the orchestrator no longer waits for it
        except Exception as exc:
            reporter.failed(message, exc, started, fatal=False)
            return
        except BaseException as exc:
            reporter.failed(message, exc, started, fatal=True)
            self._loop.crash(f"{type(exc).__name__} in agent code")
            return
        reporter.done(message, output, started)

    def _crash(self, reason: str) -> None:
        """The loop crashed (called on its thread, once): every task on it is cancelled;
        tell who must know, and stop the actor."""
        self._seat.report_exit(abnormal=True, reason=reason)
        try:  # noqa: SIM105
            self.actor_ref.stop(block=False)
        except pykka.ActorDeadError:
            pass


class _Loop:
    """An asyncio event loop on a thread of its own, taking tasks from other threads.

    ``deliver`` and ``withdraw`` are called on the orchestrator's thread; everything else
    of the loop runs on the loop's thread.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=f"handoffs-loop-{name}")
        self._thread.daemon = True
        #: Tasks handed over and not yet started: appended by the orchestrator's thread,
        #: taken by the loop's (deque operations are atomic; one wake-up per batch).
        self._incoming: deque[Perform] = deque()
        #: True while a wake-up is scheduled, and until ``take_tasks``: tasks delivered
        #: before the agent is set up wait for it.
        self._wakeup_pending = True
        self._running: dict[TaskKey, asyncio.Task[None]] = {}
        self._perform: Callable[[Perform], Coroutine[Any, Any, None]] | None = None
        self._on_crash: Callable[[str], None] | None = None
        self.closed = False

    def start(
        self,
        perform: Callable[[Perform], Coroutine[Any, Any, None]],
        on_crash: Callable[[str], None],
    ) -> None:
        """Run the loop; each delivered task becomes ``perform(message)``."""
        self._perform = perform
        self._on_crash = on_crash
        self._thread.start()

    def take_tasks(self) -> None:
        """The agent is set up: start the tasks delivered so far, and every later one."""
        self._loop.call_soon_threadsafe(self._take_incoming)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        """Run ``coro`` on the loop and wait for it (from another thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def deliver(self, message: Perform) -> None:
        """Hand the loop a task.

        Raises:
            pykka.ActorDeadError: the loop is gone.
        """
        if self.closed:
            raise pykka.ActorDeadError(f"{self.name} is stopped")
        self._incoming.append(message)
        if not self._wakeup_pending:
            self._wakeup_pending = True
            try:
                self._loop.call_soon_threadsafe(self._take_incoming)
            except RuntimeError:  # closed meanwhile
                raise pykka.ActorDeadError(f"{self.name} is stopped") from None

    def withdraw(self, key: TaskKey) -> None:
        """Cancel the attempt ``key`` if it runs here."""
        try:  # noqa: SIM105
            self._loop.call_soon_threadsafe(self._cancel, key)
        except RuntimeError:  # the loop is closed: nothing runs any more
            pass

    def crash(self, reason: str) -> None:
        """On the loop's thread: stop taking tasks, cancel every one, report the crash."""
        if self.closed:
            return
        self.closed = True
        for task in list(self._running.values()):
            task.cancel()
        self._loop.call_soon(self._loop.stop)
        if self._on_crash is not None:
            self._on_crash(reason)

    async def cancel_all(self, timeout: float) -> None:
        """On the loop: cancel every task and wait up to ``timeout`` for them to end."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def close(self) -> None:
        """Stop the loop (from another thread), let cancelled tasks end, close it."""
        self.closed = True
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            try:  # noqa: SIM105
                self._loop.call_soon_threadsafe(self._loop.stop)
            except RuntimeError:
                pass
            self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    def _main(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        except BaseException as exc:  # the loop itself broke: a crashed actor
            log.error("agent %s: event loop failed: %r", self.name, exc)
            self.crash(f"event loop failed: {type(exc).__name__}: {exc}")
        finally:
            # Let cancelled tasks run their cleanup, so none is destroyed while pending.
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=1))
            loop.run_until_complete(loop.shutdown_asyncgens())

    def _take_incoming(self) -> None:
        self._wakeup_pending = False  # before taking: a task added from now on wakes us again
        incoming = self._incoming
        running = self._running
        perform = self._perform
        assert perform is not None
        create = self._loop.create_task
        while incoming:
            message = incoming.popleft()
            if self.closed:
                return
            key = (message.task.task_id, message.task.attempt)
            task = running[key] = create(perform(message))
            task.add_done_callback(partial(_forget, running, key))

    def _cancel(self, key: TaskKey) -> None:
        task = self._running.get(key)
        if task is not None:
            task.cancel()


def _forget(running: dict[TaskKey, asyncio.Task[None]], key: TaskKey, task: Any) -> None:
    if running.get(key) is task:
        del running[key]
