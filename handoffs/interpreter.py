"""Process-wide interpreter settings the runtime may tune, and give back, when asked to.

A library must not retune the interpreter its host runs (DESIGN.md: GIL switch interval, GC):
:meth:`Runtime.open <handoffs.runtime.Runtime.open>` changes nothing unless asked, and the
daemon, the demo and the bench ask. What it changes it restores on close, but only where the
setting still holds the value it set: a later change by the application is the application's
(trio's ``KIManager`` restores its signal handler on the same condition).

Threads: :func:`tune` and :meth:`Tuned.restore` run on whichever thread opens and closes the
runtime; the settings are the process's, so two runtimes in one process share them: the one
that changed a setting restores it.
"""

from __future__ import annotations

import gc
import sys
from typing import Final, TypedDict

import msgspec

__all__ = ["GC_THRESHOLD", "SWITCH_INTERVAL", "TUNING", "Tuned", "Tuning", "tune"]

#: The GIL switch interval the daemon, the demo and the bench ask for (CPython's is 5 ms).
#: The runtime is many threads: with 5 ms, a thread that let go of the GIL for an fsync or
#: a queue waits up to 5 ms to get it back while another computes, which starves the
#: committer and the agents.
SWITCH_INTERVAL: Final = 0.0005
#: The youngest-generation GC threshold they ask for, at least (CPython's is 700). Under load
#: the runtime keeps a few hundred objects per run in flight, so 700 ran a young collection
#: every few decisions (an eighth of the CPU in the benchmark), and with thousands of runs in
#: flight 10,000 still let full collections of the large heap take a fifth of it; nearly all
#: of it is freed by reference counting anyway.
GC_THRESHOLD: Final = 100_000


class Tuning(TypedDict):
    """``Runtime.open``'s interpreter arguments, to pass as ``**TUNING``."""

    switch_interval: float
    gc_threshold: int


#: What an application that runs the runtime under load opts into (``handoffs serve``, the
#: demo, the bench): ``Runtime.open(config, data, **TUNING)``.
TUNING: Final[Tuning] = {"switch_interval": SWITCH_INTERVAL, "gc_threshold": GC_THRESHOLD}


class Tuned(msgspec.Struct, kw_only=True):
    """What :func:`tune` changed: each setting's value before, and the value it set."""

    switch_interval: tuple[float, float] | None = None
    gc_threshold: tuple[int, int] | None = None

    def restore(self) -> None:
        """Put back each setting that still holds the value :func:`tune` gave it. Idempotent."""
        if self.switch_interval is not None:
            before, ours = self.switch_interval
            if sys.getswitchinterval() == ours:
                sys.setswitchinterval(before)
            self.switch_interval = None
        if self.gc_threshold is not None:
            before_young, ours_young = self.gc_threshold
            young, *older = gc.get_threshold()
            if young == ours_young:
                gc.set_threshold(before_young, *older)
            self.gc_threshold = None


def tune(switch_interval: float | None, gc_threshold: int | None) -> Tuned:
    """Set the GIL switch interval to ``switch_interval`` and raise the youngest GC threshold
    to at least ``gc_threshold``; ``None`` leaves a setting alone. A higher threshold, or 0
    (the collector off), stays. Returns what changed, to :meth:`Tuned.restore` on close.

    Raises:
        ValueError: ``switch_interval`` is not positive, or ``gc_threshold`` is negative.
    """
    tuned = Tuned()
    if switch_interval is not None:
        if not switch_interval > 0:
            raise ValueError(f"switch_interval must be positive, not {switch_interval!r}")
        before = sys.getswitchinterval()
        sys.setswitchinterval(switch_interval)
        ours = sys.getswitchinterval()  # as CPython rounds it, to compare on restore
        if ours != before:
            tuned.switch_interval = (before, ours)
    if gc_threshold is not None:
        if gc_threshold < 0:
            raise ValueError(f"gc_threshold must not be negative, not {gc_threshold!r}")
        young, *older = gc.get_threshold()
        if 0 < young < gc_threshold:
            gc.set_threshold(gc_threshold, *older)
            tuned.gc_threshold = (young, gc_threshold)
    return tuned
