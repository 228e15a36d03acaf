"""A/B one bench row: the working tree's uncommitted change (B) against HEAD (A), or with
``--base REF`` everything since REF, committed or not (B) against REF (A).

Runs on one shared, noisy machine drift by 10-20% over minutes, more than most changes
move them; alternating A and B (ABBA order) and comparing medians is what tells a change
from the drift. A is made by reversing the diff in place between child processes (each
child imports the tree afresh), and the diff is always put back, also on errors.

Usage: python -m bench.ab [--rounds N] [--row a] [--duration S] [--base REF]
Refuses to run when the change touches binary files (``git apply`` cannot reverse them).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.plan import Settings, build_plan
from bench.runner import run_child

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("runs_per_s", "cpu_us_per_run", "hop_p50_ms")


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="A and B runs each")
    parser.add_argument("--row", default="a", help="a row id (see python -m bench --only)")
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds")
    parser.add_argument("--base", default=None, help="A is this commit (default: HEAD)")
    args = parser.parse_args(argv)
    # Against a base commit, results committed since (charts) are not the change measured.
    against = [args.base, "--", ".", ":(exclude)bench/results"] if args.base else []
    if any(line.startswith("-\t-\t") for line in _git("diff", "--numstat", *against).splitlines()):
        print("the change touches binary files; commit or stash them first", file=sys.stderr)
        return 2
    diff = _git("diff", *against)
    if not diff:
        print(f"no change to compare against {args.base or 'HEAD'}", file=sys.stderr)
        return 2
    row = next(r for r in build_plan(Settings(duration=args.duration)) if r.id == args.row)
    results: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    with tempfile.NamedTemporaryFile("w", suffix=".patch", delete=False) as f:
        f.write(diff)
    patch = f.name
    for i in range(args.rounds):
        for side in ("A", "B") if i % 2 == 0 else ("B", "A"):
            if side == "A":
                _git("apply", "-R", patch)
            try:
                result = run_child({"runner": row.runner, "params": row.params})
            finally:
                if side == "A":
                    _git("apply", patch)
            results[side].append(result)
            shown = ", ".join(f"{k} {result.get(k, float('nan')):,.1f}" for k in FIGURES)
            print(f"{side}: {shown}", flush=True)
    for side, runs in results.items():
        medians = {k: statistics.median(r.get(k, float("nan")) for r in runs) for k in FIGURES}
        shown = ", ".join(f"{k} {v:,.1f}" for k, v in medians.items())
        print(f"{side} median of {len(runs)}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
