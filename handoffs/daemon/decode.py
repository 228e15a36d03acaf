"""Request bodies from outside, decoded strictly: UTF-8 first, then the typed decoder.

Every way a body can be wrong maps to an :class:`ApiError` with a 4xx status and, where one
can be named, the field: invalid UTF-8, malformed or truncated JSON, nesting deeper than the
decoder allows, a wrong type, a missing or unknown field. Nothing a client sends reaches the
runtime unchecked, and nothing it sends can raise anything but ``ApiError`` here.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from handoffs.daemon.errors import ApiError
from handoffs.daemon.wire import MAX_INPUT_DEPTH
from handoffs.messages import field_of

__all__ = ["check_input", "decode_body"]

T = TypeVar("T")

_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]*)`")
_INT64_MIN = -(1 << 63)
_UINT64_MAX = (1 << 64) - 1


def _where(exc: msgspec.ValidationError) -> str:
    """The JSON path a validation error is about, naming the field itself when msgspec only
    names the object holding it (unknown and missing fields)."""
    path = field_of(exc) or "$"
    named = _NAMED_FIELD.search(str(exc))
    return f"{path}.{named.group(1)}" if named else path


def decode_body(body: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """Decode a request body with ``decoder`` (built once per type, strict).

    Raises:
        ApiError: 400 ``empty_body``, ``invalid_utf8``, ``invalid_json``, ``too_deep``, or
            ``invalid_field`` (with the JSON path of the field).
    """
    if not body.strip():
        raise ApiError(400, "empty_body", "the request needs a JSON body")
    try:
        # msgspec does not check the UTF-8 of strings it passes through; check it all first.
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "invalid_utf8", f"the body is not valid UTF-8 (byte {exc.start})"
        ) from None
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        message = str(exc).split(" - at `")[0]
        raise ApiError(400, "invalid_field", message, field=_where(exc)) from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "too_deep", "the body nests too deeply") from None


def check_input(value: dict[str, Any], field: str = "$.input") -> None:
    """Check a run input beyond its JSON shape: nesting depth, and integers that the store's
    msgpack encoding can hold.

    Raises:
        ApiError: 400 ``too_deep`` or ``invalid_field``, naming ``field``.
    """
    # Iterative, so a hostile input cannot exhaust the stack here either.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            if isinstance(item, int) and not _INT64_MIN <= item <= _UINT64_MAX:
                raise ApiError(400, "invalid_field", "an integer is out of the 64-bit range", field)
            continue
        if depth > MAX_INPUT_DEPTH:
            raise ApiError(
                400, "too_deep", f"the input nests deeper than {MAX_INPUT_DEPTH} levels", field
            )
        stack.extend((child, depth + 1) for child in children)
