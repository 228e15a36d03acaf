"""What crosses between the front and a shard process: calls, replies, notices, errors.

Messages travel over a :mod:`multiprocessing` connection (pickled) as lists of plain tuples
(each side sends whatever it has queued in one write):

- front -> shard: ``(call_id, method, args, kwargs)``; ``call_id`` 0 is never used.
- shard -> front: ``(call_id, ok, value)`` answers a call (``value`` is the result, or a
  :class:`WireError` when ``ok`` is false); ``(0, "commit", (last_seq, ended))`` after every
  commit, where ``ended`` lists the ``(run_id, state)`` of runs that left ``running``.

Our exceptions do not all survive pickling (their ``__init__`` takes the parts, ``args``
holds the message), so an error crosses as its class, message and attributes and is rebuilt
on the front with the same type: the daemon maps it to the same HTTP answer as in one process.
"""

from __future__ import annotations

import importlib
from typing import Any, Final, NamedTuple

from handoffs.messages import HandoffsError, RuntimeFault

__all__ = ["NOTICE", "ShardUnavailable", "WireError", "rebuild", "to_wire"]

#: The call id of a message the shard sends by itself (a commit notice).
NOTICE: Final = 0


class ShardUnavailable(RuntimeFault):
    """The shard a request belongs to is not running (it is being restarted, or it stopped
    after crashing too often). Nothing was done by this call unless it said otherwise; retry
    (a submit with the same idempotency key lands on the same shard)."""

    def __init__(self, shard: int, reason: str) -> None:
        super().__init__(f"shard {shard} is unavailable: {reason}")
        self.shard = shard
        self.reason = reason


class WireError(NamedTuple):
    """An exception as it crosses a connection."""

    module: str
    name: str
    message: str
    attributes: dict[str, Any]


def to_wire(exc: BaseException) -> WireError:
    """``exc`` as it crosses to the front: our own errors keep their type and attributes;
    anything else becomes a :class:`RuntimeFault` naming it (the shard logs it)."""
    kind = type(exc)
    if isinstance(exc, HandoffsError) and kind.__module__.startswith("handoffs."):
        attributes = {k: v for k, v in vars(exc).items() if _plain(v)}
        return WireError(kind.__module__, kind.__qualname__, str(exc), attributes)
    return WireError(
        RuntimeFault.__module__, RuntimeFault.__qualname__, f"{kind.__name__}: {exc}", {}
    )


def rebuild(error: WireError) -> HandoffsError:
    """The exception ``error`` stands for, of its own type (a :class:`RuntimeFault` when the
    type cannot be found in this process)."""
    kind: Any = None
    if error.module.startswith("handoffs."):
        try:
            kind = getattr(importlib.import_module(error.module), error.name, None)
        except ImportError:
            kind = None
    if not (isinstance(kind, type) and issubclass(kind, HandoffsError)):
        return RuntimeFault(error.message)
    # Not through __init__ (its parameters differ by type): the message and attributes as sent.
    exc: HandoffsError = kind.__new__(kind)
    BaseException.__init__(exc, error.message)
    vars(exc).update(error.attributes)
    return exc


def _plain(value: Any) -> bool:
    if isinstance(value, str | int | float | bool | bytes) or value is None:
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return False
