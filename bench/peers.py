"""(f) Peers on the same work, as shipped, default settings: what they share.

Both peers serialize what passes between stages (AutoGen JSON-encodes every published
dataclass message for its event log; LangGraph's checkpointers msgpack-encode the state), and
neither takes msgspec Structs, so a peer carries each stage's contract as builtins
(``msgspec.to_builtins``) and the next stage converts it back (``msgspec.convert``): a few
microseconds against their per-hop overhead. See :mod:`bench.autogen_peer` and
:mod:`bench.langgraph_peer`.

A peer that is not installed raises :class:`PeerMissing`; the runner reports it as skipped.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import msgspec
from handoffs.messages import Draft, ResearchFindings

from bench import work

__all__ = ["PEER_PACKAGES", "PeerMissing", "missing_peer", "require", "stage_on_builtins"]

#: The distributions (and their import names) each peer needs.
PEER_PACKAGES = {
    "autogen": (("autogen-core", "autogen_core"),),
    "langgraph": (("langgraph", "langgraph"),),
    "langgraph-sqlite": (
        ("langgraph", "langgraph"),
        ("langgraph-checkpoint-sqlite", "langgraph.checkpoint.sqlite"),
    ),
}

_builtins = msgspec.to_builtins


class PeerMissing(RuntimeError):
    """The peer's package is not installed (``pip install -e '.[bench]'``)."""


def missing_peer(peer: str) -> str | None:
    """Which package of ``peer`` is not installed, or ``None`` when all are."""
    for dist, module in PEER_PACKAGES[peer]:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return dist
    return None


def require(peer: str) -> None:
    """Raise :class:`PeerMissing` unless every package of ``peer`` is installed."""
    dist = missing_peer(peer)
    if dist is not None:
        raise PeerMissing(f"{dist} is not installed (pip install -e '.[bench]')")


def stage_on_builtins(stage: str, value: Any, topic: str) -> Any:
    """One stage of the work, builtins in (the previous output), builtins out."""
    if stage == "research":
        return _builtins(work.research(topic))
    if stage == "write":
        return _builtins(work.write(msgspec.convert(value, ResearchFindings)))
    draft = msgspec.convert(value, Draft)
    if stage == "review":
        _builtins(work.review(draft, reject=False))
        return value  # publish works on the approved draft
    return _builtins(work.publish(draft))


def _warm_up() -> None:
    # msgspec builds a type's conversion info on first use; two threads doing that at once
    # crashed the process (SIGSEGV, msgspec 0.22 on CPython 3.11), so build it here, on the
    # importing thread, before any peer starts its threads.
    findings = work.research("warm-up")
    msgspec.convert(_builtins(findings), ResearchFindings)
    msgspec.convert(_builtins(work.write(findings)), Draft)


_warm_up()
