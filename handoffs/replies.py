"""The runtime's boundary for errors and answers: only our own types come out.

The orchestrator answers a request by setting the ``pykka.Future`` in its message, on its own
thread, once the answer is durable. :class:`Reply` is such a future that hands the answer on
to a :class:`concurrent.futures.Future` (what :meth:`Runtime.submit_async` returns), turning
any error that is not ours into one of ours on the way (:func:`ours`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import queue
import sys
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import pykka

from handoffs.actors.errors import InternalError, RuntimeStopped, RuntimeTimeout
from handoffs.messages.errors import HandoffsError

__all__ = ["Reply", "boundary", "ours", "result"]

T = TypeVar("T")


def ours(exc: BaseException, call: str) -> BaseException:
    """``exc`` as the public API may raise it: ours as it is; a stopped actor as
    :class:`RuntimeStopped`; anything else (a bug of ours) as :class:`InternalError`."""
    if isinstance(exc, HandoffsError) or not isinstance(exc, Exception):
        return exc  # ours, or KeyboardInterrupt and friends, which must propagate as they are
    if isinstance(exc, pykka.ActorDeadError):
        closed = RuntimeStopped(f"{call}: the runtime has stopped")
        closed.__cause__ = exc
        return closed
    internal = InternalError(f"{call} failed inside the runtime: {type(exc).__name__}: {exc}")
    internal.__cause__ = exc
    return internal


@contextlib.contextmanager
def boundary(call: str, timeout: float | None = None) -> Iterator[None]:
    """Errors raised inside become ours (:func:`ours`); a pykka timeout, a
    :class:`RuntimeTimeout` naming ``call`` and ``timeout``."""
    try:
        yield
    except pykka.Timeout:
        raise RuntimeTimeout(call, timeout if timeout is not None else 0.0) from None
    except Exception as exc:
        translated = ours(exc, call)
        if translated is exc:
            raise
        raise translated from exc


def result(future: concurrent.futures.Future[T], call: str, timeout: float | None) -> T:
    """The future's value, waiting up to ``timeout`` seconds.

    Raises:
        RuntimeTimeout: no answer in time (what was asked may still happen).
    """
    try:
        return future.result(timeout)
    except TimeoutError:
        if future.done():
            raise  # the answer itself was an error, already ours
        raise RuntimeTimeout(call, timeout if timeout is not None else 0.0) from None


class Reply(pykka.Future[Any], Generic[T]):
    """A pykka future for the orchestrator to set, which sets ``target`` instead.

    ``convert`` turns the orchestrator's value into the caller's (on the orchestrator's
    thread, so it must be cheap). ``target`` is marked running first, so a caller cannot
    cancel a request the orchestrator already holds. Its done-callbacks run on the
    orchestrator's thread.
    """

    def __init__(
        self,
        call: str,
        target: concurrent.futures.Future[T],
        convert: Callable[[Any], T] = lambda value: value,
    ) -> None:
        super().__init__()
        self._call = call
        self._target = target
        self._convert = convert
        target.set_running_or_notify_cancel()

    def get(self, *, timeout: float | None = None) -> Any:
        return result(self._target, self._call, timeout)

    def set(self, value: Any | None = None) -> None:
        if self._target.done():
            raise queue.Full  # as pykka's ThreadingFuture: an answer is given once
        try:
            converted = self._convert(value)
        except Exception as exc:
            self._target.set_exception(ours(exc, self._call))
            return
        self._target.set_result(converted)

    def set_exception(self, exc_info: Any = None) -> None:
        if self._target.done():
            raise queue.Full
        exc = (exc_info or sys.exc_info())[1]  # pykka's rule: no exc_info, the one in flight
        if exc is None:
            exc = InternalError(f"{self._call} failed inside the runtime")
        self._target.set_exception(ours(exc, self._call))
