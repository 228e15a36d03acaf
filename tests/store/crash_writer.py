"""Commit numbered batches to a store until killed; ``test_store_crash.py`` kills it.

Batch ``n`` puts run ``n`` (running), task ``n`` (ready), artifact ``n`` (tagged, with a
payload of varying size so records spill onto overflow pages and the map grows), and two
journal events naming run ``n``; it also moves run ``n-1`` to completed and task ``n-1`` to
done. One commit holds 1 to 4 batches. The writer prints ``begin N`` before a commit and
``done N`` after it, N being the number of batches in the store once it is done.

Usage: python crash_writer.py STORE_DIR SEED SYNC(0|1)
"""

from __future__ import annotations

import random
import sys

import msgspec
from handoffs.messages import Draft, Handoff, Run, TaskRecord, encode_msgpack
from handoffs.store import Batch, Store, StoreOptions


def id_of(prefix: str, n: int) -> str:
    return f"{prefix}-{n:024x}"


def batch(n: int, body_size: int) -> Batch:
    b = Batch()
    run_id = id_of("run", n)
    b.put_run(Run(run_id=run_id, pipeline="crash", stage="write"))
    b.put_task(
        TaskRecord(
            task_id=id_of("task", n), run_id=run_id, pipeline="crash", stage="write", role="writer"
        )
    )
    draft = Draft(title=f"batch {n}", body="x" * body_size)
    b.put_artifact(
        Handoff(
            id=id_of("art", n),
            run_id=run_id,
            pipeline="crash",
            stage="write",
            kind="Draft",
            next_action="",
            produced_by="crash_writer",
            tags=["crash", f"mod{n % 3}"],
            payload=msgspec.Raw(encode_msgpack(draft)),
        )
    )
    if n > 0:
        prev = id_of("run", n - 1)
        b.put_run(Run(run_id=prev, pipeline="crash", stage="write", state="completed"))
        b.put_task(
            TaskRecord(
                task_id=id_of("task", n - 1),
                run_id=prev,
                pipeline="crash",
                stage="write",
                role="writer",
                state="done",
            )
        )
    b.event("batch.begin", run_id=run_id)
    b.event("batch.end", run_id=run_id, artifact_id=id_of("art", n))
    return b


def main() -> None:
    path, seed, sync = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    rng = random.Random(seed)
    store = Store.open(path, StoreOptions(map_size=1 << 20, sync=sync, metasync=sync))
    n = store.statistics().entries["runs"]
    while True:
        group = [
            batch(n + i, rng.choice((10, 1000, 5000, 20_000))) for i in range(rng.randint(1, 4))
        ]
        n += len(group)
        # "begin" lets the test kill inside a commit, "done" between commits.
        print("begin", n, flush=True)
        store.commit(group)
        print("done", n, flush=True)


if __name__ == "__main__":
    main()
