"""When the store refuses writes: the orchestrator stalls instead of looping.

A commit that fails, because the store cannot take writes (its map at ``max_map_size``, the
disk full, an I/O error) or for any other reason, voids what it held, but nothing is lost
and nothing runs twice: a caller's request (submit, resolve, cancel) is answered with
``StoreUnavailable`` (nothing of it was done), and every event that needed a decision (an
agent's result, a lease expiry, a role going down) is held, to be decided again. Memory is
reloaded from the store, but a task an agent still holds stays with it. While stalled,
nothing is dispatched: no agent is called while nothing it does could be stored. Callers
are answered at once with ``StoreUnavailable``.

With backoff, the orchestrator tries again once the store has room for what was refused
(``Store.room_for``, which writes nothing): it decides the held events one at a time, each
in its own commit. When all go in, the stall ends and dispatching resumes. An event whose
decision keeps failing while others go in holds a decision that cannot be stored (too
large, say): it is isolated, and its run fails with the reason.

Owned by the orchestrator and used only on its thread.
"""

from __future__ import annotations

import errno
import logging
from collections import deque
from typing import Any

from handoffs.store import StoreError, StoreFull, StoreIOError

__all__ = ["FIRST_RETRY_DELAY", "MAX_RETRY_DELAY", "STRIKES", "Stall", "refusal"]

log = logging.getLogger("handoffs.orchestrator")

#: Backoff of the retries while the store refuses writes.
FIRST_RETRY_DELAY = 0.05
MAX_RETRY_DELAY = 5.0
#: Rounds an event's decision may fail while others go in before it is isolated.
STRIKES = 2


def refusal(error: BaseException) -> str | None:
    """Why the store refused a commit, in words (``"disk full"`` for ENOSPC), or ``None``
    when ``error`` is not the store refusing writes (a bug: handled otherwise)."""
    if isinstance(error, StoreFull):
        return str(error)
    if isinstance(error, StoreIOError):
        cause = error.__cause__
        if getattr(cause, "errno", None) == errno.ENOSPC or "No space left" in str(error):
            return f"disk full: {error}"
        return str(error)
    if isinstance(error, StoreError):
        return None
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return f"disk full: {error}"
    return None


class Stall:
    """The orchestrator's state while the store refuses writes."""

    def __init__(self) -> None:
        #: Why, while stalled; ``None`` when the store takes writes.
        self.reason: str | None = None
        #: True while the held events are being decided again (one commit each).
        self.retrying = False
        #: Whether events are held and callers turned away (stalled, not retrying). A plain
        #: attribute: the orchestrator reads it once per message.
        self.holding = False
        #: Events to decide once the store takes writes, oldest first.
        self.held: deque[Any] = deque()
        #: Rounds in which an event's decision failed while others went in, by event.
        self.strikes: dict[int, int] = {}
        self.delay = FIRST_RETRY_DELAY
        self.failures = 0
        #: About how many bytes the refused commit wrote: the room a retry waits for.
        self.need = 0

    def retry(self, retrying: bool) -> None:
        """The held events are being decided again (``True``), or that is over."""
        self.retrying = retrying
        self.holding = self.reason is not None and not retrying

    def begin(self, reason: str, events: list[Any], need: int) -> None:
        """A commit of about ``need`` bytes failed for ``reason``: hold ``events`` (before
        what is held already)."""
        if self.reason is None:
            log.error("orchestrator: the store refuses writes, dispatching stops: %s", reason)
            self.delay = FIRST_RETRY_DELAY
            self.need = 0
        self.need = max(self.need, need)
        self.reason = reason
        self.holding = not self.retrying
        self.failures += 1
        self.held.extendleft(reversed(events))

    def backoff(self) -> float:
        """The delay before the next retry (doubling, capped)."""
        delay = self.delay
        self.delay = min(self.delay * 2, MAX_RETRY_DELAY)
        return delay

    def end(self) -> None:
        """The store takes writes again."""
        log.warning(
            "orchestrator: the store takes writes again after %d failed commits", self.failures
        )
        self.reason = None
        self.retrying = False
        self.holding = False
        self.need = 0
        self.strikes.clear()
        self.failures = 0
        self.delay = FIRST_RETRY_DELAY
