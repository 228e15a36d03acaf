"""Backups while a runtime commits, restores, compaction, and the commands that run them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import fakes
import pytest
from handoffs.store import (
    Store,
    StoreLocked,
    StorePathError,
    backup,
    compact,
    restore,
)
from prometheus_client import CollectorRegistry
from retention_support import DAY, NOW, add_run
from runtime_support import make_config

from handoffs import Runtime


def handoffs_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handoffs", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_backup_taken_under_load_holds_every_acknowledged_run(tmp_path: Path) -> None:
    fakes.reset()
    acknowledged: list[str] = []
    stop = threading.Event()
    enough = threading.Event()
    with Runtime.open(make_config(), tmp_path / "kb", registry=CollectorRegistry()) as runtime:

        def load() -> None:
            n = 0
            while not stop.is_set():
                acknowledged.append(runtime.submit("support", {"question": f"q{n}"}).run_id)
                n += 1
                if n == 50:
                    enough.set()

        thread = threading.Thread(target=load)
        thread.start()
        try:
            assert enough.wait(60)
            before = list(acknowledged)  # acknowledged before the backup began
            done = handoffs_cli("backup", "--data", tmp_path / "kb", tmp_path / "backup")
            during = len(acknowledged) - len(before)
        finally:
            stop.set()
            thread.join()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"backed up {tmp_path / 'kb'} to {tmp_path / 'backup'} (")
    assert during > 0  # the runtime kept committing while the copy was made
    restored = handoffs_cli("restore", tmp_path / "backup", "--data", tmp_path / "restored")
    assert (restored.returncode, restored.stdout) == (
        0,
        f"restored {tmp_path / 'backup'} into {tmp_path / 'restored'}\n",
    )
    with Store.open(tmp_path / "restored") as store:
        assert [run_id for run_id in before if store.get_run(run_id) is None] == []
        assert store.verify() == []
    fakes.reset()


def test_a_backup_can_be_opened_as_a_data_directory(tmp_path: Path) -> None:
    with Store.open(tmp_path / "kb") as store:
        run_id = add_run(store, 1, started=NOW - DAY)
    backup(tmp_path / "kb", tmp_path / "out")
    with Store.open(tmp_path / "out") as copy:
        assert copy.get_run(run_id) is not None
        assert copy.verify() == []


def test_backup_refusals(tmp_path: Path) -> None:
    with pytest.raises(StorePathError, match=r"^cannot open store .*/nothing: no store there"):
        backup(tmp_path / "nothing", tmp_path / "out")
    with Store.open(tmp_path / "kb") as store:
        add_run(store, 1, started=NOW)
        (tmp_path / "taken").mkdir()
        with pytest.raises(
            StorePathError, match=r"^cannot open store .*/taken: it exists; a backup goes to a new"
        ):
            backup(tmp_path / "kb", tmp_path / "taken")
        with pytest.raises(
            StorePathError,
            match=r"^cannot open store .*/kb: this process has it open: back it up with Store",
        ):
            backup(tmp_path / "kb", tmp_path / "out")
        store.copy(tmp_path / "taken")  # in the process that has it open
    with Store.open(tmp_path / "taken") as copy:
        assert copy.count_runs() == {"completed": 1}


def test_restore_never_overwrites_a_store(tmp_path: Path) -> None:
    with Store.open(tmp_path / "kb") as store:
        add_run(store, 1, started=NOW)
    backup(tmp_path / "kb", tmp_path / "out")
    with pytest.raises(
        StorePathError,
        match=r"^cannot open store .*/kb: it holds a store already; move it aside to restore",
    ):
        restore(tmp_path / "out", tmp_path / "kb")


def test_compact_shrinks_a_pruned_store_and_keeps_what_is_left(tmp_path: Path) -> None:
    data = tmp_path / "kb"
    now = time.time()  # the command prunes by the clock
    with Store.open(data) as store:
        for n in range(300):
            add_run(store, n, started=now - 40 * DAY, stages=3)
        kept = add_run(store, 300, started=now)
    pruned = handoffs_cli("prune", "--data", data, "--completed-older-than", "30d")
    assert pruned.returncode == 0, pruned.stderr
    # Journal entries carry the real time, so the 30d window keeps them all.
    assert pruned.stdout.startswith(
        "pruned 300 runs, 900 handoffs, 900 tasks, 0 escalations, 0 idempotency keys, "
        "0 journal entries in "
    )
    (data / ".data.mdb.tmp-1").mkdir()  # left by a compaction killed halfway
    before, after = compact(data)
    assert after < before / 2
    assert not (data / ".data.mdb.tmp-1").exists()
    with Store.open(data) as store:
        assert [r.run_id for r in store.runs(limit=10).items] == [kept]
        assert store.verify() == []
    done = handoffs_cli("compact", "--data", data)
    assert (done.returncode, done.stdout) == (
        0,
        f"compacted {data}: {after / (1 << 20):.1f} MiB -> {after / (1 << 20):.1f} MiB\n",
    )


def test_compact_prune_and_restore_refuse_a_store_the_daemon_has_open(tmp_path: Path) -> None:
    data = tmp_path / "kb"
    with Store.open(data) as store:
        add_run(store, 1, started=NOW - 40 * DAY)
        locked = f"error: store {data} is locked by process {os.getpid()}; only one process"
        for args in (
            ("compact", "--data", data),
            ("prune", "--data", data, "--completed-older-than", "1d"),
        ):
            done = handoffs_cli(*args)
            assert done.returncode == 1
            assert done.stderr.startswith(locked), done.stderr
        with pytest.raises(StoreLocked):
            compact(data)
        assert store.count_runs() == {"completed": 1}


def test_prune_arguments_are_checked(tmp_path: Path) -> None:
    done = handoffs_cli("prune", "--data", tmp_path, "--completed-older-than", "3w")
    assert (done.returncode, done.stderr) == (
        1,
        "error: --completed-older-than: '3w' is not a duration: a number and s, m, h or d (30d)\n",
    )
    done = handoffs_cli("prune", "--data", tmp_path)
    assert (done.returncode, done.stderr) == (
        1,
        "error: prune: give at least one --...-older-than age\n",
    )
    done = handoffs_cli("prune", "--data", tmp_path / "none", "--failed-older-than", "1d")
    assert (done.returncode, done.stderr) == (
        1,
        f"error: cannot open store {tmp_path / 'none'}: no store there (no data.mdb)\n",
    )
