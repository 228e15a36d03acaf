"""What a run input may hold: what JSON can, no deeper than :data:`MAX_INPUT_DEPTH`.

A run's input is stored (msgpack) and served back as JSON, so anything JSON cannot hold would
come back as something else: a set as a list, a datetime as a string, NaN as ``null``. Such
input is refused up front with :class:`~handoffs.actors.errors.InvalidInput` naming where it
is (``$.items[2]``), as the daemon does for HTTP bodies.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Final

import msgspec

from handoffs.actors.errors import InvalidInput

__all__ = ["MAX_INPUT_BYTES", "MAX_INPUT_DEPTH", "encode_input", "input_problem"]

#: How deeply a run input may nest (objects and arrays; the input itself is level 1).
MAX_INPUT_DEPTH: Final = 64
#: The largest run input accepted, encoded (the daemon's body limit is 1 MiB).
MAX_INPUT_BYTES: Final = 1 << 20

_INT_MIN: Final = -(1 << 63)
_INT_MAX: Final = (1 << 64) - 1  # msgpack holds int64 and uint64
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_digest_encoder = msgspec.msgpack.Encoder(order="sorted")


class _Bad(Exception):
    """Raised at the offending value; the path is collected on the way back up."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.parts: list[str | int] = []


def _what(value: object) -> str:
    match value:
        case set() | frozenset():
            return "a set (use a list)"
        case bytes() | bytearray() | memoryview():
            return "bytes (decode them to a string)"
        case datetime.datetime() | datetime.date() | datetime.time():
            return f"a {type(value).__name__} (use an ISO 8601 string)"
        case _:
            return f"a {type(value).__qualname__}"


def _check(value: object, depth: int) -> None:
    # Recursion is bounded: nothing nests past MAX_INPUT_DEPTH before it is refused.
    if value is None or isinstance(value, str | bool):
        return
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise _Bad("the integer is outside the 64-bit range")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Bad(f"JSON cannot hold {value!r} (no NaN or infinity)")
        return
    if isinstance(value, dict | list | tuple) and depth > MAX_INPUT_DEPTH:
        raise _Bad(f"nests deeper than {MAX_INPUT_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Bad(f"an object key must be a string, not {_what(key)}: {key!r:.60}")
            try:
                _check(item, depth + 1)
            except _Bad as bad:
                bad.parts.append(key)
                raise
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            try:
                _check(item, depth + 1)
            except _Bad as bad:
                bad.parts.append(index)
                raise
    else:
        raise _Bad(f"JSON cannot hold {_what(value)}")


def _path(parts: list[str | int]) -> str:
    out = "$"
    for part in reversed(parts):
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def input_problem(value: object) -> InvalidInput | None:
    """Why ``value`` cannot be a run input (an error naming the path), or ``None``."""
    if not isinstance(value, dict):
        return InvalidInput(f"run input must be an object (a dict), not {_what(value)}", path="$")
    try:
        _check(value, 1)
    except _Bad as bad:
        path = _path(bad.parts)
        return InvalidInput(f"run input at {path}: {bad.reason}", path=path)
    return None


def encode_input(pipeline: str, value: object) -> bytes:
    """The request's canonical bytes (sorted keys), once ``value`` is known to be storable.

    Raises:
        InvalidInput: ``value`` is not an object JSON can hold, or is over 1 MiB encoded.
    """
    problem = input_problem(value)
    if problem is not None:
        raise problem
    try:
        encoded = _digest_encoder.encode([pipeline, value])
    except (TypeError, OverflowError, msgspec.EncodeError) as exc:  # a subclass msgspec refuses
        raise InvalidInput(f"run input cannot be stored: {exc}", path="$") from None
    if len(encoded) > MAX_INPUT_BYTES:
        raise InvalidInput(
            f"run input is {len(encoded)} bytes encoded; the limit is {MAX_INPUT_BYTES}", path="$"
        )
    return encoded
