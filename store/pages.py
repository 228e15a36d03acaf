"""Pages of a listing, read through LMDB cursors: every page seeks to its cursor and reads
one page of keys, whatever the size of the index (no listing scans what it skips).

A listing is one or more key prefixes in one DB; each key is ``prefix + id``, and ids sort
by creation time, so each prefix is a stream of ids in creation order. A listing over several
prefixes (runs of a pipeline in every state, handoffs of a pipeline at every stage) merges
their streams by id: a page costs ``O(page x log(prefixes))`` after one seek per prefix.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from typing import Any, Final

import lmdb

# Nothing here is the package's API: store.kb imports these by name. (An empty __all__ keeps
# the package's "exports what its modules export" rule, as batch.check_id's allowance does.)
__all__: list[str] = []

#: Separates the parts of an index key (names and ids never contain it).
SEP: Final = b"\x00"
# Just past SEP: ``prefix + part + _PAST_SEP`` sorts after every key of ``prefix + part + SEP``
# and before the next part's keys.
_PAST_SEP: Final = b"\x01"


def parts_under(txn: lmdb.Transaction[bytes], db: Any, prefix: bytes) -> list[bytes]:
    """The distinct parts that follow ``prefix`` in ``db``'s keys (``prefix + part + SEP +
    ...``): the states a pipeline's runs are in, the stages of a pipeline. One seek per part,
    not a scan of their keys."""
    parts: list[bytes] = []
    cursor = txn.cursor(db=db)
    found = cursor.set_range(prefix)
    while found:
        key = cursor.key()
        if not key.startswith(prefix):
            break
        part = key[len(prefix) :].split(SEP, 1)[0]
        parts.append(part)
        found = cursor.set_range(prefix + part + _PAST_SEP)
    return parts


def page_ids(
    txn: lmdb.Transaction[bytes],
    db: Any,
    prefixes: Sequence[bytes],
    after: bytes | None,
    limit: int,
) -> tuple[list[bytes], bool]:
    """Up to ``limit`` ids after ``after`` under ``prefixes`` in ``db``, oldest first; and
    whether more follow. An empty prefix lists a DB whose keys are the ids themselves."""
    streams: list[Iterator[bytes]] = []
    heads: list[tuple[bytes, int]] = []
    for prefix in prefixes:
        cursor = txn.cursor(db=db)
        # Ids of one kind have one length: prefix + after + "\x01" is past after, before the next.
        if not cursor.set_range(prefix + after + _PAST_SEP if after else prefix):
            continue
        stream = _ids(cursor, prefix)
        first = next(stream, None)
        if first is not None:
            heads.append((first, len(streams)))
            streams.append(stream)
    heapq.heapify(heads)
    ids: list[bytes] = []
    while heads and len(ids) <= limit:
        id_, n = heads[0]
        ids.append(id_)
        following = next(streams[n], None)
        if following is None:
            heapq.heappop(heads)
        else:
            heapq.heapreplace(heads, (following, n))
    return ids[:limit], len(ids) > limit


def _ids(cursor: lmdb.Cursor[bytes], prefix: bytes) -> Iterator[bytes]:
    start = len(prefix)
    for key in cursor.iternext(keys=True, values=False):
        if not key.startswith(prefix):
            return
        yield key[start:]
