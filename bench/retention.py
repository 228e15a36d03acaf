"""Retention under load: prune a large store while a runtime on it is saturated.

1. Build a store of ``--runs`` completed runs ended 40 days ago (each: two 1 KB Draft
   handoffs with tags, two done tasks, an idempotency key, three journal events, as the
   runtime writes them) plus ``--keep`` runs ended an hour ago, 5,000 runs per commit
   (``--store DIR --build-only`` builds once; ``--store DIR`` then measures on it).
2. Open a runtime on it (the bench pipeline, research -> write -> review -> publish) and
   keep ``--threads`` runs in flight (each thread submits a run and waits for it).
3. Phase A, ``--seconds`` long: the load alone. Phase B: the same load while the runtime's
   housekeeper prunes everything older than 30 days (the daemon's code path, small
   transactions with a pause between them). Phase C: the load alone again (the store grew
   meanwhile). Runs/s and commit latency of each phase.

Usage: python -m bench.retention [--runs 100000] [--keep 1000] [--threads 32] [--seconds 10]
       [--prune-seconds S] [--store DIR [--build-only]]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
from handoffs.messages import Draft, Handoff, Run, TaskRecord, encode_msgpack
from handoffs.store import Batch, RetentionPolicy, Store, StoreOptions

from bench.agents import PIPELINE, bench_config
from handoffs import Runtime
from handoffs.housekeeping import Housekeeper

DAY = 86_400.0


def _id(prefix: str, at: float, n: int) -> str:
    return f"{prefix}-{int(at * 1e9):016x}{n:08x}"


#: Runs per commit while building: big commits amortize the B-tree's page copies.
_BUILD_BATCH = 5000


def build(path: Path, runs: int, keep: int) -> float:
    """Write the store; return the seconds it took.

    Neither data nor meta pages are synced per commit (a crash while building loses the
    build, not the bench), only the file once at the end; the map starts large enough that
    it never grows while building.
    """
    started = time.perf_counter()
    now = time.time()
    payload = msgspec.Raw(encode_msgpack(Draft(title="t", body="x" * 1024)))
    size = max(1 << 30, (runs + keep) * 24_000)
    options = StoreOptions(sync=False, metasync=False, map_size=size, max_map_size=2 * size)
    with Store.open(path, options) as store:
        batch = Batch(check=False)
        for n in range(runs + keep):
            start = now - 40 * DAY + n * 1e-3 if n < runs else now - 3600 + n * 1e-6
            run_id = _id("run", start, n)
            latest = {}
            for s, stage in enumerate(("write", "review")):
                at = start + 1e-4 * (s + 1)
                task_id = _id("task", at, n)
                batch.put_task(
                    TaskRecord(
                        task_id=task_id,
                        run_id=run_id,
                        pipeline="old",
                        stage=stage,
                        role="r",
                        state="done",
                    ),
                    was=None,
                )
                art = _id("art", at, n)
                batch.put_artifact(
                    Handoff(
                        id=art,
                        run_id=run_id,
                        pipeline="old",
                        stage=stage,
                        kind="Draft",
                        next_action="",
                        produced_by="bench",
                        tags=["bench", f"m{n % 8}"],
                        payload=payload,
                    ),
                    new=True,
                )
                latest[stage] = art
                batch.event("task.done", run_id=run_id, stage=stage, task_id=task_id)
            batch.put_run(
                Run(
                    run_id=run_id,
                    pipeline="old",
                    state="completed",
                    created_at=start,
                    updated_at=start + 1,
                    idempotency_key=f"key-{n}",
                    latest=latest,
                ),
                was=None,
            )
            batch.put_idempotency(f"key-{n}", run_id, "d")
            batch.event("run.completed", run_id=run_id)
            if len(batch.runs) == _BUILD_BATCH:
                store.commit([batch])
                batch = Batch(check=False)
        if batch.runs:
            store.commit([batch])
    # Written back now, not during phase A: gigabytes of dirty pages flushing meanwhile
    # would slow every fsync the runtime's commits do.
    fd = os.open(path / "data.mdb", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - started


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def phase(runtime: Runtime, threads: int, until: threading.Event) -> dict[str, Any]:
    """Keep ``threads`` runs in flight until ``until``; runs/s and commit latency (ms)."""
    store = runtime._store
    latencies: list[float] = []
    hook = store.on_commit

    def record(seconds: float, batches: int) -> None:
        latencies.append(seconds)
        if hook is not None:
            hook(seconds, batches)

    store.on_commit = record
    done = [0] * threads

    def load(i: int) -> None:
        n = 0
        while not until.is_set():
            run_id = runtime.submit(PIPELINE, {"topic": f"t{i}-{n}"}).run_id
            runtime.wait(run_id, timeout=60)
            done[i] += 1
            n += 1

    workers = [threading.Thread(target=load, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    store.on_commit = hook
    ms = [x * 1000 for x in latencies]
    return {
        "seconds": round(elapsed, 2),
        "runs_per_s": round(sum(done) / elapsed, 1),
        "commits": len(ms),
        "commit_ms_p50": round(statistics.median(ms), 2) if ms else 0.0,
        "commit_ms_p99": round(_pct(ms, 0.99), 2),
        "commit_ms_max": round(max(ms, default=0.0), 2),
    }


def _measure(path: Path, args: argparse.Namespace) -> None:
    """Phases A, B and C on the store in ``path`` (its old runs are pruned)."""
    with Store.open(path) as store:
        before = store.statistics()
    old = before.entries["runs"]
    print(f"before: {old} runs, {before.map_used >> 20} MiB used")
    with Runtime.open(
        bench_config(concurrency=4), path, store_options=StoreOptions(map_size=1 << 30)
    ) as runtime:
        stop = threading.Event()
        timer = threading.Timer(args.seconds, stop.set)
        timer.start()
        print("A (load alone):", phase(runtime, args.threads, stop))
        keeper = Housekeeper(runtime._store, RetentionPolicy(completed=30 * DAY), 1e9)
        report: list[Any] = []
        pruned = threading.Event()

        def prune() -> None:
            started = time.perf_counter()
            report.append(keeper.run_pass())
            report.append(time.perf_counter() - started)
            pruned.set()

        pruner = threading.Thread(target=prune)
        pruner.start()
        if args.prune_seconds is not None:
            threading.Timer(args.prune_seconds, pruned.set).start()
        print("B (load while pruning):", phase(runtime, args.threads, pruned))
        if pruner.is_alive():
            # B ended first: the rest of the prune is not measured (the pass stops early).
            keeper.stop()
            pruner.join()
            print(f"B covered {report[0].runs / max(1, old - args.keep):.1%} of the prune")
        stop = threading.Event()
        timer = threading.Timer(args.seconds, stop.set)
        timer.start()
        print("C (load alone, after):", phase(runtime, args.threads, stop))
        r, took = report
        print(
            f"prune: {r.runs} runs, {r.handoffs} handoffs, {r.tasks} tasks, {r.journal} "
            f"journal entries in {took:.1f} s, {r.transactions} transactions, longest "
            f"{r.longest_transaction * 1000:.1f} ms"
        )
        after = runtime.store.statistics()
        problems = runtime.store.verify() or "clean"
        print(f"after: {after.entries['runs']} runs, verify: {problems}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000, help="old runs to prune")
    parser.add_argument("--keep", type=int, default=1_000, help="young runs to keep")
    parser.add_argument("--threads", type=int, default=32, help="runs in flight")
    parser.add_argument("--seconds", type=float, default=10.0, help="phase A's and C's length")
    parser.add_argument(
        "--prune-seconds",
        type=float,
        default=None,
        help="end phase B (and the prune) after this long (default: when the prune ends)",
    )
    parser.add_argument("--data-root", default=None, help="where the store goes")
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="use this store directory: built there if it holds none, pruned in place "
        "(copy it first to measure it twice)",
    )
    parser.add_argument("--build-only", action="store_true", help="build --store and stop")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="handoffs-retention-", dir=args.data_root) as d:
        path = args.store or Path(d) / "kb"
        if (path / "data.mdb").is_file():
            print(f"build: reusing {path}")
        else:
            took = build(path, args.runs, args.keep)
            print(f"build: {args.runs} old + {args.keep} young runs in {took:.1f} s")
        if not args.build_only:
            _measure(path, args)


if __name__ == "__main__":
    main()
