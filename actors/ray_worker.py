"""The Ray side of a role on Ray: the agent in a Ray actor, and what crosses the network.

A Ray actor (``SyncWorker`` for a sync agent, ``AsyncWorker`` for an ``async def`` one: Ray
runs an actor with ``async`` methods on its own asyncio loop) builds the agent once, runs
each task it is sent, validates the output against the stage's contract right there (the
same ``judge_output`` as a local agent), and returns an encoded ``Outcome``: only valid,
encoded output crosses back, never the agent's objects.

In: the task as msgpack bytes (its upstream outputs re-typed here from their contracts,
which travel by reference, like the agent), the contract, its name and the size cap.
Out: ``Outcome`` as msgpack bytes. This module imports no Ray: ``ray_agent`` wraps these
classes with ``ray.remote`` on the daemon's side, and a Ray worker unpickles them by name.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import time
from typing import Any

import msgspec
from handoffs.actors.agent import AgentFactory
from handoffs.actors.protocol import Perform
from handoffs.actors.signals import OutputInvalid, Unrecoverable
from handoffs.actors.work import AgentCall, invalid_feedback, judge_output, wants_knowledge
from handoffs.messages import Feedback, QualityMarkers, Task

__all__ = [
    "AsyncWorker",
    "Done",
    "Failed",
    "Outcome",
    "Rejected",
    "SyncWorker",
    "WireTask",
    "decode_outcome",
    "wire_task",
]


class Done(msgspec.Struct, frozen=True, tag=True):
    """A valid output: its encoded payload and markers (decoded again, at the daemon's
    boundary, before anything is stored)."""

    payload: bytes
    quality: QualityMarkers
    tags: list[str]
    seconds: float


class Rejected(msgspec.Struct, frozen=True, tag=True):
    """The output failed its contract (or the agent raised ``OutputInvalid``)."""

    feedback: Feedback
    seconds: float


class Failed(msgspec.Struct, frozen=True, tag=True):
    """The agent raised: a failure to retry, an unrecoverable one, or a fatal one (a
    ``BaseException``: the daemon then kills this Ray actor, a crashed agent)."""

    error: str
    seconds: float
    fatal: bool = False
    unrecoverable: bool = False


Outcome = Done | Rejected | Failed

_outcome_decoder = msgspec.msgpack.Decoder(Outcome)
_encoder = msgspec.msgpack.Encoder()
_task_decoder = msgspec.msgpack.Decoder(Task)


def decode_outcome(data: bytes) -> Outcome:
    """An ``Outcome`` from a Ray worker's bytes (raises ``msgspec.DecodeError`` if not one)."""
    outcome: Outcome = _outcome_decoder.decode(data)
    return outcome


class WireTask(msgspec.Struct, frozen=True):
    """One task as sent to a Ray worker: the encoded ``Task`` and what its bytes do not say
    (the contract types of its upstream outputs and of its own output)."""

    task: bytes
    inputs: dict[str, type[msgspec.Struct]]
    contract: type[msgspec.Struct]
    contract_name: str
    max_bytes: int


def wire_task(message: Perform, task: Task) -> WireTask:
    """``message`` (whose task, with its lease started, is ``task``) as sent to Ray."""
    inputs = {name: type(value) for name, value in task.inputs.items()}
    return WireTask(
        _encoder.encode(task), inputs, message.contract, message.contract_name, message.max_bytes
    )


def _unwire(wire: WireTask) -> Perform:
    task = _task_decoder.decode(wire.task)
    if wire.inputs:
        # Decoded as plain maps (``inputs`` is ``dict[str, Any]``): back into their contracts,
        # as a local agent receives them.
        inputs = {
            name: msgspec.convert(value, wire.inputs[name]) if name in wire.inputs else value
            for name, value in task.inputs.items()
        }
        task = msgspec.structs.replace(task, inputs=inputs)
    return Perform(task, wire.contract, wire.contract_name, max_bytes=wire.max_bytes)


