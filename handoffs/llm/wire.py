"""The wire shape of a contract: maps as key/value entry arrays, and back.

Strict mode has no free-form objects, so a ``dict[K, V]`` travels as an array of
``{"key": K, "value": V}`` objects (:mod:`handoffs.llm.schema` writes the schema). This module
converts values between the contract's shape and that one:

- :func:`wire_type` makes a parallel type (generated Structs, ``Entry`` Structs for map entries)
  that msgspec decodes an answer into, so its errors name the paths the model actually wrote;
- :func:`from_wire` rebuilds the contract's value from it, refusing a repeated map key;
- :func:`to_wire` writes a contract value in the wire shape, as JSON-ready builtins;
- :func:`rejection` turns a decoding error into :class:`~handoffs.llm.errors.OutputRejected`
  with the field's path.

Generated types are cached and built under a lock, so any thread may call these.
"""

from __future__ import annotations

import collections.abc
import re
import threading
import types
import typing
from typing import Annotated, Any

import msgspec
import msgspec.inspect as mi

from handoffs.llm.errors import OutputRejected, SchemaUnsupported
from handoffs.messages import field_of

__all__ = ["from_wire", "has_map", "mixes_map_and_array", "rejection", "to_wire", "wire_type"]

_ARRAYS = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)
_SEQUENCES = (list, tuple, set, frozenset)


def _bare(info: mi.Type) -> mi.Type:
    return _bare(info.type) if isinstance(info, mi.Metadata) else info


def has_map(info: mi.Type) -> bool:
    """Whether a ``dict`` is reachable from ``info`` (so answers need converting)."""
    return _has_map(info, set())


def mixes_map_and_array(info: mi.UnionType) -> bool:
    """Whether ``info`` has both a map and an array member, which the wire cannot tell apart."""
    kinds = {type(_bare(t)) for t in info.types}
    return mi.DictType in kinds and bool(kinds & set(_ARRAYS))


def rejection(exc: msgspec.ValidationError) -> OutputRejected:
    """``exc`` from decoding an answer as :class:`OutputRejected`, naming the field's path.

    A missing field is named itself (``$.sources[0].url``), not the object that lacks it.
    """
    path = field_of(exc)
    issue = str(exc).rsplit(" - at `", 1)[0] if path is not None else str(exc)
    missing = _MISSING.match(issue)
    path = path or "$"
    return OutputRejected(issue, field=f"{path}.{missing[1]}" if missing else path)


def _has_map(info: mi.Type, seen: set[type]) -> bool:
    match info:
        case mi.Metadata():
            return _has_map(info.type, seen)
        case mi.DictType():
            return True
        case mi.StructType():
            if info.cls in seen:
                return False
            seen.add(info.cls)
            return any(_has_map(f.type, seen) for f in info.fields)
        case mi.UnionType():
            return any(_has_map(t, seen) for t in info.types)
        case mi.ListType() | mi.SetType() | mi.FrozenSetType() | mi.VarTupleType():
            return _has_map(info.item_type, seen)
        case mi.TupleType():
            return any(_has_map(t, seen) for t in info.item_types)
    return False


_MISSING = re.compile(r"^Object missing required field `(.+)`$")
_MAPS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_wire_lock = threading.Lock()
_wire_types: dict[Any, Any] = {}
_building: set[type] = set()


def wire_type(tp: Any) -> Any:
    """``tp`` with every ``dict[K, V]`` replaced by ``list[Entry]`` (Annotated metadata kept)."""
    with _wire_lock:
        return _wire_of(tp)


def _wire_of(tp: Any) -> Any:
    found = _wire_types.get(tp)
    if found is not None:
        return found
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        info = mi.type_info(tp)
        assert isinstance(info, mi.StructType)
        if not _has_map(info, set()):
            return tp
        if tp in _building:
            raise SchemaUnsupported(f"{tp.__name__} is recursive and holds a dict: not supported")
        _building.add(tp)
        try:
            wire = _wire_struct(tp)
        finally:
            _building.discard(tp)
        _wire_types[tp] = wire
        return wire
    if origin is Annotated:
        return Annotated[(_wire_of(args[0]), *tp.__metadata__)]
    if origin in _MAPS or tp is dict:
        key, value = args or (str, Any)
        return list[_entry(_wire_of(key), _wire_of(value))]  # type: ignore[misc]
    mapped = tuple(_wire_of(a) for a in args)
    if mapped == args:
        return tp
    if origin in (typing.Union, types.UnionType):
        return typing.Union[mapped]  # noqa: UP007
    return origin[mapped]


