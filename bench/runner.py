"""``python -m bench``: run every row in fresh processes, then write JSON, Markdown and a PNG.

Run it from the repository root (the children import ``bench`` from there, and the agents
by the import path ``bench.agents:...``). ``--quick`` finishes in under a minute;
``--profile`` samples scenario (a) with py-spy and writes ``profile.txt`` instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from bench.peers import missing_peer
from bench.plan import Row, Settings, build_plan
from bench.report import aggregate, check_targets, render_markdown, write_chart, write_json

__all__ = ["ROOT", "main"]

ROOT = Path(__file__).resolve().parent.parent
#: A child that takes longer than this is stuck (the longest full row takes ~10 s).
CHILD_TIMEOUT = 300.0
DEFINITIONS = (
    "Definitions: a run is one pass through the 4-stage pipeline (research -> write -> "
    "review -> publish, a 2 KB text per output); a handoff is one stage's recorded output. "
    "runs/s counts runs that ended inside the measured window; saturated rows keep a fixed "
    "number of runs in flight (the window). A hop is the time between two consecutive "
    "outputs of a run (for handoffs: between the commits that recorded them, so each hop "
    "holds one commit, fsync included when sync is on; the first hop starts at the commit "
    "that accepted the run); e2e is a run's first to last timestamp. CPU us/run is the "
    "process's CPU time (every thread, user and system) over the measured window, per run "
    "ended in it (closed-loop rows of our runtime only)."
)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="handoffs bench",
        description="Handoff throughput and latency against the floor and against peers. "
        "Run from a checkout; python -m bench there is the same.",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: under a minute")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where results go (default bench/results, or bench/results/quick)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="fresh processes per row")
    parser.add_argument("--duration", type=float, default=None, help="measured seconds per repeat")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated row ids or scenario letters (a,b,c,d,e,f,g,h; g is I/O-bound, "
        "h fans out 1 -> 4 -> join: "
        "e.g. --only a,g-1000,g-autogen-1000 for its ratios to (a) and the best peer)",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip (f)")
    parser.add_argument("--window", type=int, default=None, help="runs in flight, saturated")
    parser.add_argument("--prefetch", type=int, default=None, help="tasks per agent actor")
    parser.add_argument("--submitters", type=int, default=None, help="threads calling submit")
    parser.add_argument("--data-root", default=None, help="where the stores go (default: TMPDIR)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile scenario (a) with py-spy; write profile.txt to --out",
    )
    parser.add_argument(
        "--interpreter",
        choices=("tuned", "cpython"),
        default="tuned",
        help="the settings every row runs under, ours and the peers' alike: tuned (what "
        "handoffs serve uses: 0.5 ms GIL switch interval, GC threshold 100,000) or cpython "
        "(its defaults)",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "on", "off"),
        default="auto",
        help="a progress bar on stderr: auto (when stderr is a terminal), on or off",
    )
    return parser.parse_args(argv)  # fmt: skip


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("repeats", "duration", "window", "prefetch", "submitters", "data_root"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    if args.no_peers:
        overrides["peers"] = False
    if args.interpreter == "cpython":
        overrides.update(switch_interval=None, gc_threshold=None)
    if args.quick:
        return Settings.quick_settings(**overrides)
    return Settings(**overrides)


def _select(rows: list[Row], only: str | None) -> list[Row]:
    if not only:
        return rows
    wanted = {item.strip() for item in only.split(",") if item.strip()}
    chosen = [r for r in rows if r.id in wanted or r.scenario in wanted]
    if any(r.load_of_a is not None for r in chosen) and not any(r.id == "a" for r in chosen):
        chosen.insert(0, next(r for r in rows if r.id == "a"))  # (c) needs (a)'s rate
    return chosen


def run_child(job: dict[str, Any], timeout: float = CHILD_TIMEOUT) -> dict[str, Any]:
    """Run one job in a fresh ``python -m bench.child`` process; return its result."""
    with tempfile.TemporaryDirectory(prefix="handoffs-bench-job-") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_path.write_text(json.dumps(job))
        cmd = [sys.executable, "-m", "bench.child", str(job_path), str(result_path)]
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                                  timeout=timeout, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f}s"}
        if result_path.exists():
            result: dict[str, Any] = json.loads(result_path.read_text())
            return result
        lines = (proc.stderr or "").strip().splitlines()
        shown = lines if len(lines) <= 6 else [*lines[:3], "...", *lines[-3:]]
        return {"error": f"exit {proc.returncode}: {' | '.join(shown)}"}


def _versions() -> dict[str, str]:
    names = ("handoffs", "pykka", "msgspec", "lmdb", "prometheus-client", "autogen-core",
             "langgraph", "langgraph-checkpoint", "langgraph-checkpoint-sqlite")  # fmt: skip
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _filesystem(path: str) -> str:
    try:
        proc = subprocess.run(["df", "-PT", path], capture_output=True, text=True, check=False)
        fields = proc.stdout.splitlines()[-1].split()
        return f"{fields[1]} ({fields[0]})"
    except (OSError, IndexError):
        return "unknown"


def _machine(data_root: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / (1 << 20):.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; stores on {_filesystem(data_root)}"
    )


def _run(cmd: list[str]) -> str:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def _git() -> str:
    try:
        head = _run(["git", "rev-parse", "--short", "HEAD"])
        dirty = _run(["git", "status", "--porcelain"])
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (uncommitted changes)" if dirty else "")


def _progress(mode: str, length: int) -> Any:
    visible = {"on": True, "off": False}.get(mode, sys.stderr.isatty())
    if not visible:
        return None
    return click.progressbar(length=length, label="bench", file=sys.stderr, show_pos=True,
                             item_show_func=lambda s: s)  # fmt: skip


def run_plan(rows: list[Row], settings: Settings, progress: str) -> tuple[list[dict[str, Any]],
                                                                         list[str]]:  # fmt: skip
    """Every row's repeats, in order; (c) rows get their rate from (a)'s median."""
    records: list[dict[str, Any]] = []
    notes: list[str] = []
    total = len(rows) * settings.repeats
    bar = _progress(progress, total)
    if bar is not None:
        bar.__enter__()
    a_rate: float | None = None
    try:
        for row in rows:
            params = dict(row.params)
            repeats: list[dict[str, Any]] = []
            if row.peer is not None and (dist := missing_peer(row.peer)) is not None:
                reason = f"{dist} is not installed (pip install -e '.[bench]')"
                repeats.append({"skipped": reason})
                notes.append(f"{row.label}: skipped, {reason}")
            elif row.load_of_a is not None and not a_rate:
                repeats.append({"skipped": "needs (a)'s runs/s, which did not run"})
            else:
                if row.load_of_a is not None and a_rate:
                    params["rate"] = a_rate * row.load_of_a / 100
                for n in range(settings.repeats):
                    if bar is not None:
                        bar.current_item = f"{row.id} {n + 1}/{settings.repeats}"
                        bar.render_progress()
                    job = {"runner": row.runner, "params": params,
                           "interpreter": settings.interpreter()}  # fmt: skip
                    repeats.append(run_child(job))
                    if bar is not None:
                        bar.update(1)
                    if "skipped" in repeats[-1]:
                        break
            if bar is not None and len(repeats) < settings.repeats:
                bar.update(settings.repeats - len(repeats))
            record = aggregate(dataclasses.replace(row, params=params), repeats)
            if "error" in record:
                notes.append(f"{row.label}: error in a repeat: {record['error']}")
            if row.id == "a":
                spread = record.get("metrics", {}).get("runs_per_s")
                a_rate = spread["median"] if spread else None
            records.append(record)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    return records, notes


def main(argv: list[str] | None = None) -> int:
    """Run the suite; return a process exit code (1 when a row failed)."""
    args = _parse(argv)
    settings = _settings(args)
    out: Path = args.out or (ROOT / "bench" / "results" / ("quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.profile:
        from bench.profile import profile_scenario_a

        path = profile_scenario_a(settings, out, command.strip())
        print(f"wrote {path}")
        return 0
    rows = _select(build_plan(settings), args.only)
    data_root = settings.data_root or tempfile.gettempdir()
    started = time.time()
    records, notes = run_plan(rows, settings, args.progress)
    document: dict[str, Any] = {
        "meta": {
            "command": command.strip(),
            "machine": _machine(data_root),
            "started": datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
            "wall_seconds": round(time.time() - started, 1),
            "repeats": settings.repeats,
            "settings": dataclasses.asdict(settings),
            "versions": _versions(),
            "git": _git(),
        },
        "rows": records,
        "targets": check_targets(records),
        "notes": notes,
        "definitions": DEFINITIONS,
    }
    chart_note = write_chart(out / "results.png", records)
    if chart_note:
        document["notes"].append(chart_note)
    write_json(out / "results.json", document)
    markdown = render_markdown(document)
    (out / "results.md").write_text(markdown)
    (out / "command.txt").write_text(document["meta"]["command"] + "\n")
    print(markdown)
    print(f"\nwrote {out / 'results.json'}, {out / 'results.md'}"
          + ("" if chart_note else f", {out / 'results.png'}"))  # fmt: skip
    return 1 if any("error" in r for r in records) else 0
