"""kill -9 chaos: a child process runs the runtime on a store; we SIGKILL it at random moments
and start it again on the same store, until every run has completed. Then we count.

    python -m bench.chaos --runs 10000 --kills 100 [--seed 1] [--config fanout] [--json PATH]

Prints lost / duplicated / stuck counts (all must be 0) and the restart times (process start
to runtime open with every unfinished task dispatched again). ``--config chain`` (the
default) is a 3-stage chain; ``fanout`` fans out to two branches, joins them, then maps a
stage over a list of three and joins the items (see :func:`fanout_config`). The test suite
runs short versions of both.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("a", "b", "c")
#: What the map stage of the fan-out config runs over: one task per item.
ITEMS = ("k0", "k1", "k2")
#: Every (stage, item) a completed run has exactly one accepted output of, per config.
EXPECTED: dict[str, frozenset[tuple[str, int | None]]] = {
    "chain": frozenset((s, None) for s in STAGES),
    "fanout": frozenset(
        [(s, None) for s in ("research", "blog", "faq", "merge", "edit")]
        + [("sections", i) for i in range(len(ITEMS))]
    ),
}


def chaos_config() -> object:
    """A 3-stage pipeline of quick agents that never fail: only the kills disturb it.

    Every kill counts an attempt of each task an agent had (a task that kills the process
    must not loop), so ``max_attempts`` is above any number of kills here: this run checks
    that nothing is lost or done twice, not the attempt limit.
    """
    from handoffs.messages import Config, PipelineSpec, RoleSpec, StageSpec

    stages = {
        name: StageSpec(role="worker", output="Draft", next=nxt, max_attempts=1000)
        for name, nxt in (("a", "b"), ("b", "c"), ("c", None))
    }
    return Config(
        roles={"worker": RoleSpec(agent="bench.chaos:agent", concurrency=2)},
        pipelines={"chaos": PipelineSpec(start="a", stages=stages)},
    )


def fanout_config() -> object:
    """research -> (blog, faq) -> merge (join all) -> sections (one per key finding of the
    research: 3) -> edit (joins the items). Both kinds of fan-out and a join of each; no agent
    fails, and attempts are above any number of kills (as in :func:`chaos_config`)."""
    from handoffs.messages import Config, PipelineSpec, RoleSpec, StageSpec

    def stage(output: str = "Draft", **kw: object) -> StageSpec:
        return StageSpec(role="worker", output=output, max_attempts=1000, **kw)  # type: ignore[arg-type]

    stages = {
        "research": stage("ResearchFindings", next=["blog", "faq"]),
        "blog": stage(next="merge"),
        "faq": stage(next="merge"),
        "merge": stage(join="all", next="sections"),
        "sections": stage(for_each="research.key_findings", next="edit"),
        "edit": stage(join="all"),
    }
    return Config(
        roles={"worker": RoleSpec(agent="bench.chaos:agent", concurrency=2)},
        pipelines={"chaos": PipelineSpec(start="research", stages=stages)},
    )


CONFIGS = {"chain": chaos_config, "fanout": fanout_config}


def agent(task: object) -> object:
    """A small Draft (findings listing :data:`ITEMS` for the fan-out's research)."""
    from handoffs.messages import Draft, ResearchFindings, Source

    stage = getattr(task, "stage", "")
    if stage == "research":
        return ResearchFindings(
            topic="chaos",
            summary="x" * 256,
            key_findings=list(ITEMS),
            sources=[Source(url="https://example.org/chaos")],
            confidence=0.9,
        )
    return Draft(title=f"{stage}", body="x" * 256)


def child(data: Path, runs: int, config: str = "chain") -> None:
    """Submit runs 0..runs-1 (idempotent keys), wait for each; print progress lines."""
    from handoffs import Runtime
    from handoffs.interpreter import TUNING

    started = time.perf_counter()
    with Runtime.open(CONFIGS[config](), data, **TUNING) as runtime:  # type: ignore[arg-type]
        print(f"ready {time.perf_counter() - started:.6f}", flush=True)
        # Submitted without waiting, so a lifetime is not spent on one commit per run; each
        # acknowledgement is a progress line (a moment the parent may kill us at).
        futures = [
            runtime.submit_async("chaos", {"n": n}, idempotency_key=f"chaos-{n}")
            for n in range(runs)
        ]
        ids = []
        for n, future in enumerate(futures):
            ids.append(future.result(timeout=120).run_id)
            print(f"s {n}", flush=True)
        for n, run_id in enumerate(ids):
            run = runtime.wait(run_id, timeout=120)
            print(f"c {n} {run.state}", flush=True)
    print("done", flush=True)


@dataclass
class Report:
    """What the chaos run found. ``lost``, ``duplicated`` and ``stuck`` must be 0."""

    runs: int
    kills: int
    config: str = "chain"
    lifetimes: int = 0
    completed: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    not_completed: int = 0
    verify_problems: list[str] = field(default_factory=list)
    lmdb_verify_ok: bool = False
    #: Attempts a kill cut short (counted again after the restart), by stage.
    cut_short: dict[str, int] = field(default_factory=dict)
    restart_seconds: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def clean(self) -> bool:
        """Nothing lost, duplicated or stuck, and both verifiers clean."""
        return (
            self.lost == self.duplicated == self.stuck == self.not_completed == 0
            and not self.verify_problems
            and self.lmdb_verify_ok
        )


def _spawn(data: Path, runs: int, config: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bench.chaos", "child", str(data), str(runs), config],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _read_until(stream: IO[str], lines: int, report: Report) -> bool:
    """Read ``lines`` progress lines (the ready line timed); False if the child ended."""
    for _ in range(lines):
        line = stream.readline()
        if not line:
            return False
        if line.startswith("ready "):
            report.restart_seconds.append(float(line.split()[1]))
        if line.strip() == "done":
            return False
    return True


def run_chaos(data: Path, runs: int, kills: int, seed: int = 1, config: str = "chain") -> Report:
    """SIGKILL the child ``kills`` times at random moments, then let it finish; count.
    ``config`` names the pipeline (``chain`` or ``fanout``)."""
    if config not in CONFIGS:
        raise ValueError(f"config: {config!r} is not one of {', '.join(sorted(CONFIGS))}")
    rng = random.Random(seed)
    report = Report(runs=runs, kills=kills, config=config)
    started = time.perf_counter()
    for _ in range(kills):
        proc = _spawn(data, runs, config)
        report.lifetimes += 1
        assert proc.stdout is not None
        # Somewhere in the submit or completion phase: 1 .. 2 * runs progress lines.
        alive = _read_until(proc.stdout, rng.randint(1, 2 * runs), report)
        if alive:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    proc = _spawn(data, runs, config)
    report.lifetimes += 1
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ready "):
            report.restart_seconds.append(float(line.split()[1]))
    proc.stdout.close()
    if proc.wait() != 0:
        raise RuntimeError(f"the last child exited with {proc.returncode}")
    report.wall_seconds = time.perf_counter() - started
    _count(data, report)
    return report


def _count(data: Path, report: Report) -> None:
    from handoffs.store import Store

    with Store.open(data) as store:
        runs = store.runs(limit=1 << 62).items
        by_key = Counter(run.idempotency_key for run in runs)
        report.duplicated += sum(n - 1 for n in by_key.values() if n > 1)
        report.lost = sum(1 for n in range(report.runs) if by_key[f"chaos-{n}"] == 0)
        report.completed = sum(1 for run in runs if run.state == "completed")
        report.not_completed = len(runs) - report.completed
        expected = EXPECTED[report.config]
        for run in runs:
            keys = Counter((h.stage, h.item, h.revision) for h in store.run_handoffs(run.run_id))
            report.duplicated += sum(n - 1 for n in keys.values() if n > 1)
            if run.state == "completed" and set(keys) != {(s, i, 0) for s, i in expected}:
                report.lost += 1
        report.stuck = len(store.pending_tasks())
        report.verify_problems = store.verify()
        report.cut_short = _cut_short(store)
    check = subprocess.run(
        [sys.executable, "-m", "lmdb", "verify", "-e", str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    report.lmdb_verify_ok = check.returncode == 0


def _cut_short(store: Any) -> dict[str, int]:
    """Per stage, the attempts the journal says a kill cut short."""
    counts: Counter[str] = Counter()
    after = 0
    while events := store.journal(after, 10_000):
        after = events[-1].seq
        counts.update(
            e.stage or ""
            for e in events
            if e.type == "task.failed" and e.detail.startswith("the process stopped")
        )
    return dict(sorted(counts.items()))


def main(argv: list[str] | None = None) -> int:
    """The command line; ``child DATA RUNS`` is the process being killed."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "child":
        child(Path(args[1]), int(args[2]), *args[3:4])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="chain")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    opts = parser.parse_args(args)
    with tempfile.TemporaryDirectory(prefix="handoffs-chaos-") as tmp:
        data = opts.data or Path(tmp) / "kb"
        report = run_chaos(data, opts.runs, opts.kills, opts.seed, opts.config)
    restarts = report.restart_seconds
    print(
        f"config {report.config}  runs {report.runs}  kills {report.kills}  "
        f"lifetimes {report.lifetimes}  "
        f"completed {report.completed}\n"
        f"lost {report.lost}  duplicated {report.duplicated}  stuck {report.stuck}  "
        f"not completed {report.not_completed}  verify problems {len(report.verify_problems)}  "
        f"lmdb verify {'ok' if report.lmdb_verify_ok else 'FAILED'}\n"
        f"attempts cut short by a kill: {sum(report.cut_short.values())} "
        f"({', '.join(f'{k} {v}' for k, v in report.cut_short.items()) or 'none'})\n"
        f"restart to ready: median {statistics.median(restarts) * 1000:.1f} ms, "
        f"min {min(restarts) * 1000:.1f}, max {max(restarts) * 1000:.1f} ms  "
        f"(wall {report.wall_seconds:.1f} s)"
    )
    if opts.json:
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        opts.json.write_text(json.dumps({**asdict(report), "clean": report.clean}, indent=2))
    return 0 if report.clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
