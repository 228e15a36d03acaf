"""The actor base of the runtime: a pykka thread actor whose inbox is a ``SimpleQueue``.

pykka's threading actors get a ``queue.Queue``: a Python-level mutex and two conditions per
put and get. Between the orchestrator and its agents every handoff crosses two inboxes, and
under load those locks are contended by threads that also contend for the GIL: a put cost
tens of microseconds. ``queue.SimpleQueue`` is implemented in C, is unbounded like pykka's
inbox, and provides everything pykka asks of an inbox (``put``, ``get``, ``empty``).
"""

from __future__ import annotations

import queue
from typing import Any

import pykka

__all__ = ["ThreadActor"]


class ThreadActor(pykka.ThreadingActor):
    """A ``pykka.ThreadingActor`` with a ``queue.SimpleQueue`` inbox."""

    @staticmethod
    def _create_actor_inbox() -> queue.SimpleQueue[Any]:
        return queue.SimpleQueue()
