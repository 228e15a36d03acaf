"""Retention under load: prune a large store while a runtime on it is saturated.

1. Build a store of ``--runs`` completed runs ended 40 days ago (each: two 1 KB Draft
   handoffs with tags, two done tasks, an idempotency key, three journal events, as the
   runtime writes them) plus ``--keep`` runs ended an hour ago, 1,000 runs per commit.
2. Open a runtime on it (the bench pipeline, research -> write -> review -> publish) and
   keep ``--threads`` runs in flight (each thread submits a run and waits for it).
3. Phase A, ``--seconds`` long: the load alone. Phase B: the same load while the runtime's
   housekeeper prunes everything older than 30 days (the daemon's code path, small
   transactions with a pause between them). Phase C: the load alone again (the store grew
   meanwhile). Runs/s and commit latency of each phase.

Usage: python -m bench.retention [--runs 100000] [--keep 1000] [--threads 32] [--seconds 10]
"""

from __future__ import annotations

import argparse
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


def build(path: Path, runs: int, keep: int) -> float:
    """Write the store; return the seconds it took."""
    started = time.perf_counter()
    now = time.time()
    payload = msgspec.Raw(encode_msgpack(Draft(title="t", body="x" * 1024)))
    with Store.open(path, StoreOptions(sync=False, map_size=1 << 30)) as store:
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
            if len(batch.runs) == 1000:
                store.commit([batch])
                batch = Batch(check=False)
        if batch.runs:
            store.commit([batch])
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000, help="old runs to prune")
    parser.add_argument("--keep", type=int, default=1_000, help="young runs to keep")
    parser.add_argument("--threads", type=int, default=32, help="runs in flight")
    parser.add_argument("--seconds", type=float, default=10.0, help="phase A's length")
    parser.add_argument("--data-root", default=None, help="where the store goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="handoffs-retention-", dir=args.data_root) as d:
        path = Path(d) / "kb"
        took = build(path, args.runs, args.keep)
        print(f"build: {args.runs} old + {args.keep} young runs in {took:.1f} s")
        with Store.open(path) as store:
            before = store.statistics()
        print(f"before: {before.entries['runs']} runs, {before.map_used >> 20} MiB used")
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
            print("B (load while pruning):", phase(runtime, args.threads, pruned))
            pruner.join()
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


if __name__ == "__main__":
    main()
