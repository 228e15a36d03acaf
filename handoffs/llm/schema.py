"""A contract as an OpenAI strict JSON schema, and the model's answer back as a contract instance.

The schema is built from ``msgspec.inspect`` (the same information ``msgspec.json.schema``
reads, plus the defaults and constraints needed to describe them) and follows the rules of
:mod:`handoffs.testing.strict`:

- every object lists every property in ``required`` and sets ``additionalProperties: false``;
  a field the contract gives a default stays required with its own type ("default: ..." in its
  description), and a field whose type admits null stays a union with null;
- no size, length, range, pattern or format keyword is sent (many OpenAI-compatible servers
  refuse them): each becomes words in the description ("at most 200 characters", "between 0
  and 1"), and msgspec enforces it when decoding;
- a ``dict[K, V]`` travels as an array of ``{"key": K, "value": V}`` objects, since strict mode
  has no free-form objects; :meth:`StrictSchema.decode` and :meth:`StrictSchema.to_wire`
  convert between the two shapes (with :mod:`handoffs.llm.wire`);
- tagged unions of Structs become ``anyOf`` with the tag as a one-value ``enum``; Literals and
  Enums become ``enum``; datetimes, UUIDs, decimals and bytes become strings described in
  words; ``tuple[X, ...]``, sets and lists become arrays;
- nested Structs are inlined; a recursive Struct goes into ``$defs`` (``#`` for the root).

``Any``, ``msgspec.Raw``, fixed-length tuples of mixed types, array-like Structs, dataclasses
and the like raise :class:`~handoffs.llm.errors.SchemaUnsupported` naming the field.
"""

from __future__ import annotations

import copy
import inspect
import re
import threading
import typing
from typing import Any, ClassVar

import msgspec
import msgspec.inspect as mi

from handoffs.llm.errors import OutputRejected, SchemaUnsupported
from handoffs.llm.wire import from_wire, has_map, mixes_map_and_array, rejection, to_wire, wire_type
from handoffs.messages import json_decoder
from handoffs.testing.strict import strict_schema_problems

__all__ = ["StrictSchema"]

_STRINGS: dict[type[mi.Type], str] = {
    mi.DateTimeType: "an RFC 3339 date-time such as 2024-05-01T12:00:00Z",
    mi.DateType: "a date as YYYY-MM-DD",
    mi.TimeType: "a time of day as HH:MM:SS",
    mi.TimeDeltaType: "an ISO 8601 duration such as P1DT2H",
    mi.UUIDType: "a UUID",
    mi.DecimalType: "a decimal number written as a string",
    mi.BytesType: "base64-encoded bytes",
    mi.ByteArrayType: "base64-encoded bytes",
    mi.MemoryViewType: "base64-encoded bytes",
}
_UNSUPPORTED: dict[type[mi.Type], str] = {
    mi.AnyType: "Any",
    mi.RawType: "msgspec.Raw",
    mi.ExtType: "msgspec.msgpack.Ext",
    mi.TupleType: "a fixed-length tuple of mixed types",
    mi.NamedTupleType: "a NamedTuple",
    mi.DataclassType: "a dataclass (use a msgspec.Struct)",
    mi.TypedDictType: "a TypedDict (use a msgspec.Struct)",
    mi.CustomType: "a custom type",
}


_BUILDING = threading.Lock()


