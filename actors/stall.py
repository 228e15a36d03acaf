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
from typing import Any, Protocol

from handoffs.actors.errors import StoreUnavailable
from handoffs.actors.protocol import (
    ApprovalExpired,
    Cancel,
    Drain,
    LeaseExpired,
    QueueExpired,
    Resolve,
    RoleDown,
    RoleUp,
    Submit,
    TaskDone,
    TaskFailed,
)
from handoffs.store import Store, StoreError, StoreFull, StoreIOError

__all__ = ["FIRST_RETRY_DELAY", "MAX_RETRY_DELAY", "STRIKES", "Stall", "StalledShell", "refusal"]

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


class StalledShell(Protocol):
    """What :meth:`Stall.retry_held` asks of the orchestrator, on its thread."""

    def decide_again(self, event: Any) -> None:
        """Decide ``event`` into the (empty) open group."""

    def commit_now(self) -> BaseException | None:
        """Commit the open group now; its error, if it failed (its decisions are void)."""

    def reload_holding(self, events: list[Any]) -> None:
        """Reload memory; the agents whose answers are ``events`` still hold their tasks."""

    def isolate(self, event: Any, error: BaseException) -> None:
        """``event``'s decision cannot be stored: fail its run, with ``error``."""

    def resume(self) -> None:
        """Dispatch what waited."""

    def retry_later(self, delay: float) -> None:
        """Call back (``retry_held``, once there is room) after ``delay`` seconds."""


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

    def holds(self, message: Any) -> bool:
        """While the store refuses writes: a caller's request is answered at once (nothing of
        it is done), an event that needs a decision is held for later, a drain ends at once;
        ``True`` when ``message`` is dealt with so."""
        match message:
            case Submit() | Resolve() | Cancel():
                reply = message.reply
                if reply is not None:
                    error = StoreUnavailable(self.reason or "")
                    reply.set_exception(exc_info=(type(error), error, None))
                return True
            case (
                TaskDone()
                | TaskFailed()
                | LeaseExpired()
                | QueueExpired()
                | RoleDown()
                | RoleUp()
                | ApprovalExpired()
            ):
                self.held.append(message)
                return True
            case Drain(reply):
                reply.set(None)  # nothing can be stored: the store keeps what it has
                return True
        return False

    def retry_when_room(self, store: Store, shell: StalledShell) -> None:
        """Retry the held events if the store has room for what it refused (writing
        nothing to find out), else wait longer."""
        if self.reason is None:
            return
        try:
            short = store.room_for(self.need)
        except StoreError as exc:
            short = str(exc)
        if short is not None:
            self.reason = short
            shell.retry_later(self.backoff())
            return
        self.retry_held(shell)

    def retry_held(self, shell: StalledShell) -> None:
        """The store has room again: decide the held events again, each in its own commit.
        All in: the stall ends and dispatching resumes. An event that failed in ``STRIKES``
        rounds in which others went in is isolated (its run fails); when none goes in, try
        again later."""
        held, self.held = list(self.held), deque()
        self.retry(True)
        went_in = 0
        failed: list[tuple[Any, BaseException]] = []
        try:
            for i, event in enumerate(held):
                try:
                    shell.decide_again(event)
                except Exception:  # a bug deciding it: what is not decided waits again
                    self.held.extend([*(e for e, _ in failed), *held[i:]])
                    shell.retry_later(self.backoff())
                    raise
                error = shell.commit_now()
                if error is None:
                    went_in += 1
                else:
                    failed.append((event, error))
                    shell.reload_holding([event])
        finally:
            self.retry(False)
        if not failed:
            self.end()
            shell.resume()
            return
        events = [event for event, _ in failed]
        if went_in:
            for event, error in failed:
                strikes = self.strikes.get(id(event), 0) + 1
                self.strikes[id(event)] = strikes
                if strikes >= STRIKES:
                    events.remove(event)
                    shell.isolate(event, error)
        self.reason = refusal(failed[-1][1]) or self.reason
        self.held.extendleft(reversed(events))
        shell.retry_later(self.delay if went_in else self.backoff())
