"""Orchestrator shards, saturated: runs/s and CPU per run for 1, 2 and 4 shards, measured in
one invocation (rounds alternate the shard counts, so the machine's drift hits each alike).

Each measurement opens a fresh :class:`~handoffs.shards.ShardedRuntime` on the bench
pipeline (research -> write -> review -> publish, durable: sync on) with N shard processes,
keeps ``--window`` runs per shard in flight (row (a)'s 256) from this process (the front)
for ``--warmup`` then ``--duration`` seconds, and counts the runs that end in the measured
window. CPU per run is the CPU time of every process (the front and each shard, from
``/proc``) over the window, divided by the runs that ended in it. A run's e2e time is from
its submit to the front learning of its end (a commit notice), so it includes both pipe
crossings.

Usage: python -m bench.shards [--shards 1,2,4] [--rounds 3] [--duration 8] [--warmup 2]
                              [--window 256] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgspec

from bench.agents import PIPELINE, bench_config
from handoffs.shards import LinkOptions, ShardedRuntime

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime
    return total


class _Load:
    """Keeps ``window`` runs in flight; records each run's submit and end times."""

    def __init__(self, runtime: ShardedRuntime, window: int) -> None:
        self._runtime = runtime
        self._slots = threading.Semaphore(window)
        self._lock = threading.Lock()
        self._submitted: dict[str, float] = {}
        self._ended_early: dict[str, float] = {}
        self.finished: list[tuple[float, float]] = []  # (end, e2e)
        self.failed: dict[str, int] = {}
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def ended(self, run_id: str, kind: str) -> None:
        now = time.time()
        with self._lock:
            if kind != "run.completed":
                self.failed[kind] = self.failed.get(kind, 0) + 1
            began = self._submitted.pop(run_id, None)
            if began is None:  # its end beat the submit's answer here
                self._ended_early[run_id] = now
                return
            self.finished.append((now, now - began))
        self._slots.release()

    def _accepted(self, began: float, future: Any) -> None:
        if future.exception() is not None:
            self.errors.append(future.exception())
            self._slots.release()
            return
        run_id = future.result().run_id
        with self._lock:
            end = self._ended_early.pop(run_id, None)
            if end is None:
                self._submitted[run_id] = began
                return
            self.finished.append((end, end - began))
        self._slots.release()

    def offer(self) -> None:
        i = 0
        while not self.stop.is_set():
            self._slots.acquire()
            if self.stop.is_set():
                return
            began = time.time()
            future = self._runtime.submit_async(PIPELINE, {"topic": f"topic {i}"})
            future.add_done_callback(lambda f, b=began: self._accepted(b, f))
            i += 1


def measure(shards: int, window: int, warmup: float, duration: float) -> dict[str, Any]:
    """One saturated measurement with ``shards`` shards on a fresh store (the settings of
    row (a): one agent per role, prefetch 128, sync on)."""
    config = bench_config(concurrency=1)
    config = msgspec.structs.replace(
        config, store=msgspec.structs.replace(config.store, sync=True, map_size=1 << 30)
    )
    with tempfile.TemporaryDirectory(prefix="handoffs-bench-shards-") as d:
        runtime = ShardedRuntime.open(
            config, Path(d) / "kb", shards, options=LinkOptions(prefetch=128)
        )
        try:
            load = _Load(runtime, window)
            runtime.on_run_end(load.ended)
            pids = [os.getpid(), *(link.pid for link in runtime.shards if link.pid)]
            offer = threading.Thread(target=load.offer, daemon=True)
            begin = time.time()
            offer.start()
            load.stop.wait(warmup)
            cpu_begin, t_begin = _cpu_seconds(pids), time.time()
            load.stop.wait(duration)
            cpu_end, t_end = _cpu_seconds(pids), time.time()
            load.stop.set()
            offer.join(30)
        finally:
            runtime.close(timeout=30)
    if load.errors:
        raise load.errors[0]
    e2e = sorted(e for end, e in load.finished if t_begin <= end < t_end)
    runs = len(e2e)
    seconds = t_end - t_begin
    return {
        "shards": shards,
        "runs": runs,
        "runs_per_s": runs / seconds,
        "cpu_us_per_run": (cpu_end - cpu_begin) / runs * 1e6 if runs else None,
        "cpu_cores": (cpu_end - cpu_begin) / seconds,
        "e2e_p50_ms": e2e[len(e2e) // 2] * 1e3 if e2e else None,
        "e2e_p99_ms": e2e[int(len(e2e) * 0.99)] * 1e3 if e2e else None,
        "not_completed": dict(load.failed),
        "startup_s": t_begin - begin - warmup,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--window", type=int, default=256, help="runs in flight per shard")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    counts = [int(n) for n in args.shards.split(",")]
    results: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    for round_ in range(args.rounds):
        for n in counts:
            result = measure(n, args.window * n, args.warmup, args.duration)
            results[n].append(result)
            print(
                f"round {round_ + 1} shards {n}: {result['runs_per_s']:,.0f} runs/s, "
                f"{result['cpu_us_per_run'] or 0:,.0f} us CPU/run, "
                f"{result['cpu_cores']:.2f} cores, e2e p50 {result['e2e_p50_ms'] or 0:.1f} ms",
                flush=True,
            )
    base = statistics.median(r["runs_per_s"] for r in results[counts[0]])
    lines = [
        f"`python -m bench.shards --shards {args.shards} --rounds {args.rounds} "
        f"--duration {args.duration:g} --warmup {args.warmup:g} --window {args.window}` "
        f"on {os.cpu_count()} cores, Python {platform.python_version()}; medians (min-max).",
        "",
        "| shards | runs/s | vs first | CPU us/run | cores busy | e2e p50 ms | e2e p99 ms |",
        "|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for n in counts:
        rows = results[n]

        def cell(key: str, fmt: str, rows: list[dict[str, Any]] = rows) -> str:
            values = [r[key] for r in rows if r[key] is not None]
            if not values:
                return "-"
            return (
                f"{format(statistics.median(values), fmt)} "
                f"({format(min(values), fmt)}-{format(max(values), fmt)})"
            )

        ratio = statistics.median(r["runs_per_s"] for r in rows) / base
        lines.append(
            f"| {n} | {cell('runs_per_s', ',.0f')} | {ratio:.2f}x | "
            f"{cell('cpu_us_per_run', ',.0f')} | {cell('cpu_cores', '.2f')} | "
            f"{cell('e2e_p50_ms', '.1f')} | {cell('e2e_p99_ms', '.1f')} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "shards.json").write_text(json.dumps(results, indent=1))
        (args.out / "shards.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
