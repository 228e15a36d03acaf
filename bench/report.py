"""Results: the median and min-max of each row's repeats, as JSON, Markdown and a PNG chart."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from bench.plan import Row

__all__ = [
    "METRICS",
    "aggregate",
    "check_targets",
    "describe_interpreter",
    "io_ratios",
    "render_markdown",
    "write_chart",
    "write_json",
]

#: Every measured figure, with its unit in the name.
METRICS = (
    "runs_per_s",
    "handoffs_per_s",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "hop_p50_ms",
    "hop_p99_ms",
    "offered_runs_per_s",
    "group_mean",
    "cpu_us_per_run",
    "cpu_cores",
    # (g), the I/O-bound rows:
    "in_flight",
    "ideal_runs_per_s",
    "percent_of_ideal",
    "threads_peak",
    "rss_kib_per_in_flight",
)


def _spread(values: list[float]) -> dict[str, float] | None:
    clean = [v for v in values if isinstance(v, int | float) and not math.isnan(v)]
    if not clean:
        return None
    return {"median": statistics.median(clean), "min": min(clean), "max": max(clean)}


def aggregate(row: Row, repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """One row's record: its settings, each repeat, and median/min/max of every metric."""
    out: dict[str, Any] = {
        "id": row.id,
        "scenario": row.scenario,
        "system": row.system,
        "label": row.label,
        "durability": row.durability,
        "saturated": row.saturated,
        "params": row.params,
    }
    skipped = next((r["skipped"] for r in repeats if "skipped" in r), None)
    errors = [r["error"] for r in repeats if "error" in r]
    if skipped is not None:
        out["skipped"] = skipped
        return out
    if errors:
        out["error"] = errors[0]
    good = [r for r in repeats if "error" not in r]
    out["repeats"] = good
    metrics: dict[str, dict[str, float]] = {}
    for name in METRICS:
        values = [r.get(name, r.get("extra", {}).get(name, math.nan)) for r in good]
        spread = _spread(values)
        if spread is not None:
            metrics[name] = spread
    out["metrics"] = metrics
    extras = [r.get("extra", {}) for r in good]
    out["extra"] = extras[0] if extras else {}
    settings = [r["interpreter"] for r in good if "interpreter" in r]
    if settings:
        out["interpreter"] = settings[0]
    return out


def describe_interpreter(settings: dict[str, Any] | None) -> str:
    """A row's interpreter settings in words (``bench.child`` records them)."""
    if not settings:
        return "not recorded"
    interval = settings["switch_interval"] * 1000
    young, *older = settings["gc_threshold"]
    gc = f"GC thresholds ({young:,}, {', '.join(map(str, older))})"
    if not settings.get("gc_enabled", True) or young == 0:
        gc = "GC off"
    text = f"GIL switch interval {interval:g} ms, {gc}"
    if "changed_to" in settings:
        text += f"; the row changed them to: {describe_interpreter(settings['changed_to'])}"
    return text


def _interpreter_lines(records: list[dict[str, Any]]) -> list[str]:
    """Which interpreter settings every row ran under: one line when all rows share them."""
    ran = [r for r in records if "skipped" not in r]
    described = {r["id"]: describe_interpreter(r.get("interpreter")) for r in ran}
    if not described:
        return []
    if len(set(described.values())) == 1:
        (text,) = set(described.values())
        return [f"Interpreter settings, the same for every row (ours, the floors' and the "
                f"peers'): {text}.", ""]  # fmt: skip
    lines = ["Interpreter settings, row by row (they differ):", ""]
    lines += [f"- {r['label']}: {described[r['id']]}" for r in ran]
    return [*lines, ""]


def _median(record: dict[str, Any], metric: str) -> float | None:
    spread = record.get("metrics", {}).get(metric)
    return None if spread is None else float(spread["median"])


