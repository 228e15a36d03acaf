"""Config evolution: a config that strands runs in flight is refused at once, with every
thread stopped; a declared rename moves them, atomically even when killed halfway."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import fakes
import pytest
from evolution_support import renamed_config
from handoffs.messages import ConfigError
from handoffs.store import Store
from prometheus_client import CollectorRegistry
from runtime_support import make_config

from handoffs import Runtime
from handoffs.evolution import pipeline_version

CHILD = Path(__file__).with_name("migrate_child.py")


def runs_in_flight(data: Path, n: int = 3) -> list[str]:
    """Submit ``n`` support runs to a paused runtime: they stay at stage ``support``."""
    with Runtime.open(make_config(), data, dispatch=False, registry=CollectorRegistry()) as rt:
        return [rt.submit("support", {"question": f"q{i}"}).run_id for i in range(n)]


def test_a_config_that_strands_runs_is_refused_at_once_and_stops_its_threads(
    tmp_path: Path,
) -> None:
    run_ids = runs_in_flight(tmp_path / "kb")
    version = pipeline_version(make_config().pipelines["support"])
    threads = set(threading.enumerate())
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        Runtime.open(renamed_config(declared=False), tmp_path / "kb")
    assert time.monotonic() - started < 1.0
    assert str(caught.value) == (
        "Runtime.open: the config strands 3 run(s) in flight: their stage is gone; keep the "
        'stage, or declare where its runs go ([pipelines.NAME.renamed] old = "new"):\n'
        + "\n".join(
            f"  run {r} of pipeline 'support' (version {version}) at stage 'support'"
            for r in run_ids
        )
    )
    assert set(threading.enumerate()) - threads == set()
    with Store.open(tmp_path / "kb") as store:  # the lock was released
        assert store.count_runs() == {"running": 3}


def test_a_declared_rename_moves_runs_in_flight_and_they_finish(tmp_path: Path) -> None:
    fakes.reset()
    run_ids = runs_in_flight(tmp_path / "kb")
    with Runtime.open(renamed_config(), tmp_path / "kb", registry=CollectorRegistry()) as rt:
        for run_id in run_ids:
            run = rt.wait(run_id, timeout=30)
            assert run.state == "completed"
            assert [h.stage for h in rt.handoffs(run_id)] == ["answer"]
        assert rt.store.verify() == []
    fakes.reset()


def test_a_migration_killed_before_it_commits_leaves_the_store_as_it_was(
    tmp_path: Path,
) -> None:
    fakes.reset()
    run_ids = runs_in_flight(tmp_path / "kb")
    done = subprocess.run(
        [sys.executable, str(CHILD), str(tmp_path / "kb")],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(CHILD.parent), str(CHILD.parent.parent)]),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout) == (-9, "migrating\n"), done.stderr
    with Store.open(tmp_path / "kb") as store:
        assert {store.get_run(r).stage for r in run_ids} == {"support"}  # type: ignore[union-attr]
        assert {t.stage for t in store.pending_tasks()} == {"support"}
        assert store.verify() == []
    with Runtime.open(renamed_config(), tmp_path / "kb", registry=CollectorRegistry()) as rt:
        assert {rt.wait(r, timeout=30).state for r in run_ids} == {"completed"}
    fakes.reset()


def test_check_lists_what_a_config_strands_without_changing_the_store(tmp_path: Path) -> None:
    from handoffs.evolution import Stranded, stranded_in

    run_ids = runs_in_flight(tmp_path / "kb", n=2)
    version = pipeline_version(make_config().pipelines["support"])
    assert stranded_in(renamed_config(declared=False), tmp_path / "kb") == [
        Stranded(r, "support", "support", version) for r in run_ids
    ]
    assert stranded_in(renamed_config(), tmp_path / "kb") == []
    with Store.open(tmp_path / "kb") as store:  # the rename was tried on a copy
        assert {t.stage for t in store.pending_tasks()} == {"support"}
