"""Which rows a bench invocation runs, each with its settings and its durability in words."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Row", "Settings", "build_plan"]

_LMDB_SYNC = "LMDB, sync on: fsync at every commit"
_LMDB_NOSYNC = "LMDB, sync off: no fsync (survives a process crash, not a machine crash)"
_GROUP = (
    "group commit: every decision made while the previous group commits (committed early"
    " once 32 are open and the committer is free)"
)


@dataclass(frozen=True)
class Settings:
    """The knobs of one invocation (``--quick`` picks smaller ones)."""

    quick: bool = False
    repeats: int = 5
    warmup: float = 0.5
    duration: float = 3.0
    unloaded_duration: float = 2.0
    #: Saturated rows: runs in flight. Handoffs: one thread calls ``submit_async`` (it does
    #: not wait for the commit) and each agent actor holds up to 128 tasks. Prefetch is the
    #: best of a sweep (window 128-512, prefetch 32 and 128) on the bench machine; window
    #: 128 gives about the same runs/s at half the latency, 256 stays for comparability.
    window: int = 256
    submitters: int = 1
    prefetch: int = 128
    #: AutoGen's runs in flight (16 and 128 gave it the same runs/s).
    autogen_window: int = 128
    concurrency: int = 1
    reject_percent: int = 30
    loads: tuple[int, ...] = (25, 50, 75)
    groups: tuple[int, ...] = (1, 16, 64)
    peers: bool = True
    data_root: str | None = None
    #: (g), the I/O-bound case: runs in flight, each of the 4 stages waiting
    #: ``stage_seconds`` (ideal: in flight / (4 x stage_seconds) runs/s). Its rows keep
    #: their own warm-up (the first runs start spread over one ideal run, 2 s, then the
    #: loop settles) and measured seconds; ``--duration`` does not change them.
    in_flight: tuple[int, ...] = (100, 1_000, 5_000, 10_000)
    #: The same through model roles and the loopback model server (its latency the wait).
    llm_in_flight: tuple[int, ...] = (1_000, 5_000)
    #: The same with one role (write) on a local Ray cluster (skipped without Ray): its
    #: tasks and results cross to Ray worker processes, next to (g)'s all-local rows.
    ray_in_flight: tuple[int, ...] = (100, 1_000)
    stage_seconds: float = 0.5
    io_warmup: float = 5.0
    io_duration: float = 10.0
    #: AutoGen core and LangGraph (async) at each of (g)'s in-flight counts.
    io_peers: bool = True
    #: The interpreter settings every row's process runs under, ours and the peers' alike
    #: (``bench.child``): what ``handoffs serve`` uses (``handoffs.interpreter.TUNING``).
    switch_interval: float | None = 0.0005
    gc_threshold: int | None = 100_000

    def interpreter(self) -> dict[str, Any]:
        """The settings a row's child process applies before its runner starts."""
        return {"switch_interval": self.switch_interval, "gc_threshold": self.gc_threshold}

    @classmethod
    def quick_settings(cls, **overrides: Any) -> Settings:
        """A smoke run: one repeat, short windows, one group size."""
        base: dict[str, Any] = {
            "quick": True,
            "repeats": 1,
            "warmup": 0.2,
            "duration": 0.6,
            "unloaded_duration": 0.5,
            "groups": (16,),
            "in_flight": (100,),
            "llm_in_flight": (),
            "ray_in_flight": (),
            "io_warmup": 2.5,
            "io_duration": 2.0,
            "io_peers": False,
        }
        base.update(overrides)
        return cls(**base)


@dataclass(frozen=True)
class Row:
    """One line of the results: a scenario on one system with fixed settings."""

    id: str
    scenario: str
    system: str
    label: str
    durability: str
    runner: str  # "module:function" run in the child process
    params: dict[str, Any] = field(default_factory=dict)
    peer: str | None = None  # the optional peer it needs
    saturated: bool = True  # whether it belongs in the throughput chart
    #: For (c): the fraction (percent) of (a)'s median runs/s to offer.
    load_of_a: int | None = None


