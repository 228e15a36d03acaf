"""A batch: the changes of one decision, applied atomically, possibly with other batches.

Records are encoded (and their keys checked) when added, on the caller's thread, so the write
transaction only copies bytes. Journal events get their sequence number when committed.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec
from handoffs.messages import (
    ID_PATTERN,
    NAME_PATTERN,
    Escalation,
    Event,
    Handoff,
    Run,
    TaskRecord,
    encode_msgpack,
    msgpack_decoder,
)
from handoffs.store.errors import InvalidKey

__all__ = [
    "UNKNOWN",
    "Batch",
    "IdempotencyRecord",
    "check_id",
    "check_idempotency_key",
    "check_name",
]

_ID: Final = re.compile(ID_PATTERN)
_NAME: Final = re.compile(NAME_PATTERN)
# The pattern of ``handoffs.messages.IdempotencyKey``, so a key the store accepts is one a
# ``Run.idempotency_key`` can hold; printable ASCII also keeps it under LMDB's 511-byte keys.
_IDEMPOTENCY_KEY_PATTERN: Final = r"^[\x21-\x7e]{1,200}$"
_IDEMPOTENCY_KEY: Final = re.compile(_IDEMPOTENCY_KEY_PATTERN)


def check_id(value: str, what: str = "id") -> bytes:
    """``value`` as key bytes, if it is a valid id.

    Raises:
        InvalidKey: it is not.
    """
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise InvalidKey(f"invalid {what} {value!r}: expected {ID_PATTERN}")
    return value.encode()


def check_name(value: str, what: str = "name") -> bytes:
    """``value`` as key bytes, if it is a valid name.

    Raises:
        InvalidKey: it is not.
    """
    if not isinstance(value, str) or _NAME.fullmatch(value) is None:
        raise InvalidKey(f"invalid {what} {value!r}: expected {NAME_PATTERN}")
    return value.encode()


def check_idempotency_key(value: str) -> bytes:
    """``value`` as key bytes, if it is a valid idempotency key.

    Raises:
        InvalidKey: it is not.
    """
    if not isinstance(value, str) or _IDEMPOTENCY_KEY.fullmatch(value) is None:
        raise InvalidKey(f"invalid idempotency key {value!r}: expected {_IDEMPOTENCY_KEY_PATTERN}")
    return value.encode()


class IdempotencyRecord:
    """An idempotency key's target run and the digest of the request that created it."""

    __slots__ = ("digest", "run_id")

    def __init__(self, run_id: str, digest: str) -> None:
        self.run_id = run_id
        self.digest = digest


#: ``was`` when the caller does not know a record's previous state: the store reads it.
UNKNOWN: Final = "?"


class Batch:
    """Changes to apply in one transaction. Add records, then hand it to ``Store.commit``.

    ``check=False`` skips the key and event checks, for a caller whose ids come from
    ``new_id`` and whose names come from a checked config (the orchestrator, on its hot
    path). A ``was`` argument names a record's previous state (``None``: a new record), which
    spares the store reading it back to move its state index entry.
    """

    # Slots: the orchestrator makes one batch per decision on the hot path.
    __slots__ = ("artifacts", "check", "escalations", "events", "idempotency", "runs", "tasks")

    def __init__(self, *, check: bool = True) -> None:
        self.check = check
        self.artifacts: list[tuple[Handoff, bytes, bool]] = []
        self.runs: list[tuple[Run, bytes, str | None]] = []
        self.tasks: list[tuple[TaskRecord, bytes, str | None]] = []
        self.escalations: list[tuple[Escalation, bytes, str | None]] = []
        self.idempotency: list[tuple[bytes, bytes]] = []
        self.events: list[Event] = []

    def put_artifact(self, handoff: Handoff, *, new: bool = False) -> None:
        """Record a handoff and its index entries (run, pipeline/stage, kind, tags).

        ``new``: its id was just made, so there is no older version whose index entries
        must go.
        """
        if self.check:
            check_id(handoff.id, "artifact id")
            check_id(handoff.run_id, "run id")
            check_name(handoff.pipeline, "pipeline")
            check_name(handoff.stage, "stage")
            check_name(handoff.kind, "kind")
            for tag in handoff.tags:
                check_name(tag, "tag")
        self.artifacts.append((handoff, encode_msgpack(handoff), new))

    def put_run(self, run: Run, *, was: str | None = UNKNOWN) -> None:
        """Insert or update a run; its state index follows."""
        if self.check:
            check_id(run.run_id, "run id")
            check_name(run.pipeline, "pipeline")
        self.runs.append((run, encode_msgpack(run), was))

    def put_task(self, task: TaskRecord, *, was: str | None = UNKNOWN) -> None:
        """Insert or update a task record; its state index follows."""
        if self.check:
            check_id(task.task_id, "task id")
            check_id(task.run_id, "run id")
        self.tasks.append((task, encode_msgpack(task), was))

    def put_escalation(self, escalation: Escalation, *, was: str | None = UNKNOWN) -> None:
        """Insert or update an escalation; its state index follows."""
        if self.check:
            check_id(escalation.id, "escalation id")
            check_id(escalation.run_id, "run id")
        self.escalations.append((escalation, encode_msgpack(escalation), was))

    def put_idempotency(self, key: str, run_id: str, digest: str) -> None:
        """Bind an idempotency key to a run (and the digest of the request body)."""
        raw = check_idempotency_key(key)
        check_id(run_id, "run id")
        self.idempotency.append((raw, encode_msgpack([run_id, digest])))

    def event(self, type: str, **fields: object) -> None:
        """Append a journal event (``run_id``, ``stage``, ``detail``, ... as keywords).

        The fields are checked here: one bad event stored would make every later journal
        read fail.

        Raises:
            TypeError: a keyword is not a field of ``Event``.
            InvalidKey: a value does not validate (an id, a name, a length, ...).
        """
        draft = Event(seq=0, at=0.0, type=type, **fields)  # type: ignore[arg-type]
        if self.check:
            try:
                msgpack_decoder(Event).decode(encode_msgpack(draft))
            except msgspec.ValidationError as exc:
                raise InvalidKey(f"invalid event {type!r}: {exc}") from None
        self.events.append(draft)

    def nbytes(self) -> int:
        """About how many bytes the batch writes (its encoded records; events estimated)."""
        encoded = sum(
            len(data)
            for records in (self.artifacts, self.runs, self.tasks, self.escalations)
            for _, data, _ in records
        )
        return encoded + 256 * len(self.events) + 64 * len(self.idempotency)

    def __bool__(self) -> bool:
        # Whether it writes anything, asked of every batch of a group: stops at the first
        # list that has something (most batches have an event), unlike ``len``.
        return bool(
            self.events
            or self.runs
            or self.tasks
            or self.artifacts
            or self.escalations
            or self.idempotency
        )

    def __len__(self) -> int:
        return (
            len(self.artifacts)
            + len(self.runs)
            + len(self.tasks)
            + len(self.escalations)
            + len(self.idempotency)
            + len(self.events)
        )