def _judged(message: Perform, output: Any, started: float) -> bytes:
    seconds = time.perf_counter() - started
    checked, tags = judge_output(message, output)
    if isinstance(checked, Feedback):
        return _encoder.encode(Rejected(checked, seconds))
    return _encoder.encode(Done(checked.payload, checked.quality, tags, seconds))


def _failed(message: Perform, exc: BaseException, started: float, *, fatal: bool) -> bytes:
    seconds = time.perf_counter() - started
    if isinstance(exc, OutputInvalid):
        return _encoder.encode(Rejected(invalid_feedback(message, exc), seconds))
    error = f"{type(exc).__name__}: {exc}"
    unrecoverable = isinstance(exc, Unrecoverable)
    return _encoder.encode(Failed(error, seconds, fatal, unrecoverable))


def _bind(agent: Any, name: str) -> AgentCall:
    if wants_knowledge(agent):
        raise TypeError(
            f"agent {name} takes the knowledge base (task, kb); it stays on the daemon's node, "
            "so an agent on Ray takes (task) only"
        )
    call: AgentCall = agent
    return call


def _where() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


class SyncWorker:
    """A sync agent in a Ray actor: one task at a time (``max_concurrency=1``)."""

    def __init__(self, factory: AgentFactory, name: str) -> None:
        self._factory = factory
        self._name = name
        self._agent: Any = None
        self._call: AgentCall | None = None

    def ready(self) -> str:
        """Build the agent and run its ``setup()``; say where it runs."""
        agent = self._factory()
        setup = getattr(agent, "setup", None)
        if callable(setup):
            setup()
        self._call = _bind(agent, self._name)
        self._agent = agent
        return _where()

    def perform(self, wire: WireTask) -> bytes:
        """Run one task; its ``Outcome``, encoded."""
        message = _unwire(wire)
        started = time.perf_counter()
        try:
            assert self._call is not None, "ready() runs first"
            output = self._call(message.task)
        except Exception as exc:
            return _failed(message, exc, started, fatal=False)
        except BaseException as exc:  # the daemon kills this actor: a crashed agent
            return _failed(message, exc, started, fatal=True)
        return _judged(message, output, started)

    def teardown(self) -> None:
        """Run the agent's ``teardown()``."""
        teardown = getattr(self._agent, "teardown", None)
        if callable(teardown):
            teardown()


class AsyncWorker:
    """An ``async def`` agent in a Ray actor: up to ``max_concurrency`` tasks at once on the
    actor's asyncio loop; ``ray.cancel`` cancels one there."""

    def __init__(self, factory: AgentFactory, name: str) -> None:
        self._factory = factory
        self._name = name
        self._agent: Any = None
        self._call: AgentCall | None = None

    async def ready(self) -> str:
        """Build the agent and run its (sync or async) ``setup()``; say where it runs."""
        agent = self._factory()
        setup = getattr(agent, "setup", None)
        if callable(setup):
            result = setup()
            if inspect.isawaitable(result):
                await result
        self._call = _bind(agent, self._name)
        self._agent = agent
        return _where()

    async def perform(self, wire: WireTask) -> bytes:
        """Run one task on the loop; its ``Outcome``, encoded."""
        message = _unwire(wire)
        started = time.perf_counter()
        try:
            assert self._call is not None, "ready() runs first"
            output = self._call(message.task)
            if inspect.isawaitable(output):
                output = await output
        except asyncio.CancelledError:
            raise  # withdrawn (ray.cancel): nobody waits for it any more
        except Exception as exc:
            return _failed(message, exc, started, fatal=False)
        except BaseException as exc:  # the daemon kills this actor: a crashed agent
            return _failed(message, exc, started, fatal=True)
        return _judged(message, output, started)

    async def teardown(self) -> None:
        """Run the agent's (sync or async) ``teardown()``."""
        teardown = getattr(self._agent, "teardown", None)
        if callable(teardown):
            result = teardown()
            if inspect.isawaitable(result):
                await result
