"""Orchestrator shards, in process: a ShardedRuntime over real shard processes (each a whole
runtime on its own LMDB environment), driven through the same calls as one runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from handoffs.actors.errors import EscalationNotFound, RunFinished, RunNotFound, UnknownPipeline
from handoffs.messages import ConfigError
from handoffs.messages.ids import shard_of
from handoffs.store import InvalidKey

from handoffs import Runtime
from handoffs.shards import (
    ShardedRuntime,
    ShardLayoutError,
    ShardUnavailable,
    format_position,
    shard_dir,
)

AGENTS = Path(__file__).resolve().parents[1] / "daemon"
CONFIG = AGENTS / "daemon.toml"


@pytest.fixture
def sharded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ShardedRuntime]:
    monkeypatch.syspath_prepend(str(AGENTS))  # the shards import the agents from here
    runtime = ShardedRuntime.open(CONFIG, tmp_path / "data", 2)
    try:
        yield runtime
    finally:
        runtime.close()


def _submit_on(runtime: ShardedRuntime, shard: int, n: int) -> str:
    """An idempotency key that routes to ``shard`` (keys hash to shards)."""
    key = next(
        k for k in (f"key-{n}-{i}" for i in range(1000)) if runtime.shard_for_key(k) == shard
    )
    return key


def test_runs_spread_over_shards_complete_and_their_ids_name_their_shard(
    sharded: ShardedRuntime,
) -> None:
    ids = [sharded.submit("note", {"topic": f"t{i}"}).run_id for i in range(8)]
    assert sorted(shard_of(i) for i in ids) == [0, 0, 0, 0, 1, 1, 1, 1]
    for run_id in ids:
        assert sharded.wait(run_id, timeout=30).state == "completed"
    assert sharded.store.count_runs() == {"completed": 8}
    handoffs = sharded.handoffs(ids[3])
    assert [h.stage for h in handoffs] == ["write"]
    assert sharded.payload(handoffs[0]).title == "t3"
    assert sharded.health() == (True, [])


def test_a_listing_pages_across_shards_with_one_cursor_oldest_first(
    sharded: ShardedRuntime,
) -> None:
    ids = [sharded.submit("note", {"topic": f"t{i}"}).run_id for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        page = sharded.store.runs(limit=3, cursor=cursor)
        seen += [r.run_id for r in page.items]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == sorted(ids)
    assert [r.run_id for r in sharded.store.runs(pipeline="note", limit=100).items] == sorted(ids)
    with pytest.raises(InvalidKey):
        sharded.store.runs(cursor="not an id")


def test_the_journal_merges_with_one_position_and_resumes_without_loss_or_repeat(
    sharded: ShardedRuntime,
) -> None:
    ids = [sharded.submit("note", {"topic": f"t{i}"}).run_id for i in range(6)]
    for run_id in ids:
        sharded.wait(run_id, timeout=30)
    everything = sharded.store.journal_after((0, 0), 10_000)
    assert sum(1 for p in everything if p.event.type == "run.completed") == 6
    assert format_position(everything[-1].position) == format_position(sharded.store.position)
    # Resume from every position in turn: the rest is exactly what followed.
    for i in (0, 3, len(everything) // 2, len(everything) - 1):
        rest = sharded.store.journal_after(everything[i].position, 10_000)
        assert [p.event for p in rest] == [p.event for p in everything[i + 1 :]]


def test_an_idempotency_key_lands_on_one_shard_and_gives_the_same_run(
    sharded: ShardedRuntime,
) -> None:
    for shard in (0, 1):
        key = _submit_on(sharded, shard, shard)
        first = sharded.submit("note", {"topic": "same"}, key)
        again = sharded.submit("note", {"topic": "same"}, key)
        assert first.created and not again.created
        assert again.run_id == first.run_id
        assert shard_of(first.run_id) == shard


def test_errors_cross_from_the_shard_with_their_own_type(sharded: ShardedRuntime) -> None:
    run_id = sharded.submit("note", {"topic": "x"}).run_id
    sharded.wait(run_id, timeout=30)
    with pytest.raises(RunFinished) as finished:
        sharded.cancel(run_id)
    assert finished.value.state == "completed"
    missing = run_id[:-8] + "00ffffff"
    with pytest.raises(RunNotFound):
        sharded.cancel(missing)
    with pytest.raises(EscalationNotFound):
        sharded.resolve("esc-" + run_id[4:], "approve")
    with pytest.raises(UnknownPipeline):
        sharded.submit("nope", {})
    with pytest.raises(InvalidKey):
        sharded.get_run("run-1")
    assert sharded.get_run(run_id[:-8] + "7f000000") is None  # a shard it does not have


def test_an_escalation_is_listed_across_shards_and_resolved_on_its_own(
    sharded: ShardedRuntime,
) -> None:
    ids = [
        sharded.submit(
            "reviewed", {"topic": "x", "approve": False}, _submit_on(sharded, s, 9)
        ).run_id
        for s in (0, 1)
    ]
    for run_id in ids:
        assert sharded.wait(run_id, timeout=30).state == "escalated"
    escalations = sharded.escalations()
    assert sorted(e.run_id for e in escalations) == sorted(ids)
    for escalation in escalations:
        assert sharded.resolve(escalation.id, "cancel").state == "resolved"
    assert sharded.escalations() == []
    assert {sharded.get_run(i).state for i in ids} == {"cancelled"}  # type: ignore[union-attr]


def test_a_killed_shard_loses_nothing_comes_back_and_the_other_keeps_serving(
    sharded: ShardedRuntime,
) -> None:
    acknowledged = [sharded.submit("note", {"topic": f"a{i}"}).run_id for i in range(10)]
    victim = sharded.shards[1]
    victim.kill()
    # A call to the killed shard fails at once, never hangs: refused while the link knows it
    # is down, or failed when its connection breaks under it (the restart waits a backoff).
    with pytest.raises(ShardUnavailable) as unavailable:
        sharded.submit("note", {"topic": "during"}, _submit_on(sharded, 1, 1), timeout=30)
    assert unavailable.value.shard == 1
    # The other shard serves meanwhile.
    other = sharded.submit("note", {"topic": "other"}, _submit_on(sharded, 0, 2))
    assert sharded.wait(other.run_id, timeout=30).state == "completed"
    assert victim.wait_started(2, timeout=60), victim.down
    assert victim.restarts == 1
    for run_id in acknowledged:
        assert sharded.wait(run_id, timeout=30).state == "completed"
    assert sharded.health() == (True, [])


def test_the_layout_must_fit_the_shard_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(AGENTS))
    single = tmp_path / "single"
    with Runtime.open(CONFIG, single):
        pass
    with pytest.raises(ShardLayoutError, match="holds an unsharded store"):
        ShardedRuntime.open(CONFIG, single, 2)
    wide = tmp_path / "wide"
    shard_dir(wide, 2).mkdir(parents=True)
    with pytest.raises(ShardLayoutError) as error:
        ShardedRuntime.open(CONFIG, wide, 2)
    assert str(error.value) == (
        f"{wide} holds shards up to shard-2: their runs live there, so serve it with "
        "--shards 3 or more"
    )


def test_a_triggered_run_starts_once_on_its_triggers_shard_across_a_kill(
    tmp_path: Path,
) -> None:
    from handoffs.examples import __file__ as examples

    config = Path(examples).parent / "support.toml"
    with ShardedRuntime.open(config, tmp_path / "data", 2) as sharded:
        question = {
            "question": "how do I export my zebra ledger to mars",
            "product_area": "billing",
        }
        ids = [sharded.submit("support", question).run_id for _ in range(6)]
        sharded.shards[0].kill()  # mid-way for some: the triggers still happen once
        assert sharded.shards[0].wait_started(2, timeout=60), sharded.shards[0].down
        for run_id in ids:
            assert sharded.wait(run_id, timeout=60).state == "completed"
        triggered = sharded.store.runs(pipeline="knowledge_base", limit=100).items
        by_artifact = {run.trigger_artifact: run for run in triggered}
        assert len(by_artifact) == len(triggered) == len(ids)
        for run_id in ids:
            [resolution] = sharded.handoffs(run_id)
            assert sharded.payload(resolution).doc_gap is True
            run = by_artifact[resolution.id]
            assert shard_of(run.run_id) == shard_of(run_id)


def test_check_data_looks_at_every_shard_and_maintenance_names_a_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    monkeypatch.syspath_prepend(str(AGENTS))
    data = tmp_path / "data"
    with ShardedRuntime.open(CONFIG, data, 2) as sharded:
        ids = [
            sharded.submit(
                "reviewed", {"topic": "x", "approve": False}, _submit_on(sharded, s, 5)
            ).run_id
            for s in (0, 1)
        ]
        for run_id in ids:
            assert sharded.wait(run_id, timeout=30).state == "escalated"
    renamed = tmp_path / "renamed.toml"
    renamed.write_text(
        CONFIG.read_text()
        .replace("stages.review]", "stages.check]")
        .replace('next = "review"', 'next = "check"')
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(AGENTS)}
    checked = subprocess.run(
        [sys.executable, "-m", "handoffs", "check", str(renamed), "--data", str(data)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert checked.returncode == 1
    assert all(run_id in checked.stderr for run_id in ids), checked.stderr
    # Opening the shards with it is refused the same way, naming the shard.
    with pytest.raises(ConfigError, match=r"^shard [01]: Runtime\.open: "):
        ShardedRuntime.open(renamed, data, 2)
    backed = subprocess.run(
        [sys.executable, "-m", "handoffs", "backup", "--data", str(data), str(tmp_path / "b")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert backed.returncode == 1
    assert backed.stderr == (
        f"error: cannot open store {data}: no store there (no data.mdb); it holds "
        f"orchestrator shards: give one shard's directory, such as {data / 'shard-0'}\n"
    )
