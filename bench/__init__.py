"""The benchmark suite: handoff throughput and latency against the floor and against peers.

Run it from a checkout with ``python -m bench`` (or ``handoffs bench``); ``--quick`` is the
smoke test. Each scenario runs in a fresh process (:mod:`bench.child`), ``--repeats`` times;
the parent (:mod:`bench.runner`) reports the median with the min-max spread as JSON, a
Markdown table and a PNG chart (:mod:`bench.report`).

Modules: :mod:`bench.work` (the 4-stage work every system does), :mod:`bench.agents` (that
work as handoffs agents), :mod:`bench.timing` (drivers and percentiles), :mod:`bench.ours`
(scenarios a, b, c), :mod:`bench.floors` (d, e), :mod:`bench.peers` (f, with
:mod:`bench.autogen_peer` and :mod:`bench.langgraph_peer`), :mod:`bench.io_bound` (g: the
I/O-bound case, async agents and model roles with N runs in flight; the peers' (g) rows are
in their modules), :mod:`bench.footprint` (threads, RSS and the ideal for g),
:mod:`bench.plan` (which scenario rows run, with what settings), :mod:`bench.runner`,
:mod:`bench.child`, :mod:`bench.report`, :mod:`bench.ab`.
"""

import sys
from pathlib import Path

__all__: list[str] = []

# Run from the checkout (`python -m bench`, and each row's child process), the checkout is
# first on sys.path, where the folder `handoffs/` would shadow the installed package (a wheel,
# or an editable install mapping `handoffs.actors` and the rest): it goes last instead.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT]
sys.path.append(str(_ROOT))
