"""The runtime applies the config's [store] retention: at open, every retention_every, and
on demand (Runtime.prune), while it keeps taking work."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import pytest
from handoffs.messages import ConfigError, StoreSpec
from handoffs.store import Store
from runtime_support import OpenRuntime, make_config

from handoffs import load_config


def with_store(**store: str) -> msgspec.Struct:
    return msgspec.structs.replace(make_config(), store=StoreSpec(**store))  # type: ignore[arg-type]


def test_old_runs_are_pruned_at_open_and_the_rest_are_kept(
    open_runtime: OpenRuntime, tmp_path: Path
) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent.parent / "store"))
    from retention_support import DAY, add_run

    now = time.time()
    with Store.open(tmp_path / "kb") as store:
        old = add_run(store, 1, started=now - 40 * DAY)
        young = add_run(store, 2, started=now - 2 * DAY)
        failed = add_run(store, 3, state="failed", started=now - 40 * DAY)
    runtime = open_runtime(with_store(retain_completed="30d", retention_every="1d"))
    assert runtime._housekeeper.wait_passes(1, timeout=30)
    assert runtime.get_run(old) is None
    assert runtime.get_run(young) is not None
    assert runtime.get_run(failed) is not None  # no retain_failed: failed runs stay


def test_prune_now_deletes_what_ended_and_keeps_taking_work(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(with_store(retain_completed="0s", retention_every="1d"))
    assert runtime._housekeeper.wait_passes(1, timeout=30)
    first = [runtime.submit("support", {"question": f"q{n}"}).run_id for n in range(5)]
    for run_id in first:
        assert runtime.wait(run_id, timeout=30).state == "completed"
    report = runtime.prune()
    assert (report.runs, report.handoffs) == (5, 5)
    assert [runtime.get_run(run_id) for run_id in first] == [None] * 5
    later = runtime.submit("support", {"question": "again"}).run_id
    assert runtime.wait(later, timeout=30).state == "completed"
    assert runtime.store.verify() == []


def test_without_retention_nothing_is_pruned_and_no_thread_starts(
    open_runtime: OpenRuntime,
) -> None:
    runtime = open_runtime()
    run_id = runtime.submit("support", {"question": "q"}).run_id
    runtime.wait(run_id, timeout=30)
    assert runtime.prune().runs == 0
    assert runtime.get_run(run_id) is not None
    assert runtime._housekeeper.passes == 1  # the call above, not a thread


def test_a_bad_retention_age_names_its_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[store]\nretain_completed = "30 days"\n')
    with pytest.raises(ConfigError, match=r"store\.retain_completed"):
        load_config(config)
