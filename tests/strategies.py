"""Hypothesis strategies for the stored types, derived from their own msgspec constraints.

``st.from_type`` ignores ``msgspec.Meta`` (patterns, lengths, bounds), so it mostly makes
values the decoders rightly reject. :func:`from_msgspec` walks ``msgspec.inspect`` instead,
so every value it makes is one a decoder accepts, and a new field is covered automatically.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import msgspec
from handoffs.messages import ID_PATTERN, NAME_PATTERN, encode_json, encode_msgpack
from hypothesis import strategies as st

__all__ = ["Codec", "any_value", "from_msgspec", "ids", "names"]

Codec = Literal["msgpack", "json"]

# Collections and strings are capped so examples stay small; the limits themselves are tested
# by the decode-error tests, which need exact values rather than random ones.
MAX_ITEMS = 3
MAX_TEXT = 250
INT_MIN = -(1 << 63)
INT_MAX = (1 << 64) - 1

finite_floats = st.floats(allow_nan=False, allow_infinity=False)
ids = st.from_regex(ID_PATTERN, fullmatch=True)
names = st.from_regex(NAME_PATTERN, fullmatch=True)


def any_value() -> st.SearchStrategy[Any]:
    """What ``Any`` holds after a round trip through either codec: JSON-shaped data."""
    scalars = st.none() | st.booleans() | st.integers(INT_MIN, (1 << 63) - 1) | finite_floats
    return st.recursive(
        scalars | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=MAX_ITEMS)
            | st.dictionaries(st.text(max_size=10), inner, max_size=MAX_ITEMS)
        ),
        max_leaves=8,
    )


def from_msgspec(tp: Any, codec: Codec = "msgpack") -> st.SearchStrategy[Any]:
    """Valid values of ``tp``. ``msgspec.Raw`` fields hold an encoded value of ``codec``."""
    return _strategy(msgspec.inspect.type_info(tp), codec)


@functools.cache
def _struct(cls: type[msgspec.Struct], codec: Codec) -> st.SearchStrategy[Any]:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)

    # A default msgspec.Raw holds msgpack bytes, which are no JSON: always draw one for JSON.
    def is_required(f: msgspec.inspect.Field) -> bool:
        return f.required or (codec == "json" and isinstance(f.type, msgspec.inspect.RawType))

    required = {f.name: _strategy(f.type, codec) for f in info.fields if is_required(f)}
    optional = {f.name: _strategy(f.type, codec) for f in info.fields if not is_required(f)}
    kwargs = st.fixed_dictionaries(required, optional=optional)
    return kwargs.map(lambda kw: info.cls(**kw))


def _size(low: int | None, high: int | None, cap: int) -> tuple[int, int]:
    low = low or 0
    return low, max(low, min(cap, high if high is not None else cap))


def _strategy(info: msgspec.inspect.Type, codec: Codec) -> st.SearchStrategy[Any]:
    match info:
        case msgspec.inspect.StructType():
            return _struct(info.cls, codec)
        case msgspec.inspect.StrType(pattern=str() as pattern):
            # fullmatch: msgspec's `$` would also accept a trailing newline, which keys must not.
            return st.from_regex(pattern, fullmatch=True).filter(
                lambda s: (info.min_length or 0) <= len(s) <= (info.max_length or len(s))
            )
        case msgspec.inspect.StrType():
            low, high = _size(info.min_length, info.max_length, MAX_TEXT)
            return st.text(min_size=low, max_size=high)
        case msgspec.inspect.IntType():
            low = info.ge if info.ge is not None else INT_MIN if info.gt is None else info.gt + 1
            high = info.le if info.le is not None else INT_MAX if info.lt is None else info.lt - 1
            return st.integers(low, high)
        case msgspec.inspect.FloatType():
            return st.floats(
                min_value=info.ge if info.ge is not None else info.gt,
                max_value=info.le if info.le is not None else info.lt,
                exclude_min=info.gt is not None,
                exclude_max=info.lt is not None,
                allow_nan=False,
                allow_infinity=False,
            )
        case msgspec.inspect.BoolType():
            return st.booleans()
        case msgspec.inspect.NoneType():
            return st.none()
        case msgspec.inspect.LiteralType():
            return st.sampled_from(info.values)
        case msgspec.inspect.UnionType():
            return st.one_of([_strategy(t, codec) for t in info.types])
        case msgspec.inspect.ListType():
            low, high = _size(info.min_length, info.max_length, MAX_ITEMS)
            return st.lists(_strategy(info.item_type, codec), min_size=low, max_size=high)
        case msgspec.inspect.DictType():
            low, high = _size(info.min_length, info.max_length, MAX_ITEMS)
            keys, values = _strategy(info.key_type, codec), _strategy(info.value_type, codec)
            return st.dictionaries(keys, values, min_size=low, max_size=high)
        case msgspec.inspect.AnyType():
            return any_value()
        case msgspec.inspect.RawType():
            encode = encode_msgpack if codec == "msgpack" else encode_json
            return any_value().map(lambda v: msgspec.Raw(encode(v)))
    raise NotImplementedError(f"no strategy for {info!r}; add a case to tests/strategies.py")
