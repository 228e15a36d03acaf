"""The store's read side: records by key, listings a page at a time through the indexes, the
journal, and counts per state, as plain functions over a read-transaction factory and the
named DBs. :class:`~handoffs.store.kb.Store`'s read methods call them, one each.

Threads: any thread; each function holds short read transactions from ``read`` (the store's
gate against map resizes) and decodes, where it can, after the transaction ends.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeAlias, TypeVar

import lmdb
import msgspec
from handoffs.messages import Escalation, Handoff, Run, TaskRecord, msgpack_decoder
from handoffs.store.batch import IdempotencyRecord, check_id, check_idempotency_key, check_name
from handoffs.store.errors import StoreCorrupt
from handoffs.store.pages import SEP, page_ids, parts_under
from handoffs.store.values import Page
from handoffs.store.versions import PipelineVersion, read_versions

# Nothing here is the package's API: store.kb imports these by name (as from pages.py).
__all__: list[str] = []

T = TypeVar("T")
#: Opens one short read transaction (``Store._read``).
# (A string: lmdb's classes are generic only in its stubs.)
Read: TypeAlias = "Callable[[], AbstractContextManager[lmdb.Transaction[bytes]]]"
#: The named DBs by name (``environment.DBS``).
Dbs: TypeAlias = dict[str, Any]


def join(*parts: str) -> bytes:
    """Names as one index key part: ``pipeline SEP stage``, ``pipeline SEP state``."""
    return SEP.join(p.encode() for p in parts)


def decode(db: str, key: bytes, data: bytes, tp: type[T]) -> T:
    """``data`` (the record ``key`` of ``db``) as ``tp``; a record that does not decode is
    StoreCorrupt, naming it."""
    try:
        return msgpack_decoder(tp).decode(data)
    except msgspec.MsgspecError as exc:
        raise StoreCorrupt(db, key, str(exc)) from exc


def get(read: Read, dbs: Dbs, db: str, key: bytes, tp: type[T]) -> T | None:
    """The record ``key`` of ``db`` as ``tp``, or ``None``."""
    with read() as txn:
        data = txn.get(key, db=dbs[db])
    return None if data is None else decode(db, key, data, tp)


def get_idempotency(read: Read, dbs: Dbs, key: str) -> IdempotencyRecord | None:
    """See ``Store.get_idempotency``."""
    raw = check_idempotency_key(key)
    with read() as txn:
        data = txn.get(raw, db=dbs["idempotency"])
    if data is None:
        return None
    run_id, digest = decode("idempotency", raw, data, tuple[str, str])
    return IdempotencyRecord(run_id, digest)


def page(
    read: Read,
    dbs: Dbs,
    db: str,
    tp: type[Any],
    index: str | None,
    prefixes: list[bytes],
    limit: int,
    cursor: str | None,
) -> Page:
    """One page of ``db``'s records, oldest first: through ``index`` under ``prefixes``,
    or (``index`` ``None``) in ``db``'s own key order. The one way every listing pages:
    a seek to the cursor, then one page (see ``handoffs.store.pages``)."""
    after = check_id(cursor, "cursor") if cursor else None
    with read() as txn:
        handle = dbs[db]
        source = handle if index is None else dbs[index]
        ids, more = page_ids(txn, source, prefixes, after, limit)
        raw = [(key, txn.get(key, db=handle)) for key in ids]
    items = [decode(db, key, data, tp) for key, data in raw if data is not None]
    return Page(items=items, cursor=ids[-1].decode() if more and ids else None)


def parts(read: Read, dbs: Dbs, index: str, prefix: bytes) -> list[bytes]:
    """``prefix`` followed by each part under it in ``index`` (see ``parts_under``)."""
    with read() as txn:
        found = parts_under(txn, dbs[index], prefix)
    return [prefix + part + SEP for part in found]


def artifacts(
    read: Read,
    dbs: Dbs,
    *,
    run_id: str | None,
    pipeline: str | None,
    stage: str | None,
    kind: str | None,
    tag: str | None,
    limit: int,
    cursor: str | None,
) -> Page:
    """See ``Store.artifacts``."""
    given = [x is not None for x in (run_id, pipeline, kind, tag)]
    if sum(given) != 1 or (stage is not None and pipeline is None):
        raise ValueError("select artifacts by exactly one of run_id, pipeline[+stage], kind, tag")
    if run_id is not None:
        index, prefix = "ix_run_artifacts", check_id(run_id, "run id") + SEP
    elif pipeline is not None:
        check_name(pipeline, "pipeline")
        index = "ix_stage_artifacts"
        if stage is None:
            # Every stage of the pipeline, merged by id (creation order).
            prefixes = parts(read, dbs, index, pipeline.encode() + SEP)
            return page(read, dbs, "artifacts", Handoff, index, prefixes, limit, cursor)
        prefix = join(pipeline, check_name(stage, "stage").decode()) + SEP
    elif kind is not None:
        index, prefix = "ix_kind_artifacts", check_name(kind, "kind") + SEP
    else:
        index, prefix = "ix_tag_artifacts", check_name(tag or "", "tag") + SEP
    return page(read, dbs, "artifacts", Handoff, index, [prefix], limit, cursor)


def newest_artifacts(
    read: Read,
    dbs: Dbs,
    *,
    kind: str | None,
    tag: str | None,
    pipeline: str | None,
    stage: str | None,
    outcome: str | None,
    limit: int,
    scan: int,
) -> list[Handoff]:
    """See ``Store.newest_artifacts``."""
    if sum(x is not None for x in (kind, tag, pipeline)) != 1 or (
        (pipeline is None) != (stage is None)
    ):
        raise ValueError("select artifacts by exactly one of kind, tag, pipeline+stage")
    if kind is not None:
        index, prefix = "ix_kind_artifacts", check_name(kind, "kind") + SEP
    elif tag is not None:
        index, prefix = "ix_tag_artifacts", check_name(tag, "tag") + SEP
    else:
        check_name(pipeline or "", "pipeline")
        index = "ix_stage_artifacts"
        prefix = join(pipeline or "", check_name(stage or "", "stage").decode()) + SEP
    found: list[Handoff] = []
    with read() as txn:
        cursor = txn.cursor(db=dbs[index])
        # Keys are prefix + id, ids grow with time: start past the prefix and walk back.
        end = prefix[:-1] + bytes([prefix[-1] + 1])
        positioned = cursor.prev() if cursor.set_range(end) else cursor.last()
        records = dbs["artifacts"]
        while positioned and scan > 0 and len(found) < limit:
            key = cursor.key()
            if not key.startswith(prefix):
                break
            scan -= 1
            artifact_id = key[len(prefix) :]
            data = txn.get(artifact_id, db=records)
            if data is not None:
                handoff = decode("artifacts", artifact_id, data, Handoff)
                if outcome is None or handoff.outcome == outcome:
                    found.append(handoff)
            positioned = cursor.prev()
    return found


def runs(
    read: Read, dbs: Dbs, *, state: str | None, pipeline: str | None, limit: int, cursor: str | None
) -> Page:
    """See ``Store.runs``."""
    if pipeline is None:
        if state is None:
            return page(read, dbs, "runs", Run, None, [b""], limit, cursor)
        prefixes = [check_name(state, "state") + SEP]
        return page(read, dbs, "runs", Run, "ix_run_state", prefixes, limit, cursor)
    prefix = check_name(pipeline, "pipeline") + SEP
    if state is None:
        prefixes = parts(read, dbs, "ix_run_pipeline", prefix)  # each state, merged by id
    else:
        prefixes = [prefix + check_name(state, "state") + SEP]
    return page(read, dbs, "runs", Run, "ix_run_pipeline", prefixes, limit, cursor)


def escalations(read: Read, dbs: Dbs, *, state: str | None, limit: int, cursor: str | None) -> Page:
    """See ``Store.escalations``."""
    if state is None:
        return page(read, dbs, "escalations", Escalation, None, [b""], limit, cursor)
    prefixes = [check_name(state, "state") + SEP]
    index = "ix_escalation_state"
    return page(read, dbs, "escalations", Escalation, index, prefixes, limit, cursor)


def tasks(read: Read, dbs: Dbs, state: str) -> list[TaskRecord]:
    """See ``Store.tasks``."""
    prefixes = [check_name(state, "state") + SEP]
    return page(read, dbs, "tasks", TaskRecord, "ix_task_state", prefixes, 1 << 62, None).items


def journal(read: Read, dbs: Dbs, after: int, limit: int, fields: type[Any]) -> list[Any]:
    """See ``Store.journal``."""
    out: list[Any] = []
    with read() as txn:
        cur = txn.cursor(db=dbs["journal"])
        if not cur.set_range((max(after, 0) + 1).to_bytes(8, "big")):
            return out
        for key, data in cur.iternext():
            if len(out) == limit:
                break
            out.append(decode("journal", key, data, fields))
    return out


def count_index(read: Read, dbs: Dbs, index: str) -> dict[str, int]:
    """How many entries of a state index are under each state (no record is decoded)."""
    counts: dict[str, int] = {}
    with read() as txn:
        for key in txn.cursor(db=dbs[index]).iternext(keys=True, values=False):
            state = key.split(SEP, 1)[0].decode()
            counts[state] = counts.get(state, 0) + 1
    return counts


def pipeline_versions(read: Read, dbs: Dbs, pipeline: str | None) -> list[PipelineVersion]:
    """See ``Store.pipeline_versions``."""
    if pipeline is not None:
        check_name(pipeline, "pipeline")
    with read() as txn:
        return read_versions(txn, dbs["meta"], pipeline)
