"""Opening, locking, permissions, map growth and the cap: the store's life on disk."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from factories import handoff, id_of, run
from handoffs.store import Batch, Store, StoreFull, StoreLocked, StoreOptions

HOLDER = """
import sys
from handoffs.store import Store

store = Store.open(sys.argv[1])
print("open", flush=True)
sys.stdin.readline()
store.close()
print("closed", flush=True)
"""


def test_a_second_process_is_locked_out_until_the_holder_closes(store_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline() == "open\n"
        message = (
            f"store {store_path} is locked by process {holder.pid}; only one process may open it"
        )
        with pytest.raises(StoreLocked, match=rf"^{re.escape(message)}$") as info:
            Store.open(store_path)
        assert (info.value.path, info.value.pid) == (str(store_path), holder.pid)
        holder.stdin.write("close\n")
        holder.stdin.flush()
        assert holder.stdout.readline() == "closed\n"
    assert holder.returncode == 0
    with Store.open(store_path) as store:
        assert store.statistics().commits == 0


def test_the_same_process_cannot_open_a_store_twice(store: Store, store_path: Path) -> None:
    message = f"store {store_path} is locked by process {os.getpid()}; only one process may open it"
    with pytest.raises(StoreLocked, match=rf"^{re.escape(message)}$"):
        Store.open(store_path)
    store.close()
    Store.open(store_path).close()


def test_only_the_owner_may_read_the_files(store: Store, store_path: Path) -> None:
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o700
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in store_path.iterdir()}
    assert files == {"data.mdb": 0o600, "lock.mdb": 0o600, "handoffs.lock": 0o600}


def test_an_existing_directory_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "kb"
    path.mkdir(mode=0o755)
    Store.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def handoff_batches(start: int, count: int, body: str) -> Batch:
    batch = Batch()
    for n in range(start, start + count):
        batch.put_artifact(handoff(n, run=n // 10, tags=["big"], body=body))
    batch.event("bulk", detail=f"{start}+{count}")
    return batch


def test_the_map_doubles_until_everything_fits(store_path: Path) -> None:
    options = StoreOptions(map_size=1 << 20, max_map_size=64 << 20)
    body = "x" * 2048
    with Store.open(store_path, options) as store:
        for start in range(0, 3000, 100):
            store.commit([handoff_batches(start, 100, body)])
        stats = store.statistics()
        assert stats.resizes >= 3
        assert stats.map_size >= 8 << 20
        assert stats.entries["artifacts"] == 3000
        assert all(
            store.get_artifact(id_of("art", n)) == handoff(n, run=n // 10, tags=["big"], body=body)
            for n in range(0, 3000, 97)
        )
        assert store.verify() == []
    with Store.open(store_path, options) as store:
        # LMDB alone would reopen at the size in use; the store gives it room again.
        reopened = store.statistics()
        assert reopened.map_size == min(2 * reopened.map_used, options.max_map_size)
        page = store.artifacts(tag="big", limit=5000)
        assert [h.id for h in page.items] == [id_of("art", n) for n in range(3000)]
        assert store.last_seq == 30


def test_a_commit_over_the_cap_raises_store_full_and_writes_nothing(store_path: Path) -> None:
    options = StoreOptions(map_size=1 << 20, max_map_size=2 << 20)
    with Store.open(store_path, options) as store:
        small = Batch()
        small.put_run(run(1))
        small.event("started", run_id=id_of("run", 1))
        store.commit([small])
        before = store.statistics()
        message = (
            f"store is full: map size {2 << 20} bytes reached the cap of {2 << 20} bytes; "
            "raise max_map_size or free space"
        )
        with pytest.raises(StoreFull, match=rf"^{re.escape(message)}$") as info:
            store.commit([handoff_batches(0, 500, "x" * 2048), handoff_batches(500, 500, "")])
        assert (info.value.map_size, info.value.max_map_size) == (2 << 20, 2 << 20)
        after = store.statistics()
        assert (after.entries, after.last_seq, after.commits) == (before.entries, 1, 1)
        assert store.verify() == []
        store.commit([handoff_batches(0, 10, "")])  # a commit that fits still goes through
    with Store.open(store_path, options) as store:
        stats = store.statistics()
        assert stats.entries["artifacts"] == 10
        assert stats.entries["runs"] == 1
        assert [e.type for e in store.journal()] == ["started", "bulk"]
        assert store.verify() == []
