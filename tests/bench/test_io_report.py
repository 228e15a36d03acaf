"""Scenario (g)'s ratios and targets, from records made up for the purpose (no run)."""

from __future__ import annotations

from typing import Any

from bench.report import check_targets, io_ratios, render_markdown


def _record(row_id: str, system: str, scenario: str = "g", **medians: float) -> dict[str, Any]:
    return {
        "id": row_id,
        "scenario": scenario,
        "system": system,
        "label": f"({scenario}) {row_id}",
        "durability": "-",
        "saturated": scenario == "a",
        "params": {"stage_seconds": 0.5, "sync": True},
        "metrics": {k: {"median": v, "min": v, "max": v} for k, v in medians.items()},
    }


def _records() -> list[dict[str, Any]]:
    return [
        _record("a", "handoffs", "a", runs_per_s=1600.0),
        _record("g-1000", "handoffs", in_flight=1000, runs_per_s=470.0,
                ideal_runs_per_s=500.0, percent_of_ideal=94.0, threads_peak=14.0),
        _record("g-5000", "handoffs", in_flight=5000, runs_per_s=1200.0,
                ideal_runs_per_s=2500.0, percent_of_ideal=48.0, threads_peak=15.0),
        _record("g-autogen-5000", "AutoGen core", in_flight=5000, runs_per_s=500.0),
        _record("g-langgraph-5000", "LangGraph", in_flight=5000, runs_per_s=100.0),
    ]  # fmt: skip


def test_ratios_are_against_the_best_peer_at_the_same_count_and_row_a() -> None:
    ratios = io_ratios(_records())
    assert ratios["g-5000"]["best_peer"] == "g-autogen-5000"
    assert ratios["g-5000"]["x_best_peer"] == 2.4
    assert ratios["g-5000"]["x_a"] == 0.75
    assert ratios["g-1000"]["x_best_peer"] is None  # no peer ran at 1,000
    assert set(ratios) == {"g-1000", "g-5000"}


def test_targets_judge_ideal_peers_a_and_threads() -> None:
    targets = {t["target"]: t for t in check_targets(_records())}
    assert targets["(g) >= 90% of the ideal runs/s at 1,000 runs in flight (asyncio.sleep)"]["met"]
    assert targets["(g) >= 2x the best peer at 5,000 runs in flight"]["met"] is True
    assert targets["(g) >= 60% of (a)'s saturated runs/s at 5,000 runs in flight"]["met"]
    assert targets["(g) >= 2x the best peer at 10,000 runs in flight"]["met"] is None
    threads = targets["(g) thread count independent of the runs in flight (within 2)"]
    assert (threads["value"], threads["met"]) == (1.0, True)


def test_markdown_has_the_io_table() -> None:
    records = _records()
    document = {
        "meta": {"command": "python -m bench", "machine": "-", "started": "-", "repeats": 1},
        "rows": records,
        "targets": check_targets(records),
        "definitions": "-",
    }
    lines = render_markdown(document).splitlines()
    assert (
        "| g-5000 | handoffs | 5,000 | 1,200 | 2,500 | 48.0 | 15 | - | - | 2.40 | 0.75 |" in lines
    )


def test_single_runtime_targets_judge_cpu_and_the_hop_over_the_store_floor() -> None:
    records = [
        _record("a", "handoffs", "a", runs_per_s=2600.0, cpu_us_per_run=380.0),
        _record("c-unloaded", "handoffs", "c", hop_p50_ms=1.3),
        _record("d-g1", "store only", "d", hop_p50_ms=1.0),
    ]
    targets = {t["target"]: t for t in check_targets(records)}
    assert targets["(a) saturated durable throughput >= 2,500 runs/s (10,000 handoffs/s)"]["met"]
    cpu = targets["(a) CPU per run <= 400 us"]
    assert (cpu["value"], cpu["met"]) == (380.0, True)
    hop = targets["(c) unloaded hop p50 <= 1.2x (d)'s group-of-1 store hop p50"]
    assert (hop["value"], hop["met"], hop["detail"]) == (1.3, False, "1.300 ms / 1.000 ms")


def test_single_runtime_targets_without_their_rows_are_not_measured() -> None:
    targets = {t["target"]: t for t in check_targets([_record("a", "handoffs", "a")])}
    assert targets["(a) CPU per run <= 400 us"]["met"] is None
    assert targets["(c) unloaded hop p50 <= 1.2x (d)'s group-of-1 store hop p50"]["met"] is None
