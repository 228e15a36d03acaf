"""``python -m bench --profile``: where scenario (a)'s time goes, sampled with py-spy.

Two passes over the same row, each in a fresh process: one samples only threads holding the
GIL (CPU time: what to cut), one samples every thread whether or not it runs (wall time:
what the orchestrator waits on). The collapsed stacks are reduced to per-thread shares, the
top functions by self and by inclusive time, and the orchestrator thread's breakdown.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.plan import Settings, build_plan

__all__ = ["Stacks", "profile_scenario_a"]

_LINE = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+):(?P<line>\d+)\)$")
_BOOTSTRAP = ("threading.py", "<frozen importlib", "pykka/_actor.py", "pykka/_envelope.py")
#: Seconds sampled per pass: long enough that start-up and shutdown are a small share.
PROFILE_SECONDS = 8.0


class Stacks:
    """Collapsed stacks (``thread;frame;frame count``) as py-spy's raw format writes them."""

    def __init__(self, text: str) -> None:
        self.total = 0
        self.by_thread: Counter[str] = Counter()
        self.samples: list[tuple[str, list[str], int]] = []
        for line in text.splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = stack.split(";")
            thread = _thread_name(frames[0])
            n = int(count)
            self.total += n
            self.by_thread[thread] += n
            self.samples.append((thread, frames[1:], n))

    def top(self, *, thread: str | None = None, self_only: bool, by_function: bool,
            limit: int) -> list[tuple[str, int]]:  # fmt: skip
        """The heaviest frames (or functions), self or inclusive, in one thread or all."""
        counts: Counter[str] = Counter()
        for name, frames, n in self.samples:
            if thread is not None and not name.startswith(thread):
                continue
            keys = [_function(f) if by_function else f for f in frames]
            if self_only:
                if keys:
                    counts[keys[-1]] += n
            else:
                for key in set(keys):
                    counts[key] += n
        return counts.most_common(limit)


def _thread_name(frame: str) -> str:
    # "thread (0x7f...): Orchestrator-1" or "process 123:..." -> a stable short name
    name = frame.split("): ", 1)[1] if "): " in frame else frame
    return re.sub(r"-\d+$", "", name.strip())


def _function(frame: str) -> str:
    match = _LINE.match(frame)
    if match is None:
        return frame
    return f"{match['func']} ({match['file']})"


def _interesting(key: str) -> bool:
    return not any(marker in key for marker in _BOOTSTRAP)


def _table(title: str, rows: list[tuple[str, int]], total: int) -> list[str]:
    lines = [title, "-" * len(title)]
    lines += [f"{n / total:6.1%}  {key}" for key, n in rows]
    return [*lines, ""]


def _report(gil: Stacks, wall: Stacks, result: dict[str, Any], command: str) -> str:
    runs = result.get("runs_per_s", float("nan"))
    group = result.get("extra", {}).get("group_mean", float("nan"))
    lines = [
        "Profile of scenario (a): handoffs saturated, LMDB sync on, group commit",
        f"Command: {command}",
        f"Sampler: py-spy {_py_spy_version()}, raw collapsed stacks, --threads; pass 1 --gil "
        "(only the thread holding the GIL: CPU time), pass 2 --idle (every thread: wall time).",
        f"During pass 1 the runtime did {runs:,.0f} runs/s with a mean group commit of "
        f"{group:.1f} decisions.",
        f"The GIL was held in about {_busy(gil, wall):.0%} of the sampling ticks (pass 1 "
        "samples over pass 2's main-thread samples; the passes are equally long).",
        "Percentages are of all samples of the pass unless a title says otherwise.",
        "",
    ]
    lines += _table("CPU (GIL held) by thread",
                    [(t, n) for t, n in gil.by_thread.most_common(12)], gil.total)  # fmt: skip
    lines += _table(
        "CPU: top functions by self time (all threads)",
        gil.top(self_only=True, by_function=True, limit=30), gil.total,
    )  # fmt: skip
    lines += _table(
        "CPU: top lines by self time (all threads)",
        gil.top(self_only=True, by_function=False, limit=30), gil.total,
    )  # fmt: skip
    inclusive = [
        (k, n)
        for k, n in gil.top(thread="Orchestrator", self_only=False, by_function=True, limit=80)
        if _interesting(k)
    ][:40]
    lines += _table("CPU: orchestrator thread, functions by inclusive time", inclusive,
                    gil.total)  # fmt: skip
    lines_incl = [
        (k, n)
        for k, n in gil.top(thread="Orchestrator", self_only=False, by_function=False, limit=120)
        if _interesting(k)
    ][:40]
    lines += _table("CPU: orchestrator thread, lines by inclusive time", lines_incl,
                    gil.total)  # fmt: skip
    orch_wall = wall.by_thread.get("Orchestrator", 0) or 1
    wall_rows = [
        (k, n)
        for k, n in wall.top(thread="Orchestrator", self_only=False, by_function=True, limit=80)
        if _interesting(k)
    ][:30]
    lines += _table("Wall: orchestrator thread (percent of that thread's samples), inclusive",
                    wall_rows, orch_wall)  # fmt: skip
    return "\n".join(lines)


def _busy(gil: Stacks, wall: Stacks) -> float:
    ticks = wall.by_thread.get("MainThread", 0)
    return gil.total / ticks if ticks else float("nan")


def _py_spy_version() -> str:
    import subprocess

    exe = _py_spy()
    try:
        return subprocess.run([exe, "--version"], capture_output=True, text=True,
                              check=True).stdout.split()[-1]  # fmt: skip
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "?"


def _py_spy() -> str:
    return shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))


def profile_scenario_a(settings: Settings, out: Path, command: str) -> Path:
    """Profile row (a) twice (GIL, wall) and write ``profile.txt`` to ``out``.

    Raises:
        RuntimeError: py-spy is not installed, or a pass failed.
    """
    from bench.runner import run_child

    if not Path(_py_spy()).exists():
        raise RuntimeError("py-spy is not installed (pip install -e '.[bench]')")
    row = next(r for r in build_plan(settings) if r.id == "a")
    params = {**row.params, "duration": max(settings.duration, PROFILE_SECONDS)}
    stacks: list[Stacks] = []
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="handoffs-bench-profile-") as tmp:
        for mode in ("gil", "idle"):
            raw = Path(tmp) / f"{mode}.txt"
            spec = {"output": str(raw), "rate": 250, mode: True}
            outcome = run_child({"runner": row.runner, "params": params, "profile": spec})
            if "error" in outcome:
                raise RuntimeError(f"profiling pass {mode} failed: {outcome['error']}")
            if mode == "gil":
                result = outcome
            stacks.append(Stacks(raw.read_text()))
    path = out / "profile.txt"
    path.write_text(_report(stacks[0], stacks[1], result, command) + "\n")
    return path
