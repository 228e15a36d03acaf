"""Group commit: the decisions that arrive while a commit is in flight share the next write
transaction.

The shell adds each decision to the open group; :meth:`GroupCommitter.flush` hands the open
group over, committed on the shell's own thread when it is small (no thread hand-offs on an
unloaded hop) or else on the committer's thread, which tells the shell when it is done while
the shell decides the next group. One group is in flight at a time, in order. The committer
only writes batches: it never calls the decider, and a group's effects are the shell's to
perform once it is durable.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from handoffs.actors.decision import Decision
from handoffs.actors.tracehooks import HOOKS
from handoffs.store import Batch, Store

__all__ = ["EAGER_GROUP", "INLINE_GROUP", "Entry", "GroupCommitter", "commit"]

#: With this many decisions open and the committer free, they are committed at once, not when
#: the mailbox empties: under load the mailbox only empties once every run in flight has been
#: decided, and the whole window would move as one cohort, each fsync idling the GIL. Smaller
#: groups overlap one group's commit with deciding the next (16-64 measured alike on (a)).
EAGER_GROUP = 32
#: Groups of at most this many batches are committed on the shell's own thread.
INLINE_GROUP = 2

#: One decision of a group and the event it decided (``None``: the shell's own decision,
#: such as marking a waiting task running, which a reload makes again).
Entry = tuple[Any, Decision]


def commit(
    store: Store, batches: list[Batch], *, applied: Callable[[], None] | None = None
) -> BaseException | None:
    """Commit ``batches`` (if any); return why it failed, if it did (any error: the shell
    voids what the group decided and stalls)."""
    try:
        if batches:
            tracer = HOOKS.commits
            if tracer is None:
                store.commit(batches, applied=applied)
            else:  # a span around the commit, then one per handoff and finished run in it
                tracer.commit(store, batches, applied)
    except Exception as exc:
        return exc
    return None


class GroupCommitter:
    """The open group, the group in flight, and the thread that commits large groups.

    ``done(error)`` is called on the committer's thread when a group handed to it is
    committed; the shell turns it into a message to itself and then calls :meth:`finished`.
    """

    def __init__(self, store: Store, done: Callable[[BaseException | None], None]) -> None:
        self._store = store
        self._done = done
        #: Decisions not yet handed over.
        self.open: list[Entry] = []
        #: The group being committed on the thread, if any.
        self.committing: list[Entry] | None = None
        self._queue: queue.SimpleQueue[list[Batch] | None] = queue.SimpleQueue()
        self._applied = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="handoffs-committer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after the group it holds."""
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def add(self, event: Any, decision: Decision) -> None:
        self.open.append((event, decision))

    def due(self, idle: bool) -> bool:
        """Whether the open group should be handed over now: the committer is free, and the
        shell is idle (its mailbox empty) or the group is ``EAGER_GROUP`` large."""
        return (
            bool(self.open) and self.committing is None and (idle or len(self.open) >= EAGER_GROUP)
        )

    def take_open(self) -> list[Entry]:
        """The open group; a new one starts empty."""
        group, self.open = self.open, []
        return group

    def flush(self) -> tuple[list[Entry], BaseException | None] | None:
        """Hand the open group over (the committer must be free). A small group is committed
        here and returned with its error (``None``: committed); a large one goes to the
        thread and ``None`` is returned (``done`` follows)."""
        group = self.take_open()
        batches = [d.batch for _, d in group if d.batch]
        if len(batches) <= INLINE_GROUP:
            # Light load: commit here. The thread would cost three wake-ups (to it, back once
            # the puts are in, back when done), most of an unloaded hop, and little arrives
            # to be decided during this fsync anyway.
            return group, commit(self._store, batches)
        self.committing = group
        # Returns once the batches are in the write transaction, before its commit and
        # fsync: every LMDB put drops the GIL, so puts made while the shell runs would each
        # wait for it (a convoy). The shell waits out the puts, not the fsync.
        self._applied.clear()
        self._queue.put(batches)
        self._applied.wait()
        return None

    def commit_now(self) -> tuple[list[Entry], BaseException | None]:
        """Commit the open group here and now (the committer must be free)."""
        group = self.take_open()
        return group, commit(self._store, [d.batch for _, d in group if d.batch])

    def finished(self) -> list[Entry]:
        """The group the thread committed (its ``done`` came)."""
        group, self.committing = self.committing, None
        return group or []

    def _loop(self) -> None:
        while (batches := self._queue.get()) is not None:
            try:
                error = commit(self._store, batches, applied=self._applied.set)
            finally:
                self._applied.set()
            self._done(error)