def build_plan(s: Settings) -> list[Row]:
    """Every row, in the order they run ((a) first: (c) offers a fraction of its rate)."""
    timing = {"warmup": s.warmup, "duration": s.duration, "data_root": s.data_root}
    ours = {
        **timing,
        "window": s.window,
        "submitters": s.submitters,
        "prefetch": s.prefetch,
        "concurrency": s.concurrency,
        "sync": True,
    }
    rows = [
        Row("a", "a", "handoffs", "(a) handoffs, saturated", f"{_LMDB_SYNC}; {_GROUP}",
            "bench.ours:run_saturated", ours),
        Row("a-nosync", "a", "handoffs", "(a) handoffs, saturated, sync off",
            f"{_LMDB_NOSYNC}; {_GROUP}", "bench.ours:run_saturated", {**ours, "sync": False}),
        Row("b", "b", "handoffs",
            f"(b) handoffs, review rejects {s.reject_percent}% of drafts once",
            f"{_LMDB_SYNC}; {_GROUP}", "bench.ours:run_saturated",
            {**ours, "reject_percent": s.reject_percent}),
        Row("c-unloaded", "c", "handoffs", "(c) handoffs, unloaded (one run at a time)",
            f"{_LMDB_SYNC}; {_GROUP}", "bench.ours:run_unloaded",
            {**ours, "duration": s.unloaded_duration}, saturated=False),
    ]  # fmt: skip
    rows += [
        Row(f"c-{load}", "c", "handoffs", f"(c) handoffs at {load}% of (a)'s max",
            f"{_LMDB_SYNC}; {_GROUP}", "bench.ours:run_fixed_rate", ours, saturated=False,
            load_of_a=load)
        for load in s.loads
    ]  # fmt: skip
    rows += [
        Row(f"d-g{group}", "d", "store only", f"(d) store commit path, group of {group}",
            f"{_LMDB_SYNC}; group commit: {group} decision(s) per transaction",
            "bench.floors:run_store_only", {**timing, "group": group, "sync": True})
        for group in s.groups
    ]  # fmt: skip
    rows.append(
        Row("e", "e", "pykka", "(e) raw pykka: 4-actor tell chain",
            "none: no validation, no store", "bench.floors:run_pykka_chain",
            {**timing, "window": s.window})
    )  # fmt: skip
    if s.peers:
        rows += [
            Row("f-autogen", "f", "AutoGen core",
                "(f) AutoGen core: SingleThreadedAgentRuntime, 4 RoutedAgents",
                "none: in memory", "bench.autogen_peer:run",
                {**timing, "window": s.autogen_window},
                peer="autogen"),
            # Windows: each LangGraph variant at the thread count that gave it the most
            # runs/s in a sweep of 1, 4 and 16 threads on the bench machine, under the same
            # interpreter settings as every row (in memory, one thread: x1.3 over four).
            Row("f-langgraph", "f", "LangGraph", "(f) LangGraph StateGraph, in memory",
                "none: in memory, no checkpointer", "bench.langgraph_peer:run",
                {**timing, "window": 1, "checkpointer": "none"}, peer="langgraph"),
            Row("f-langgraph-memory", "f", "LangGraph",
                "(f) LangGraph StateGraph, InMemorySaver checkpointer",
                "none: checkpoints in memory", "bench.langgraph_peer:run",
                {**timing, "window": 1, "checkpointer": "memory"}, peer="langgraph"),
            Row("f-langgraph-sqlite", "f", "LangGraph",
                "(f) LangGraph StateGraph, SqliteSaver checkpointer",
                "SQLite file, WAL, synchronous=FULL: a commit (fsync) per step, "
                "durability=\"sync\"",
                "bench.langgraph_peer:run", {**timing, "window": 4, "checkpointer": "sqlite"},
                peer="langgraph-sqlite"),
        ]  # fmt: skip
    return rows + _fan_rows(s, ours, timing) + _io_bound_rows(s)


