"""Store listings: time per page, filtered and not, at several store sizes.

Fills a store with ``N`` runs over ten pipelines (one of them rare: a run in a thousand) in
the states a long-lived daemon accumulates (mostly completed; 1% escalated, each with its open
escalation; 0.1% running), one handoff record per run, then pages through each listing the
HTTP API offers: the first page and one deep in the listing (its cursor taken from the
middle), ``--limit`` items a page. A listing that scans its whole index per page grows with
``N``; one that seeks grows with the page only.

Usage: python bench/listing.py [--runs 10000 100000] [--limit 50] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from handoffs.messages import Escalation, Handoff, Run, new_id
from handoffs.store import Batch, Store, StoreOptions

PIPELINES = [f"p{n}" for n in range(9)]


def _shape(n: int) -> tuple[str, str]:
    """The pipeline and state of run number ``n``."""
    pipeline = "rare" if n % 1000 == 7 else PIPELINES[n % len(PIPELINES)]
    if n % 1000 == 3:
        return pipeline, "running"
    if n % 100 == 5:
        return pipeline, "escalated"
    return pipeline, "completed"


def fill(store: Store, runs: int, per_commit: int = 2000) -> None:
    """``runs`` runs, their handoffs and escalations, in commits of ``per_commit`` runs."""
    for start in range(0, runs, per_commit):
        batch = Batch(check=False)
        for n in range(start, min(start + per_commit, runs)):
            pipeline, state = _shape(n)
            run_id = new_id("run")
            batch.put_run(Run(run_id=run_id, pipeline=pipeline, state=state), was=None)
            handoff = Handoff(
                id=new_id("art"),
                run_id=run_id,
                pipeline=pipeline,
                stage="write",
                kind="Draft",
                next_action="done",
                produced_by="writer/0",
            )
            batch.put_artifact(handoff, new=True)
            if state == "escalated":
                escalation = Escalation(
                    id=new_id("esc"),
                    run_id=run_id,
                    pipeline=pipeline,
                    stage="write",
                    reason="revisions_exhausted",
                    summary="bench",
                )
                batch.put_escalation(escalation, was=None)
        store.commit([batch])


def _ms_per_page(page: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        page()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def listings(store: Store, limit: int) -> dict[str, Callable[[str | None], Any]]:
    """Each listing, as a function of its cursor."""
    return {
        "runs": lambda c: store.runs(limit=limit, cursor=c),
        "runs state=completed": lambda c: store.runs(state="completed", limit=limit, cursor=c),
        "runs state=escalated": lambda c: store.runs(state="escalated", limit=limit, cursor=c),
        "runs pipeline=p0": lambda c: store.runs(pipeline="p0", limit=limit, cursor=c),
        "runs pipeline=rare": lambda c: store.runs(pipeline="rare", limit=limit, cursor=c),
        "runs state=running pipeline=p1": lambda c: store.runs(
            state="running", pipeline="p1", limit=limit, cursor=c
        ),
        "escalations open": lambda c: store.escalations(state="open", limit=limit, cursor=c),
        "escalations all": lambda c: store.escalations(state=None, limit=limit, cursor=c),
        "artifacts pipeline=p0": lambda c: store.artifacts(pipeline="p0", limit=limit, cursor=c),
        "artifacts kind=Draft": lambda c: store.artifacts(kind="Draft", limit=limit, cursor=c),
    }


def _middle_cursor(listing: Callable[[str | None], Any], limit: int) -> str | None:
    """A cursor about halfway through ``listing`` (walking it page by page once)."""
    cursors: list[str | None] = [None]
    while True:
        page = listing(cursors[-1])
        if page.cursor is None:
            break
        cursors.append(page.cursor)
    return cursors[len(cursors) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"ms per page of {args.limit} (median of {args.repeats}); first page / a middle page")
    for runs in args.runs:
        with tempfile.TemporaryDirectory() as tmp:
            options = StoreOptions(map_size=1 << 30, sync=False, metasync=False)
            with Store.open(Path(tmp) / "kb", options) as store:
                fill(store, runs)
                print(f"\n{runs:,} runs")
                for name, listing in listings(store, args.limit).items():
                    middle = _middle_cursor(listing, args.limit)
                    first = _ms_per_page(lambda f=listing: f(None), args.repeats)
                    deep = _ms_per_page(lambda f=listing, c=middle: f(c), args.repeats)
                    print(f"  {name:34} {first:8.3f} {deep:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