def _wire_struct(tp: type[msgspec.Struct]) -> Any:
    """A Struct like ``tp`` with maps as entry lists; a defaulted field may be left out (UNSET)."""
    fields = msgspec.structs.fields(tp)
    config = tp.__struct_config__
    return msgspec.defstruct(
        tp.__name__,
        [
            (f.name, _wire_of(f.type))
            if f.required
            else (f.name, _wire_of(f.type) | msgspec.UnsetType, msgspec.UNSET)
            for f in fields
        ],
        kw_only=True,
        tag=config.tag,
        tag_field=config.tag_field,
        rename={f.name: f.encode_name for f in fields},
    )


def _entry(key: Any, value: Any) -> Any:
    cached = _wire_types.get(("entry", key, value))
    if cached is None:
        cached = msgspec.defstruct("Entry", [("key", key), ("value", value)], frozen=True)
        _wire_types[("entry", key, value)] = cached
    return cached


def from_wire(value: Any, info: mi.Type, path: str) -> Any:
    """A decoded wire value as the contract's own value (maps rebuilt, repeated keys refused)."""
    match info:
        case mi.Metadata():
            return from_wire(value, info.type, path)
        case mi.StructType() if isinstance(value, info.cls):
            return value  # holds no map: decoded as the contract's own type
        case mi.StructType() if isinstance(value, msgspec.Struct):
            kwargs = {}
            for f in info.fields:
                item = getattr(value, f.name)
                if item is not msgspec.UNSET:
                    kwargs[f.name] = from_wire(item, f.type, f"{path}.{f.encode_name}")
            return info.cls(**kwargs)
        case mi.DictType():
            out: dict[Any, Any] = {}
            for i, entry in enumerate(value):
                key = from_wire(entry.key, info.key_type, f"{path}[{i}].key")
                if key in out:
                    raise OutputRejected(f"repeated key {key!r}", field=f"{path}[{i}].key")
                out[key] = from_wire(entry.value, info.value_type, f"{path}[{i}].value")
            return out
        case mi.ListType() | mi.VarTupleType() | mi.SetType() | mi.FrozenSetType():
            items = [from_wire(x, info.item_type, f"{path}[{i}]") for i, x in enumerate(value)]
            return type(value)(items)
        case mi.TupleType():
            return tuple(
                from_wire(x, t, f"{path}[{i}]")
                for i, (x, t) in enumerate(zip(value, info.item_types, strict=True))
            )
        case mi.UnionType():
            return from_wire(value, _branch(value, info, wire=True), path)
    return value


def _branch(value: Any, info: mi.UnionType, *, wire: bool) -> mi.Type:
    """The union member ``value`` belongs to (only those that hold maps matter)."""
    for member in info.types:
        bare = _bare(member)
        if isinstance(bare, mi.StructType) and isinstance(value, msgspec.Struct):
            # A wire Struct is its own class: tell the members apart by their tags.
            matches = (
                value.__struct_config__.tag == bare.tag if wire else isinstance(value, bare.cls)
            )
            if matches:
                return member
        elif isinstance(bare, mi.DictType):
            if isinstance(value, list if wire else dict):
                return member
        elif isinstance(bare, (*_ARRAYS, mi.TupleType)) and isinstance(value, _SEQUENCES):
            return member
    return mi.AnyType()


def to_wire(value: Any, info: mi.Type) -> Any:
    """``value`` of type ``info`` as JSON-ready builtins, each map as a key/value entry array."""
    match info:
        case mi.Metadata():
            return to_wire(value, info.type)
        case mi.StructType() if isinstance(value, info.cls):
            out = {} if info.tag_field is None else {info.tag_field: info.tag}
            for f in info.fields:
                out[f.encode_name] = to_wire(getattr(value, f.name), f.type)
            return out
        case mi.DictType():
            return [
                {"key": to_wire(k, info.key_type), "value": to_wire(v, info.value_type)}
                for k, v in value.items()
            ]
        case mi.ListType() | mi.VarTupleType() | mi.SetType() | mi.FrozenSetType():
            return [to_wire(x, info.item_type) for x in value]
        case mi.TupleType():
            return [to_wire(x, t) for x, t in zip(value, info.item_types, strict=True)]
        case mi.UnionType():
            return to_wire(value, _branch(value, info, wire=False))
    return msgspec.to_builtins(value)
