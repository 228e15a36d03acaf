"""Listings page by seeking: every page of every filter reads that page, not the index
before it; pages put together are the whole listing in creation order; a store made before
the pipeline index gets it when opened."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lmdb
import pytest
from factories import escalation, handoff, id_of, run
from handoffs.messages import RunState
from handoffs.store import Batch, Page, Store, StoreCorrupt

STATES: list[RunState] = ["running", "completed", "escalated", "failed", "cancelled"]
PIPELINES = ["blog", "support", "code"]


def fill(store: Store, runs: int, shape: Callable[[int], tuple[str, RunState]]) -> None:
    """``runs`` runs, run ``n`` of pipeline and state ``shape(n)``, a handoff each."""
    for start in range(0, runs, 5000):
        batch = Batch(check=False)
        for n in range(start, min(start + 5000, runs)):
            pipeline, state = shape(n)
            batch.put_run(run(n, pipeline=pipeline, state=state), was=None)
            batch.put_artifact(handoff(n, run=n, pipeline=pipeline, stage=f"s{n % 4}"), new=True)
        store.commit([batch])


def mixed(n: int) -> tuple[str, RunState]:
    return PIPELINES[n % 3], STATES[(n // 3) % 5]


def walk(listing: Callable[[str | None], Page]) -> tuple[list[Any], int]:
    """Every item of a listing, page by page; and how many pages."""
    items: list[Any] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = listing(cursor)
        pages += 1
        items += page.items
        if page.cursor is None:
            return items, pages
        cursor = page.cursor


@pytest.mark.parametrize("limit", [1, 7, 1000])
def test_pages_put_together_are_the_listing_in_creation_order(store: Store, limit: int) -> None:
    fill(store, 300, mixed)
    everything = [run(n, pipeline=mixed(n)[0], state=mixed(n)[1]) for n in range(300)]
    for state in [None, *STATES]:
        for pipeline in [None, *PIPELINES, "none"]:
            want = [
                r for r in everything if state in (None, r.state) and pipeline in (None, r.pipeline)
            ]
            got, pages = walk(
                lambda c, s=state, p=pipeline: store.runs(
                    state=s, pipeline=p, limit=limit, cursor=c
                )
            )
            assert got == want, (state, pipeline)
            assert pages == max(1, -(-len(want) // limit)), (state, pipeline)
    got, _ = walk(lambda c: store.artifacts(pipeline="blog", limit=limit, cursor=c))
    assert [h.id for h in got] == [id_of("art", n) for n in range(0, 300, 3)]


def test_runs_follow_their_state_in_the_pipeline_index(store: Store) -> None:
    batch = Batch()
    batch.put_run(run(1, pipeline="blog"))
    batch.put_run(run(2, pipeline="support"))
    store.commit([batch])
    batch = Batch()
    batch.put_run(run(1, pipeline="blog", state="completed"))  # the store reads the old state
    batch.put_run(run(2, pipeline="support", state="escalated"), was="running")
    store.commit([batch])
    assert [r.run_id for r in store.runs(pipeline="blog", state="completed").items] == [
        id_of("run", 1)
    ]
    assert store.runs(pipeline="blog", state="running").items == []
    assert [r.state for r in store.runs(pipeline="support").items] == ["escalated"]
    assert store.verify() == []


def test_escalations_page_in_both_listings(store: Store) -> None:
    batch = Batch()
    for n in range(10):
        batch.put_escalation(escalation(n, run=n, resolved=bool(n % 2)), was=None)
    store.commit([batch])
    got, pages = walk(lambda c: store.escalations(state="open", limit=2, cursor=c))
    assert [e.id for e in got] == [id_of("esc", n) for n in range(0, 10, 2)]
    assert pages == 3
    got, _ = walk(lambda c: store.escalations(state=None, limit=3, cursor=c))
    assert [e.id for e in got] == [id_of("esc", n) for n in range(10)]


def test_a_store_made_before_the_pipeline_index_gets_it_at_open(store_path: Path) -> None:
    with Store.open(store_path) as store:
        fill(store, 50, mixed)
    # What a store written before the index looks like: the index DB empty (or absent).
    env = lmdb.open(str(store_path), max_dbs=32)
    try:
        with env.begin(write=True) as txn:
            txn.drop(env.open_db(b"ix_run_pipeline", txn=txn), delete=True)
    finally:
        env.close()
    with Store.open(store_path) as store:
        assert [r.run_id for r in store.runs(pipeline="code", state="running").items] == [
            id_of("run", n) for n in range(50) if mixed(n) == ("code", "running")
        ]
        assert store.verify() == []
        assert store.statistics().entries["ix_run_pipeline"] == 50


def test_a_pipeline_listing_never_reads_another_pipelines_runs(store_path: Path) -> None:
    """Read by seeking, a page of one pipeline's runs decodes only that page: a corrupt run
    of another pipeline, between two of its runs, is never read."""
    with Store.open(store_path) as store:
        fill(store, 2000, lambda n: ("rare" if n in (0, 1999) else "blog", "completed"))
    env = lmdb.open(str(store_path), max_dbs=32)
    try:
        with env.begin(write=True) as txn:
            txn.put(id_of("run", 1000).encode(), b"\xc1", db=env.open_db(b"runs", txn=txn))
    finally:
        env.close()
    with Store.open(store_path) as store:
        page = store.runs(pipeline="rare", limit=10)
        assert [r.run_id for r in page.items] == [id_of("run", 0), id_of("run", 1999)]
        with pytest.raises(StoreCorrupt):
            store.runs(pipeline="blog", limit=2000)


def _fastest(call: Callable[[], object], repeats: int = 7) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize(
    "listing",
    [
        pytest.param(lambda s, c: s.runs(state="completed", limit=20, cursor=c), id="state"),
        pytest.param(lambda s, c: s.runs(pipeline="blog", limit=20, cursor=c), id="pipeline"),
        pytest.param(
            lambda s, c: s.runs(pipeline="blog", state="completed", limit=20, cursor=c),
            id="pipeline-state",
        ),
        pytest.param(lambda s, c: s.artifacts(pipeline="support", limit=20, cursor=c), id="stages"),
    ],
)
def test_a_page_costs_the_same_in_a_small_and_a_large_store(
    tmp_path: Path, listing: Callable[[Store, str | None], Page]
) -> None:
    """The cost of a page does not grow with the store: a hundred times more runs, the
    fastest of seven second pages within 5x (a scan is 30-100x; the margin absorbs a loaded
    machine). Either store has 40 runs of ``blog`` spread among those of ``support``."""
    costs = []
    for runs in (200, 20_000):
        with Store.open(tmp_path / f"kb{runs}") as store:
            spread = runs // 40
            fill(
                store, runs, lambda n, k=spread: ("blog" if n % k == 0 else "support", "completed")
            )
            cursor = listing(store, None).cursor
            assert cursor is not None
            costs.append(_fastest(lambda s=store, c=cursor: listing(s, c)))
    small, large = costs
    assert large < 5 * small + 0.0002, f"{small * 1e3:.3f} ms -> {large * 1e3:.3f} ms per page"