class StrictSchema:
    """One contract's strict JSON schema, and its codec for what a model answers.

    Built once per contract by :meth:`for_contract` and shared; immutable after that, so any
    thread may use it.
    """

    _cache: ClassVar[dict[type[msgspec.Struct], StrictSchema]] = {}

    def __init__(self, contract: type[msgspec.Struct]) -> None:
        """Prefer :meth:`for_contract`, which caches. Raises :class:`SchemaUnsupported`."""
        self.contract = contract
        self.name = re.sub(r"[^a-zA-Z0-9_-]", "_", contract.__name__)[:64] or "contract"
        self.description = _first_paragraph(contract)
        try:
            self._info = mi.type_info(contract)
        except TypeError as exc:  # msgspec refuses the type outright
            raise SchemaUnsupported(f"{contract.__name__}: {exc}") from exc
        if not isinstance(self._info, mi.StructType):
            raise SchemaUnsupported(f"{contract!r} is not a msgspec.Struct type")
        self.schema: dict[str, Any] = _Builder(contract).build(self._info)
        problems = strict_schema_problems(self.schema)
        if problems:
            raise SchemaUnsupported(f"{contract.__name__}: {'; '.join(problems)}")
        # Contracts without maps decode straight into the contract; the others through a
        # parallel "wire" type whose errors name the paths the model actually wrote.
        self._wire: Any = wire_type(contract) if has_map(self._info) else None
        self._decoder = json_decoder(self._wire if self._wire is not None else contract)

    @classmethod
    def for_contract(cls, contract: type[msgspec.Struct]) -> StrictSchema:
        """The shared schema of ``contract`` (built on first use).

        Raises:
            SchemaUnsupported: a field has a type strict mode cannot express; ``field`` says
                which (``$.payload``, ``$.items[*].value``).
        """
        found = cls._cache.get(contract)
        if found is None:
            # One thread builds it: msgspec builds a type's plan on first use, and two threads
            # doing so for one type at once can crash the process.
            with _BUILDING:
                found = cls._cache.get(contract) or cls._cache.setdefault(contract, cls(contract))
        return found

    def decode(self, content: str | bytes) -> msgspec.Struct:
        """The model's JSON answer as a contract instance, every constraint checked.

        A field the contract gives a default may be left out (servers that do not enforce
        strict mode sometimes do); everything else must be there.

        Raises:
            OutputRejected: malformed JSON, a wrong type, a broken constraint, a missing field
                or a repeated map key; ``field`` is the path in the answer (``$.sources[0].url``).
        """
        try:
            value = self._decoder.decode(content)
        except msgspec.ValidationError as exc:
            raise rejection(exc) from None
        except msgspec.MsgspecError as exc:
            raise OutputRejected(f"the answer is not valid JSON ({exc})") from None
        if self._wire is None:
            return typing.cast(msgspec.Struct, value)
        return typing.cast(msgspec.Struct, from_wire(value, self._info, "$"))

    def to_wire(self, instance: msgspec.Struct) -> Any:
        """``instance`` as JSON-ready builtins in the schema's shape: what a model must answer."""
        return to_wire(instance, self._info)


def _first_paragraph(tp: type) -> str:
    doc = inspect.cleandoc(tp.__doc__ or "")
    return " ".join(doc.split("\n\n", 1)[0].split())


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def _note(schema: dict[str, Any], text: str | None, *, front: bool = False) -> None:
    """Add ``text`` to ``schema``'s description (a ``$ref`` must stand alone: wrap it)."""
    if not text:
        return
    if "$ref" in schema:
        schema["anyOf"] = [{"$ref": schema.pop("$ref")}]
    old = schema.get("description")
    schema["description"] = (f"{text}; {old}" if front else f"{old}; {text}") if old else text


def _count(low: int | None, high: int | None, unit: str) -> str | None:
    if low and high is not None:
        return f"{low} to {high} {unit}"
    if high is not None:
        return f"at most {high} {unit}"
    return f"at least {low} {unit}" if low else None


def _range(info: mi.IntType | mi.FloatType) -> str | None:
    if info.ge is not None and info.le is not None:
        words = [f"between {_num(info.ge)} and {_num(info.le)}"]
    else:
        words = [
            f"{w} {_num(v)}"
            for w, v in (("at least", info.ge), ("at most", info.le))
            if v is not None
        ]
    words += [
        f"{w} {_num(v)}"
        for w, v in (("greater than", info.gt), ("less than", info.lt))
        if v is not None
    ]
    if info.multiple_of is not None:
        words.append(f"a multiple of {_num(info.multiple_of)}")
    return ", ".join(words) or None