def _fan_rows(s: Settings, ours: dict[str, Any], timing: dict[str, Any]) -> list[Row]:
    """(h): research -> four branches at once -> a join (``bench.fanout``), saturated and
    durable like (a); LangGraph runs the same shape with parallel edges."""
    rows = [
        Row("h", "h", "handoffs", "(h) handoffs, fan-out 1 -> 4 -> join, saturated",
            f"{_LMDB_SYNC}; {_GROUP}", "bench.fanout:run_saturated", ours),
    ]  # fmt: skip
    if s.peers:
        fan = {**timing, "shape": "fan"}
        rows += [
            Row("h-langgraph", "h", "LangGraph",
                "(h) LangGraph, fan-out 1 -> 4 -> join (parallel edges), in memory",
                "none: in memory, no checkpointer", "bench.langgraph_peer:run",
                {**fan, "window": 1, "checkpointer": "none"}, peer="langgraph"),
            Row("h-langgraph-sqlite", "h", "LangGraph",
                "(h) LangGraph, fan-out 1 -> 4 -> join (parallel edges), SqliteSaver",
                "SQLite file, WAL, synchronous=FULL: a commit (fsync) per step, "
                "durability=\"sync\"",
                "bench.langgraph_peer:run", {**fan, "window": 4, "checkpointer": "sqlite"},
                peer="langgraph-sqlite"),
        ]  # fmt: skip
    return rows


def _io_bound_rows(s: Settings) -> list[Row]:
    """(g): ours with async agents (and with model roles), then the peers, per count."""
    wait = s.stage_seconds
    base = {"warmup": s.io_warmup, "duration": s.io_duration, "data_root": s.data_root,
            "stage_seconds": wait}  # fmt: skip
    ours = {**base, "submitters": 1, "prefetch": s.prefetch, "concurrency": 1, "sync": True}
    durable = f"{_LMDB_SYNC}; {_GROUP}"
    rows: list[Row] = []
    for n in s.in_flight:
        at = {"in_flight": n, "window": n}
        rows.append(
            Row(f"g-{n}", "g", "handoffs",
                f"(g) handoffs, {n:,} in flight, async agents: asyncio.sleep({wait:g}) per stage",
                durable, "bench.io_bound:run", {**ours, **at}, saturated=False)
        )  # fmt: skip
        if s.peers and s.io_peers:
            rows += [
                Row(f"g-autogen-{n}", "g", "AutoGen core",
                    f"(g) AutoGen core, {n:,} in flight, async handlers: asyncio.sleep({wait:g})",
                    "none: in memory", "bench.autogen_peer:run", {**base, **at},
                    peer="autogen", saturated=False),
                Row(f"g-langgraph-{n}", "g", "LangGraph",
                    f"(g) LangGraph, {n:,} in flight, async nodes: asyncio.sleep({wait:g}), "
                    "AsyncSqliteSaver",
                    "SQLite file, WAL, synchronous=FULL: a commit (fsync) per step, "
                    "durability=\"sync\" (AsyncSqliteSaver, one aiosqlite connection)",
                    "bench.langgraph_peer:run_async", {**base, **at, "checkpointer": "sqlite"},
                    peer="langgraph-sqlite", saturated=False),
            ]  # fmt: skip
    rows += [
        Row(f"g-llm-{n}", "g", "handoffs",
            f"(g) handoffs, {n:,} in flight, model roles: loopback server, {wait:g} s latency",
            durable, "bench.io_bound:run_llm", {**ours, "in_flight": n, "window": n},
            saturated=False)
        for n in s.llm_in_flight
    ]  # fmt: skip
    if importlib.util.find_spec("ray") is not None:
        rows += [
            Row(f"g-ray-{n}", "g", "handoffs",
                f"(g) handoffs, {n:,} in flight, async agents, the write role on Ray "
                f"(a local cluster): asyncio.sleep({wait:g}) per stage",
                durable, "bench.io_bound:run_ray", {**ours, "in_flight": n, "window": n},
                saturated=False)
            for n in s.ray_in_flight
        ]  # fmt: skip
    return rows
