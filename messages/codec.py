"""Codecs: msgpack for the store, JSON for the outside world.

Encoders and decoders are built once and reused (msgspec's perf tips); decoders are cached per
type because building one walks the type's whole schema.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar, cast

import msgspec
from handoffs.messages.errors import DecodeError

__all__ = [
    "decode_json",
    "decode_msgpack",
    "encode_json",
    "encode_msgpack",
    "field_of",
    "json_decoder",
    "msgpack_decoder",
]

T = TypeVar("T")

_msgpack_encoder = msgspec.msgpack.Encoder()
_json_encoder = msgspec.json.Encoder()
_msgpack_decoders: dict[Any, msgspec.msgpack.Decoder[Any]] = {}
_json_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
_lock = threading.Lock()

encode_msgpack = _msgpack_encoder.encode
encode_json = _json_encoder.encode


def msgpack_decoder(tp: type[T]) -> msgspec.msgpack.Decoder[T]:
    """The shared msgpack decoder for ``tp`` (built on first use)."""
    dec = _msgpack_decoders.get(tp)
    if dec is None:
        with _lock:
            dec = _msgpack_decoders.setdefault(tp, msgspec.msgpack.Decoder(tp))
    return cast("msgspec.msgpack.Decoder[T]", dec)


def json_decoder(tp: type[T]) -> msgspec.json.Decoder[T]:
    """The shared JSON decoder for ``tp`` (built on first use)."""
    dec = _json_decoders.get(tp)
    if dec is None:
        with _lock:
            dec = _json_decoders.setdefault(tp, msgspec.json.Decoder(tp))
    return cast("msgspec.json.Decoder[T]", dec)


def field_of(error: msgspec.MsgspecError) -> str | None:
    """The JSON path (``$.a.b``) a msgspec validation message names, if it names one."""
    message = str(error)
    marker = " - at `"
    if marker in message:
        return message.rsplit(marker, 1)[1].rstrip("`")
    return None


def decode_msgpack(data: bytes | memoryview, tp: type[T]) -> T:
    """Decode msgpack bytes into ``tp``, validating every constraint.

    Raises:
        DecodeError: the bytes are malformed or do not match ``tp``; ``field`` names the path.
    """
    try:
        return msgpack_decoder(tp).decode(data)
    except msgspec.MsgspecError as exc:
        raise DecodeError(str(exc), field=field_of(exc)) from exc


def decode_json(data: bytes | str, tp: type[T]) -> T:
    """Decode JSON into ``tp``, validating every constraint.

    Raises:
        DecodeError: the JSON is malformed or does not match ``tp``; ``field`` names the path.
    """
    try:
        return json_decoder(tp).decode(data)
    except msgspec.MsgspecError as exc:
        raise DecodeError(str(exc), field=field_of(exc)) from exc