class _Builder:
    def __init__(self, contract: type[msgspec.Struct]) -> None:
        self.contract = contract
        self.defs: dict[str, dict[str, Any]] = {}
        self.def_names: dict[type, str] = {}
        self.stack: list[type] = []

    def build(self, info: mi.StructType) -> dict[str, Any]:
        schema = self.struct(info, "$")
        schema.pop("description", None)  # the root's description travels beside the schema
        if self.defs:
            schema["$defs"] = self.defs
        return schema

    def unsupported(self, what: str, path: str) -> SchemaUnsupported:
        name = self.contract.__name__
        message = f"{name}: {path} is {what}, which a strict JSON schema cannot express"
        return SchemaUnsupported(message, field=path)

    def struct(self, info: mi.StructType, path: str) -> dict[str, Any]:
        cls = info.cls
        if cls in self.stack or cls in self.def_names:
            if cls is self.contract:
                return {"$ref": "#"}
            name = self.def_names.setdefault(cls, self._def_name(cls))
            return {"$ref": f"#/$defs/{name}"}
        if info.array_like:
            raise self.unsupported("an array-like Struct", path)
        properties: dict[str, Any] = {}
        if info.tag_field is not None:
            tag_type = "string" if isinstance(info.tag, str) else "integer"
            properties[info.tag_field] = {"type": tag_type, "enum": [info.tag]}
        self.stack.append(cls)
        for field in info.fields:
            sub = self.node(field.type, f"{path}.{field.encode_name}")
            if not field.required:
                default = (
                    field.default_factory() if field.default is msgspec.NODEFAULT else field.default
                )
                text = msgspec.json.encode(to_wire(default, field.type)).decode()
                _note(sub, f"default: {text if len(text) <= 200 else text[:200] + '...'}")
            properties[field.encode_name] = sub
        self.stack.pop()
        schema = {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        }
        _note(schema, _first_paragraph(cls))
        if cls in self.def_names and cls is not self.contract:
            self.defs[self.def_names[cls]] = copy.deepcopy(schema)
        return schema

    def _def_name(self, cls: type) -> str:
        base = re.sub(r"[^a-zA-Z0-9_-]", "_", cls.__name__)
        name, n = base, 1
        while name in self.defs or name in self.def_names.values():
            n += 1
            name = f"{base}_{n}"
        return name

    def node(self, info: mi.Type, path: str) -> dict[str, Any]:
        match info:
            case mi.Metadata():
                schema = self.node(info.type, path)
                _note(schema, (info.extra_json_schema or {}).get("description"), front=True)
                return schema
            case mi.StructType():
                return self.struct(info, path)
            case mi.StrType():
                schema = {"type": "string"}
                _note(schema, _count(info.min_length, info.max_length, "characters"))
                if info.pattern is not None:
                    _note(schema, f"must match the regular expression {info.pattern}")
                return schema
            case mi.IntType() | mi.FloatType():
                schema = {"type": "integer" if isinstance(info, mi.IntType) else "number"}
                _note(schema, _range(info))
                return schema
            case mi.BoolType():
                return {"type": "boolean"}
            case mi.NoneType():
                return {"type": "null"}
            case mi.LiteralType() | mi.EnumType():
                values = (
                    list(info.values)
                    if isinstance(info, mi.LiteralType)
                    else [m.value for m in info.cls]
                )
                schema = {"enum": values}
                if all(isinstance(v, str) for v in values):
                    schema["type"] = "string"
                elif all(isinstance(v, int) for v in values):
                    schema["type"] = "integer"
                return schema
            case mi.DictType():
                entry = {
                    "type": "object",
                    "properties": {
                        "key": self.node(info.key_type, f"{path}[*].key"),
                        "value": self.node(info.value_type, f"{path}[*].value"),
                    },
                    "required": ["key", "value"],
                    "additionalProperties": False,
                }
                schema = {"type": "array", "items": entry}
                _note(schema, "a map, written as key/value entries; each key at most once")
                _note(schema, _count(info.min_length, info.max_length, "entries"))
                return schema
            case mi.ListType() | mi.SetType() | mi.FrozenSetType() | mi.VarTupleType():
                schema = {"type": "array", "items": self.node(info.item_type, f"{path}[*]")}
                _note(schema, _count(info.min_length, info.max_length, "items"))
                if isinstance(info, mi.SetType | mi.FrozenSetType):
                    _note(schema, "distinct items")
                return schema
            case mi.TupleType() if all(t == info.item_types[0] for t in info.item_types):
                schema = {"type": "array", "items": self.node(info.item_types[0], f"{path}[*]")}
                _note(schema, f"exactly {len(info.item_types)} items")
                return schema
            case mi.UnionType():
                if mixes_map_and_array(info):
                    raise self.unsupported("a union of a dict and an array", path)
                branches = [self.node(t, path) for t in info.types]
                branches.sort(key=lambda b: b.get("type") == "null")
                return {"anyOf": branches}
        if type(info) in _STRINGS:
            schema = {"type": "string"}
            _note(schema, _STRINGS[type(info)])
            return schema
        raise self.unsupported(_UNSUPPORTED.get(type(info), type(info).__name__), path)