def check_targets(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, each with the figures it was judged on and whether it is met."""
    by_id = {r["id"]: r for r in records}

    def get(row_id: str, metric: str) -> float | None:
        record = by_id.get(row_id)
        return None if record is None else _median(record, metric)

    targets: list[dict[str, Any]] = []
    a_runs = get("a", "runs_per_s")
    targets.append({
        "target": "(a) saturated durable throughput >= 2,500 runs/s (10,000 handoffs/s)",
        "value": a_runs,
        "met": None if a_runs is None else a_runs >= 2500,
    })  # fmt: skip
    targets += _single_runtime_targets(get)
    peers = {p: get(p, "runs_per_s") for p in ("f-autogen", "f-langgraph")}
    present = {p: v for p, v in peers.items() if v}
    if a_runs is not None and present:
        best_peer, best = max(present.items(), key=lambda kv: kv[1])
        ratio = a_runs / best
        targets.append({
            "target": ">= 3x the faster of AutoGen core and LangGraph in memory",
            "value": ratio,
            "detail": f"{a_runs:,.0f} / {best:,.0f} ({best_peer})",
            "met": ratio >= 3,
        })  # fmt: skip
    else:
        targets.append({"target": ">= 3x AutoGen core / LangGraph in memory", "value": None,
                        "detail": "peers not run", "met": None})  # fmt: skip
    sqlite = get("f-langgraph-sqlite", "runs_per_s")
    if a_runs is not None and sqlite:
        targets.append({
            "target": ">= 20x LangGraph with its SQLite checkpointer",
            "value": a_runs / sqlite,
            "detail": f"{a_runs:,.0f} / {sqlite:,.0f}",
            "met": a_runs / sqlite >= 20,
        })  # fmt: skip
    else:
        targets.append({"target": ">= 20x LangGraph with its SQLite checkpointer",
                        "value": None, "detail": "peer not run", "met": None})  # fmt: skip
    hop = get("c-unloaded", "hop_p50_ms")
    targets.append({
        "target": "unloaded per-hop latency p50 < 1 ms, durable",
        "value": hop,
        "met": None if hop is None else hop < 1.0,
    })  # fmt: skip
    if any(r["scenario"] == "g" for r in records):
        targets += _io_targets(records, get)
    return targets


#: Issue 16 part 2, the single runtime: CPU per saturated run, and how far the unloaded
#: hop sits above the fsync floor of the same hour (the store alone, a group of 1).
CPU_PER_RUN_US = 400.0
HOP_OVER_FLOOR = 1.2


def _single_runtime_targets(get: Any) -> list[dict[str, Any]]:
    """(a)'s CPU per run, and (c)'s unloaded hop against (d)'s group-of-1 store hop."""
    cpu = get("a", "cpu_us_per_run")
    hop, floor = get("c-unloaded", "hop_p50_ms"), get("d-g1", "hop_p50_ms")
    ratio = hop / floor if hop is not None and floor else None
    return [
        {
            "target": f"(a) CPU per run <= {CPU_PER_RUN_US:,.0f} us",
            "value": cpu,
            "met": None if cpu is None else cpu <= CPU_PER_RUN_US,
        },
        {
            "target": f"(c) unloaded hop p50 <= {HOP_OVER_FLOOR}x (d)'s group-of-1 store hop p50",
            "value": ratio,
            "detail": None if ratio is None else f"{hop:.3f} ms / {floor:.3f} ms",
            "met": None if ratio is None else ratio <= HOP_OVER_FLOOR,
        },
    ]


def _is_ours_io(record: dict[str, Any]) -> bool:
    return bool(record["scenario"] == "g" and record["system"] == "handoffs")


def io_ratios(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For each of our (g) rows: its runs/s over the best peer's at the same count of runs
    in flight (``x_best_peer``, ``best_peer``) and over (a)'s (``x_a``), where they ran."""
    a_record = next((r for r in records if r["id"] == "a"), None)
    a_runs = _median(a_record, "runs_per_s") if a_record else None
    peers: dict[float, tuple[float, str]] = {}
    for r in records:
        n, runs = _median(r, "in_flight"), _median(r, "runs_per_s")
        if r["scenario"] == "g" and not _is_ours_io(r) and n and runs is not None:
            peers[n] = max(peers.get(n, (0.0, "")), (runs, r["id"]))
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        runs, n = _median(r, "runs_per_s"), _median(r, "in_flight")
        if not _is_ours_io(r) or runs is None or n is None:
            continue
        best = peers.get(n)
        out[r["id"]] = {
            "x_best_peer": runs / best[0] if best and best[0] else None,
            "best_peer": best[1] if best else None,
            "best_peer_runs_per_s": best[0] if best else None,
            "x_a": runs / a_runs if a_runs else None,
            "a_runs_per_s": a_runs,
        }
    return out


def _io_targets(records: list[dict[str, Any]], get: Any) -> list[dict[str, Any]]:
    """(g)'s targets: near the ideal at 1,000 in flight; at 5,000 and 10,000 well ahead of
    the peers and near (a)'s saturated throughput; threads that do not grow with the load."""
    targets: list[dict[str, Any]] = []
    percent = get("g-1000", "percent_of_ideal")
    targets.append({
        "target": "(g) >= 90% of the ideal runs/s at 1,000 runs in flight (asyncio.sleep)",
        "value": percent,
        "detail": None if percent is None else
        f"{get('g-1000', 'runs_per_s'):,.0f} of {get('g-1000', 'ideal_runs_per_s'):,.0f} runs/s",
        "met": None if percent is None else percent >= 90,
    })  # fmt: skip
    ratios = io_ratios(records)
    for n in (5_000, 10_000):
        ratio = ratios.get(f"g-{n}", {})
        x_peer, x_a = ratio.get("x_best_peer"), ratio.get("x_a")
        ours = get(f"g-{n}", "runs_per_s")
        targets.append({
            "target": f"(g) >= 2x the best peer at {n:,} runs in flight",
            "value": x_peer,
            "detail": f"{ours:,.0f} / {ratio['best_peer_runs_per_s']:,.0f} "
            f"({ratio['best_peer']})" if x_peer else "not run with its peers",
            "met": None if x_peer is None else x_peer >= 2,
        })  # fmt: skip
        targets.append({
            "target": f"(g) >= 60% of (a)'s saturated runs/s at {n:,} runs in flight",
            "value": x_a,
            "detail": f"{ours:,.0f} / {ratio['a_runs_per_s']:,.0f}" if x_a
            else "not run with (a)",
            "met": None if x_a is None else x_a >= 0.6,
        })  # fmt: skip
    threads = {
        int(count): t
        for r in records
        if _is_ours_io(r) and not r["id"].startswith("g-llm")
        and (count := _median(r, "in_flight")) and (t := _median(r, "threads_peak")) is not None
    }  # fmt: skip
    spread = max(threads.values()) - min(threads.values()) if len(threads) > 1 else None
    targets.append({
        "target": "(g) thread count independent of the runs in flight (within 2)",
        "value": spread,
        "detail": ", ".join(f"{t:.0f} at {n:,}" for n, t in sorted(threads.items()))
        or "not run",
        "met": None if spread is None else spread <= 2,
    })  # fmt: skip
    return targets


def write_json(path: Path, document: dict[str, Any]) -> None:
    """The whole invocation: meta, every row (with each repeat), the targets."""
    path.write_text(json.dumps(document, indent=2, allow_nan=True) + "\n")


def _fmt(spread: dict[str, float] | None, digits: int) -> str:
    if spread is None:
        return "-"
    med, lo, hi = spread["median"], spread["min"], spread["max"]
    if lo == hi:
        return f"{med:,.{digits}f}"
    return f"{med:,.{digits}f} ({lo:,.{digits}f}-{hi:,.{digits}f})"


def _short_durability(record: dict[str, Any]) -> str:
    params = record.get("params", {})
    group = record.get("metrics", {}).get("group_mean")
    if record["system"] == "handoffs":
        sync = "sync on" if params.get("sync") else "sync off"
        size = f"group ~{group['median']:.1f}" if group else "group: all waiting"
        return f"{sync}, {size}"
    if record["system"] == "store only":
        return f"sync on, group {params.get('group')}"
    if params.get("checkpointer") == "sqlite":
        extra = record.get("extra", {})
        mode = extra.get("sqlite_journal_mode", "wal")
        sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
            extra.get("sqlite_synchronous", 2), "?"
        )
        return f"SQLite {mode} synchronous={sync}, commit per step"
    return "none (memory)"


def render_markdown(document: dict[str, Any]) -> str:
    """The results table, the durability legend, the targets, and how it was run."""
    meta = document["meta"]
    lines = [
        "# handoffs benchmark results",
        "",
        f"Command: `{meta['command']}`  ",
        f"Machine: {meta['machine']}  ",
        f"Started: {meta['started']}; {meta['repeats']} repeat(s) per row, each in a fresh "
        "process; median (min-max).",
        "",
        "| row | durability | runs/s | handoffs/s | e2e p50 ms | e2e p99 ms | hop p50 ms "
        "| hop p99 ms | CPU us/run |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for record in document["rows"]:
        if "skipped" in record:
            lines.append(f"| {record['label']} | skipped: {record['skipped']} "
                         "| - | - | - | - | - | - | - |")  # fmt: skip
            continue
        m = record.get("metrics", {})
        label = record["label"]
        offered = m.get("offered_runs_per_s")
        if offered:
            label += f" (offered {offered['median']:,.0f} runs/s)"
        if "error" in record:
            label += f" **error: {record['error']}**"
        lines.append(
            f"| {label} | {_short_durability(record)} | {_fmt(m.get('runs_per_s'), 0)} "
            f"| {_fmt(m.get('handoffs_per_s'), 0)} | {_fmt(m.get('e2e_p50_ms'), 2)} "
            f"| {_fmt(m.get('e2e_p99_ms'), 2)} | {_fmt(m.get('hop_p50_ms'), 3)} "
            f"| {_fmt(m.get('hop_p99_ms'), 3)} | {_fmt(m.get('cpu_us_per_run'), 0)} |"
        )
    if any(r["scenario"] == "g" and "metrics" in r for r in document["rows"]):
        lines += ["", *_io_table(document["rows"])]
    lines += ["", *_interpreter_lines(document["rows"])]
    lines += ["Durability, row by row:", ""]
    lines += [f"- {r['label']}: {r['durability']}" for r in document["rows"]]
    lines += ["", "Targets (2 cores, sync on, group commit):", ""]
    for target in document["targets"]:
        state = {True: "met", False: "NOT met", None: "not measured"}[target["met"]]
        value = target["value"]
        shown = "-" if value is None else f"{value:,.2f}"
        detail = f" ({target['detail']})" if target.get("detail") else ""
        lines.append(f"- {target['target']}: {shown}{detail}: **{state}**")
    if document.get("notes"):
        lines += ["", "Notes:", ""]
        lines += [f"- {note}" for note in document["notes"]]
    lines += ["", document["definitions"], ""]
    return "\n".join(lines)


def _io_table(records: list[dict[str, Any]]) -> list[str]:
    """(g)'s own table: each row against its ideal, what it holds, and the ratios."""
    rows = [r for r in records if r["scenario"] == "g" and "metrics" in r]
    wait = rows[0]["params"].get("stage_seconds", 0.5)
    ratios = io_ratios(records)
    lines = [
        f"Scenario (g), I/O-bound: each of the 4 stages waits {wait:g} s, so the ideal is the "
        f"runs in flight / {4 * wait:g} s. Peak threads: the process's OS threads; RSS: its "
        "anonymous memory's growth under load, per run in flight; x best peer: over the "
        "faster peer at the same count; x (a): over (a)'s saturated runs/s.",
        "",
        "| row | system | in flight | runs/s | ideal runs/s | % of ideal | peak threads "
        "| RSS KiB per run in flight | CPU us/run | x best peer | x (a) |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        m = r["metrics"]
        ratio = ratios.get(r["id"], {})
        x_peer, x_a = ratio.get("x_best_peer"), ratio.get("x_a")
        lines.append(
            f"| {r['id']} | {r['system']} | {_fmt(m.get('in_flight'), 0)} "
            f"| {_fmt(m.get('runs_per_s'), 0)} | {_fmt(m.get('ideal_runs_per_s'), 0)} "
            f"| {_fmt(m.get('percent_of_ideal'), 1)} | {_fmt(m.get('threads_peak'), 0)} "
            f"| {_fmt(m.get('rss_kib_per_in_flight'), 1)} | {_fmt(m.get('cpu_us_per_run'), 0)} "
            f"| {'-' if x_peer is None else f'{x_peer:.2f}'} "
            f"| {'-' if x_a is None else f'{x_a:.2f}'} |"
        )
    return lines


def write_chart(path: Path, records: list[dict[str, Any]]) -> str | None:
    """Runs/s and p99 hop latency per system, as a PNG; returns a note when it cannot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed (pip install -e '.[bench]')"
    measured = [r for r in records if r.get("metrics", {}).get("runs_per_s")]
    io_rows = [r for r in measured if r["scenario"] == "g"]
    if io_rows:
        _write_io_chart(plt, path.with_name(f"{path.stem}-io{path.suffix}"), io_rows)
    rows = [r for r in records if r.get("saturated") and r.get("metrics", {}).get("runs_per_s")]
    if not rows:
        return "chart skipped: no throughput rows"
    labels = [r["label"].split(") ", 1)[-1] for r in rows]
    colors = {
        "handoffs": "#1f77b4",
        "store only": "#7f7f7f",
        "pykka": "#bcbd22",
        "AutoGen core": "#d62728",
        "LangGraph": "#2ca02c",
    }
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.45 * len(rows) + 1.6), sharey=True)
    for ax, metric, title in (
        (axes[0], "runs_per_s", "runs/s (median, min-max), log scale"),
        (axes[1], "hop_p99_ms", "p99 hop latency, ms (median, min-max), log scale"),
    ):
        values, lows, highs = [], [], []
        for r in rows:
            spread = r["metrics"].get(metric, {"median": math.nan, "min": math.nan,
                                               "max": math.nan})  # fmt: skip
            values.append(spread["median"])
            lows.append(spread["median"] - spread["min"])
            highs.append(spread["max"] - spread["median"])
        ax.barh(range(len(rows)), values, xerr=[lows, highs],
                color=[colors.get(r["system"], "#9467bd") for r in rows])  # fmt: skip
        ax.set_xscale("log")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", which="both", alpha=0.3)
        for y, v in enumerate(values):
            if not math.isnan(v):
                ax.text(v, y, f" {v:,.0f}" if metric == "runs_per_s" else f" {v:.2f}",
                        va="center", fontsize=8)  # fmt: skip
    axes[0].set_yticks(range(len(rows)), labels, fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle("handoffs vs the floors and peers: same 4-stage work, same invocation")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def _write_io_chart(plt: Any, path: Path, rows: list[dict[str, Any]]) -> None:
    """(g): runs/s against runs in flight, one line per system, and the ideal."""
    series: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        name = r["system"] + (" (model roles)" if r["id"].startswith("g-llm") else "")
        m = r["metrics"]
        series.setdefault(name, []).append((m["in_flight"]["median"], m["runs_per_s"]["median"]))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    counts = sorted({n for points in series.values() for n, _ in points})
    wait = rows[0]["params"].get("stage_seconds", 0.5)
    ax.plot(counts, [n / (4 * wait) for n in counts], "k--", label="ideal (in flight / run time)")
    for name, points in series.items():
        points.sort()
        ax.plot([n for n, _ in points], [v for _, v in points], "o-", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("runs in flight")
    ax.set_ylabel("runs/s (median)")
    ax.set_title(f"(g) I/O-bound: 4 stages, each waiting {wait:g} s", fontsize=10)
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
