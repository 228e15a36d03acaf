"""A read-only view of the knowledge base, handed to agents that ask for it.

An agent written as ``def review(task, kb)`` (two positional parameters) receives a
:class:`Knowledge`: committed handoffs beyond its own run, by kind, tag or pipeline and stage,
newest first and bounded, each with its output decoded. It has no write path: the
orchestrator stays the single writer, and an agent's only way to change the knowledge base is
to return its output.
"""

from __future__ import annotations

from typing import Any

import msgspec
from handoffs.messages import ContractRegistry, Handoff, decode_msgpack
from handoffs.store import InvalidKey, Store

__all__ = ["Found", "Knowledge"]

#: The most handoffs one lookup returns.
MAX_FOUND = 200


class Found(msgspec.Struct, frozen=True):
    """One committed handoff (its payload left encoded) and its output, decoded."""

    handoff: Handoff
    output: Any


class Knowledge:
    """Read-only lookups over committed handoffs. Safe from any thread (reads go straight to
    LMDB in short read transactions), but blocking: call it between awaits, not in a loop of
    thousands."""

    def __init__(self, store: Store, registry: ContractRegistry) -> None:
        self._store = store
        self._registry = registry

    def find(
        self,
        *,
        kind: str | None = None,
        tag: str | None = None,
        pipeline: str | None = None,
        stage: str | None = None,
        outcome: str | None = "accepted",
        limit: int = 20,
    ) -> list[Found]:
        """Committed handoffs selected by exactly one of ``kind``, ``tag`` or ``pipeline``
        with ``stage``, newest first, at most ``limit`` (up to 200).
        ``outcome`` filters (``None``: rejected and gate-failed outputs too).

        Raises:
            ValueError: no selector, more than one, or a ``limit`` below 1.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        try:
            handoffs = self._store.newest_artifacts(
                kind=kind,
                tag=tag,
                pipeline=pipeline,
                stage=stage,
                outcome=outcome,
                limit=min(limit, MAX_FOUND),
            )
        except (ValueError, InvalidKey) as exc:  # the caller's error, in our words
            raise ValueError(str(exc)) from None
        return [Found(h, self.output(h)) for h in handoffs]

    def output(self, handoff: Handoff) -> Any:
        """A handoff's output decoded into its contract (``None`` if the contract is unknown)."""
        try:
            contract = self._registry.get(handoff.kind)
        except Exception:
            return None
        return decode_msgpack(handoff.payload, contract)
