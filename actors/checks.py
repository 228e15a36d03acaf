"""What the orchestrator checks on every output: the contract, then the quality gates.

Pure functions of the output and the stage spec, so they are tested without actors.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from handoffs.messages import (
    NAME_PATTERN,
    Feedback,
    GateSpec,
    QualityMarkers,
    encode_msgpack,
    field_of,
    msgpack_decoder,
)

__all__ = [
    "MAX_TAGS",
    "ValidOutput",
    "check_gates",
    "check_tags",
    "effective_quality",
    "validate_output",
]

#: Tags one handoff may carry (the stage's and the agent's together), as ``Handoff`` allows.
MAX_TAGS = 32
_NAME = re.compile(NAME_PATTERN)


class ValidOutput(msgspec.Struct, frozen=True):
    """An output that passed its contract: decoded (so every constraint ran) and encoded once."""

    value: Any
    payload: bytes
    quality: QualityMarkers


def validate_output(
    output: object,
    contract: type[msgspec.Struct],
    name: str,
    quality: QualityMarkers | None,
    max_bytes: int = 1 << 20,
) -> ValidOutput | Feedback:
    """Check ``output`` against its contract; return it validated, or validator feedback.

    Struct constructors do not validate, so the output is encoded and decoded with the
    contract's typed decoder: that runs every ``Meta`` constraint, and the encoded bytes are
    the ones stored. More than ``max_bytes`` encoded is invalid too: one output must not
    fill the store.
    """
    if type(output) is not contract:
        return Feedback(
            source="validator",
            aspect="type",
            issue=f"expected a {name}, got {type(output).__name__}",
            suggestion=f"return an instance of {name}",
            severity="blocker",
        )
    try:
        payload = encode_msgpack(output)
        if len(payload) > max_bytes:
            return Feedback(
                source="validator",
                aspect="size",
                issue=(
                    f"{name} is {len(payload)} bytes encoded; this stage takes at most "
                    f"{max_bytes} (max_output_bytes)"
                ),
                suggestion="make the output shorter",
                severity="blocker",
            )
        value = msgpack_decoder(contract).decode(payload)
        markers = (
            QualityMarkers()
            if quality is None
            else msgpack_decoder(QualityMarkers).decode(encode_msgpack(quality))
        )
    except (msgspec.ValidationError, msgspec.EncodeError, TypeError) as exc:
        field = field_of(exc) if isinstance(exc, msgspec.MsgspecError) else None
        return Feedback(
            source="validator",
            aspect=(field or "output")[:200],
            issue=f"{name} is invalid: {exc}"[:20_000],
            suggestion="fix the named field",
            severity="blocker",
        )
    return ValidOutput(value, payload, markers)


def check_tags(stage_tags: list[str], tags: list[str]) -> Feedback | None:
    """Validator feedback if an agent's ``Result`` tags cannot be indexed, else ``None``."""
    bad = [t for t in tags if not isinstance(t, str) or not _NAME.fullmatch(t)]
    if bad:
        issue = f"invalid tags {bad!r}: tags must match {NAME_PATTERN}"
    elif len(stage_tags) + len(tags) > MAX_TAGS:
        issue = f"{len(tags)} tags is too many: a handoff carries at most {MAX_TAGS}"
    else:
        return None
    return Feedback(source="validator", aspect="tags", issue=issue[:20_000], severity="blocker")


#: Contract fields ``effective_quality`` reads, and per contract type whether it has any.
_MARKERS = ("confidence", "completeness", "tests_passed", "tests_failed")
_MARKED: dict[type, bool] = {}


def effective_quality(value: object, quality: QualityMarkers) -> QualityMarkers:
    """The markers the gates judge: reported markers, filled in from the payload if unset.

    A contract that carries its own ``confidence`` or ``completeness`` (ResearchFindings
    does) need not repeat it; a ``CodeChange`` with tests run and none failed has passed.
    """
    kind = type(value)
    marked = _MARKED.get(kind)
    if marked is None:
        marked = _MARKED[kind] = any(hasattr(kind, name) for name in _MARKERS)
    if not marked:  # most contracts carry no markers: nothing to fill in (once per output)
        return quality
    updates: dict[str, Any] = {}
    for name in ("confidence", "completeness"):
        if getattr(quality, name) is None and isinstance(getattr(value, name, None), float):
            updates[name] = getattr(value, name)
    if quality.tests_passed is None:
        passed, failed = getattr(value, "tests_passed", None), getattr(value, "tests_failed", None)
        if isinstance(passed, int) and isinstance(failed, int):
            updates["tests_passed"] = passed > 0 and failed == 0
    return msgspec.structs.replace(quality, **updates) if updates else quality


def _below(marker: str, value: float | None, minimum: float) -> Feedback | None:
    if value is None:
        return Feedback(
            source="gate",
            aspect=marker,
            issue=f"{marker} was not reported; this stage requires at least {minimum:g}",
            suggestion=f"report {marker} in the quality markers",
        )
    if value < minimum:
        return Feedback(
            source="gate",
            aspect=marker,
            issue=f"{marker} {value:g} is below the minimum {minimum:g} (short by "
            f"{minimum - value:.2g})",
            suggestion=f"raise {marker} to at least {minimum:g}",
        )
    return None


def check_gates(gates: GateSpec, value: object, quality: QualityMarkers) -> list[Feedback]:
    """Every gate ``value`` fails, as gate feedback saying which marker and by how much."""
    failures: list[Feedback | None] = []
    if gates.min_confidence is not None:
        failures.append(_below("confidence", quality.confidence, gates.min_confidence))
    if gates.min_completeness is not None:
        failures.append(_below("completeness", quality.completeness, gates.min_completeness))
    if gates.min_sources is not None:
        sources = getattr(value, "sources", None)
        count = len(sources) if isinstance(sources, list) else 0
        if count < gates.min_sources:
            failures.append(
                Feedback(
                    source="gate",
                    aspect="sources",
                    issue=f"{count} sources is below the minimum {gates.min_sources} "
                    f"(short by {gates.min_sources - count})",
                    suggestion=f"find at least {gates.min_sources} independent sources",
                )
            )
    if gates.require_tests_passed and quality.tests_passed is not True:
        state = "not reported" if quality.tests_passed is None else "failing"
        failures.append(
            Feedback(
                source="gate",
                aspect="tests_passed",
                issue=f"tests are {state}; this stage requires passing tests",
                suggestion="make the tests pass and report it",
            )
        )
    if gates.require_sources_verified and quality.sources_verified is not True:
        state = "not reported" if quality.sources_verified is None else "not verified"
        failures.append(
            Feedback(
                source="gate",
                aspect="sources_verified",
                issue=f"sources are {state}; this stage requires verified sources",
                suggestion="verify every source and report it",
            )
        )
    return [f for f in failures if f is not None]
