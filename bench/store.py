"""The store's commit path alone, for a realistic handoff, at several group-commit sizes.

One handoff is one Batch: the Handoff artifact (a Draft with a 2 KB body as its msgpack
payload, three tags), the run's update (its state index follows; every fourth handoff completes
a run and a new one starts), the finished task marked done and the next task inserted, and two
journal events. A "group" is how many such batches go into one ``Store.commit`` call.

Every configuration (group size x sync) runs ``--repeats`` times, each in a fresh store
directory. Batches are built before the clock starts, so the time is ``Store.commit`` only;
the build cost per handoff is reported separately. Results: a Markdown table on stdout and
JSON in ``bench/results/store.json`` (or ``--json PATH``).

Usage: python bench/store.py [--quick] [--json PATH] [--repeats N]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lmdb
import msgspec
from handoffs.messages import Draft, Handoff, QualityMarkers, Run, TaskRecord, encode_msgpack
from handoffs.store import Batch, Store, StoreOptions

GROUPS = (1, 8, 64, 256)
CONCURRENT_RUNS = 16
STAGES = ("research", "write", "review", "publish")
BODY = ("All work and no play makes a handoff a dull record. " * 40)[:2048]


def id_of(prefix: str, n: int) -> str:
    return f"{prefix}-{n:024x}"


class Workload:
    """Makes the batches of successive handoffs across ``CONCURRENT_RUNS`` live runs."""

    def __init__(self) -> None:
        self.handoffs = 0
        self.next_run = 0
        self.next_task = 0
        # Per live run: (run number, stages done, current task number)
        self.live: list[tuple[int, int, int]] = []
        for _ in range(CONCURRENT_RUNS):
            self.live.append(self._start())
        self.pending_starts: list[tuple[Run, TaskRecord]] = []

    def _start(self) -> tuple[int, int, int]:
        run, task = self.next_run, self.next_task
        self.next_run += 1
        self.next_task += 1
        return run, 0, task

    def batch(self) -> Batch:
        slot = self.handoffs % CONCURRENT_RUNS
        run_n, done, task_n = self.live[slot]
        n = self.handoffs
        self.handoffs += 1
        run_id = id_of("run", run_n)
        stage = STAGES[done]
        now = time.time()
        b = Batch()
        draft = Draft(title=f"handoff {n}", body=BODY, keywords=["bench", "store"])
        b.put_artifact(
            Handoff(
                id=id_of("art", n),
                run_id=run_id,
                pipeline="blog",
                stage=stage,
                kind="Draft",
                next_action=f"{STAGES[(done + 1) % len(STAGES)]}: review the draft",
                produced_by="writer-0",
                quality=QualityMarkers(confidence=0.9, completeness=0.8),
                created_at=now,
                tags=["blog", stage, "draft"],
                payload=msgspec.Raw(encode_msgpack(draft)),
            )
        )
        done += 1
        finished = done == len(STAGES)
        b.put_run(
            Run(
                run_id=run_id,
                pipeline="blog",
                state="completed" if finished else "running",
                stage=None if finished else STAGES[done],
                input={"topic": f"topic {run_n}"},
                attempts={s: 1 for s in STAGES[:done]},
                latest={stage: id_of("art", n)},
                created_at=now,
                updated_at=now,
                handoffs=done,
            )
        )
        b.put_task(self._task(task_n, run_id, stage, "done", now))
        if finished:
            run_n, done, _ = self._start()
            run_id = id_of("run", run_n)
            b.put_run(Run(run_id=run_id, pipeline="blog", stage=STAGES[0], created_at=now))
        task_n = self.next_task
        self.next_task += 1
        b.put_task(self._task(task_n, run_id, STAGES[done], "ready", now))
        self.live[slot] = (run_n, done, task_n)
        b.event("handoff", run_id=run_id, stage=stage, artifact_id=id_of("art", n))
        b.event("task.ready", run_id=run_id, stage=STAGES[done], task_id=id_of("task", task_n))
        return b

    @staticmethod
    def _task(n: int, run_id: str, stage: str, state: Any, now: float) -> TaskRecord:
        return TaskRecord(
            task_id=id_of("task", n),
            run_id=run_id,
            pipeline="blog",
            stage=stage,
            role="writer",
            state=state,
            created_at=now,
            updated_at=now,
        )


def measure(group: int, sync: bool, handoffs: int, root: Path) -> dict[str, float]:
    """One repeat in a fresh store: seconds spent in commit, and build cost per handoff."""
    path = Path(tempfile.mkdtemp(prefix=f"g{group}-", dir=root))
    workload = Workload()
    started = time.perf_counter()
    groups = [[workload.batch() for _ in range(group)] for _ in range(handoffs // group)]
    build = time.perf_counter() - started
    store = Store.open(path, StoreOptions(sync=sync, metasync=sync))
    try:
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        for batches in groups:
            store.commit(batches)
        elapsed = time.perf_counter() - started
        gc.enable()
        assert store.verify() == []
        stats = store.statistics()
        assert stats.entries["artifacts"] == handoffs
    finally:
        gc.enable()
        store.close()
        shutil.rmtree(path)
    commits = len(groups)
    return {
        "seconds": elapsed,
        "commits_per_s": commits / elapsed,
        "handoffs_per_s": handoffs / elapsed,
        "build_us_per_handoff": build / handoffs * 1e6,
        "map_size": stats.map_size,
    }


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "values": values,
    }


def handoffs_for(group: int, quick: bool) -> int:
    """At least 2048 handoffs (quick: 512) and at least 16 commits (quick: 8)."""
    return max(512 if quick else 2048, group * (8 if quick else 16))


def fmt(s: dict[str, Any]) -> str:
    return f"{s['median']:,.0f} ({s['min']:,.0f}-{s['max']:,.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 repeats, fewer handoffs")
    parser.add_argument("--repeats", type=int, help="repeats per configuration (default 5)")
    parser.add_argument("--json", type=Path, help="default: bench/results/store.json")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    out = args.json or Path(__file__).resolve().parent / "results" / "store.json"

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="handoffs-bench-") as tmp:
        for sync in (True, False):
            for group in GROUPS:
                handoffs = handoffs_for(group, args.quick)
                runs = [measure(group, sync, handoffs, Path(tmp)) for _ in range(repeats)]
                row: dict[str, Any] = {
                    "sync": sync,
                    "group": group,
                    "handoffs": handoffs,
                    "commits": handoffs // group,
                    "repeats": repeats,
                    "commits_per_s": summary([r["commits_per_s"] for r in runs]),
                    "handoffs_per_s": summary([r["handoffs_per_s"] for r in runs]),
                    "build_us_per_handoff": summary([r["build_us_per_handoff"] for r in runs]),
                }
                results.append(row)
                print(
                    f"sync={sync!s:5} group={group:3}: {fmt(row['handoffs_per_s'])} handoffs/s",
                    file=sys.stderr,
                )

    print("| sync | group | handoffs | commits/s median (min-max) | handoffs/s median (min-max) |")
    print("|---|---:|---:|---:|---:|")
    for row in results:
        print(
            f"| {'on' if row['sync'] else 'off'} | {row['group']} | {row['handoffs']} "
            f"| {fmt(row['commits_per_s'])} | {fmt(row['handoffs_per_s'])} |"
        )
    build = statistics.median(r["build_us_per_handoff"]["median"] for r in results)
    print(f"\nBuilding one handoff's batch (not timed above): {build:.1f} us median")

    report = {
        "benchmark": "store.commit",
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "lmdb": lmdb.__version__,
            "lmdb_library": ".".join(map(str, lmdb.version())),
            "msgspec": msgspec.__version__,
        },
        "config": {
            "quick": args.quick,
            "repeats": repeats,
            "payload_bytes": len(encode_msgpack(Draft(title="handoff 0", body=BODY))),
            "concurrent_runs": CONCURRENT_RUNS,
        },
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
