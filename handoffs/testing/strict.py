"""OpenAI's strict structured-outputs subset of JSON Schema: a checker and a validator.

Pure functions, no I/O. :func:`strict_schema_problems` says why the OpenAI API would refuse
``response_format={"type": "json_schema", "json_schema": {"strict": True, "schema": ...}}``;
:func:`instance_problems` validates a JSON value against such a schema. The sampler that makes
a conforming value, for fake models and tests, is :func:`handoffs.testing.sample.sample_instance`.

The rules, from OpenAI's "Structured model outputs" guide, section "Supported schemas"
(platform.openai.com/docs/guides/structured-outputs#supported-schemas), as of 2025:

- Types: string, number, integer, boolean, object, array, null, ``enum``, ``const``, ``anyOf``;
  ``type`` may be a list (``["string", "null"]``). A schema with none of these is refused.
- The root is an object (``"type": "object"``), not ``anyOf`` and not a ``$ref``.
- Every object sets ``additionalProperties: false`` and lists every key of ``properties`` in
  ``required`` (an optional field is a union with null instead).
- ``$defs`` hold definitions; ``$ref`` points at ``#`` (the root, for recursion) or into
  ``#/$defs/...``, must resolve, and stands alone: the openai-python helper inlines a ``$ref``
  that has sibling keywords because the API refuses it, so this checker refuses it too.
- Limits: at most 5000 object properties in total and 10 levels of object nesting; at most
  120,000 characters over all property names, definition names, enum values and const values;
  at most 1000 enum values in total, and a string enum of more than 250 values holds at most
  15,000 characters.
- Keywords beyond the above: ``description`` and ``title`` anywhere; for strings ``pattern``
  and ``format`` (date-time, time, date, duration, email, hostname, ipv4, ipv6, uuid); for
  numbers ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``,
  ``multipleOf``; for arrays ``minItems``, ``maxItems``. Everything else is refused:
  ``minLength`` and ``maxLength`` (not in the supported list), ``default``, ``allOf``,
  ``oneOf``, ``not``, ``if``/``then``/``else``, ``dependentRequired``, ``dependentSchemas``,
  ``patternProperties``, ``uniqueItems``, ``prefixItems``, ``examples``, ...

Servers that speak the same API (vLLM, Ollama, llama.cpp) often support less, which is why
``handoffs.llm.schema`` emits none of the size, length or range keywords even where OpenAI
accepts them, and writes them into ``description`` instead.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["instance_problems", "strict_schema_problems"]

_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
_NUMERIC = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
_KEYWORDS = frozenset(
    {"type", "description", "title", "properties", "required", "additionalProperties"}
    | {"items", "enum", "const", "anyOf", "$ref", "$defs", "pattern", "format"}
    | {"minItems", "maxItems"}
    | _NUMERIC
)
_MAX_DEPTH = 10
_MAX_PROPERTIES = 5000
_MAX_CHARS = 120_000
_MAX_ENUM_VALUES = 1000
_LARGE_ENUM = 250
_LARGE_ENUM_CHARS = 15_000
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def strict_schema_problems(schema: dict[str, Any]) -> list[str]:
    """Every reason strict mode would refuse ``schema``, each starting with its JSON pointer.

    An empty list means the schema is accepted. The rules are the module docstring's.
    """
    checker = _Checker(schema)
    if schema.get("type") != "object":
        checker.problems.append('#: the root must be an object ("type": "object")')
    for keyword in ("anyOf", "$ref"):
        if keyword in schema:
            checker.problems.append(f"#: the root must not be {keyword}")
    checker.check(schema, "#")
    checker.check_depth(schema, "#", 0, ("#",))
    checker.check_totals()
    return checker.problems


def _pointer(base: str, *parts: str | int) -> str:
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "/".join([base, *escaped])


def _resolve(root: dict[str, Any], ref: str) -> Any:
    """The schema ``ref`` points at, or None when it is not ``#`` or ``#/$defs/...`` or missing."""
    if ref == "#":
        return root
    if not ref.startswith("#/$defs/"):
        return None
    node: Any = root
    for escaped in ref[2:].split("/"):
        part = escaped.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _types(schema: dict[str, Any]) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    return [t for t in declared if isinstance(t, str)] if isinstance(declared, list) else []


class _Checker:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.problems: list[str] = []
        self.properties = 0
        self.chars = 0
        self.enum_values = 0

    def check(self, schema: Any, at: str) -> None:
        problem = self.problems.append
        if not isinstance(schema, dict):
            problem(f"{at}: a schema must be a JSON object")
            return
        problem_keys = [k for k in schema if k not in _KEYWORDS]
        problem_keys.sort()
        for key in problem_keys:
            problem(f"{at}: {key} is not supported in strict mode")
        if "$ref" in schema:
            self._check_ref(schema, at)
        if not any(k in schema for k in ("type", "anyOf", "$ref", "enum", "const")):
            problem(f"{at}: no type (give type, enum, const, anyOf or $ref)")
        self._check_type(schema, at)
        for name, sub in _mapping(schema.get("$defs", {}), f"{at}/$defs", problem):
            self.chars += len(name)
            self.check(sub, _pointer(at, "$defs", name))
        if "anyOf" in schema:
            branches = schema["anyOf"]
            if not isinstance(branches, list) or not branches:
                problem(f"{at}: anyOf must be a non-empty array")
            else:
                for i, branch in enumerate(branches):
                    self.check(branch, _pointer(at, "anyOf", i))
        self._check_values(schema, at)
        types = _types(schema)
        if "object" in types:
            self._check_object(schema, at)
        if "array" in types:
            self._check_array(schema, at)
        if "format" in schema and schema["format"] not in _FORMATS:
            problem(f"{at}: format {schema['format']!r} is not supported")
        if "pattern" in schema and not isinstance(schema["pattern"], str):
            problem(f"{at}: pattern must be a string")
        for key in sorted(_NUMERIC & schema.keys()):
            if isinstance(schema[key], bool) or not isinstance(schema[key], int | float):
                problem(f"{at}: {key} must be a number")

    def _check_ref(self, schema: dict[str, Any], at: str) -> None:
        ref = schema["$ref"]
        if not isinstance(ref, str) or _resolve(self.root, ref) is None:
            self.problems.append(f"{at}: $ref {ref!r} does not resolve to # or #/$defs/...")
        siblings = sorted(k for k in schema if k != "$ref")
        if siblings:
            self.problems.append(f"{at}: $ref must stand alone (found {', '.join(siblings)})")

    def _check_type(self, schema: dict[str, Any], at: str) -> None:
        if "type" not in schema:
            return
        declared = schema["type"]
        names = declared if isinstance(declared, list) else [declared]
        if not names or len(set(map(str, names))) != len(names):
            self.problems.append(f"{at}: type must name distinct types")
        for name in names:
            if name not in _TYPES:
                self.problems.append(f"{at}: type {name!r} is not supported")

    def _check_values(self, schema: dict[str, Any], at: str) -> None:
        scalar = (str, int, float, bool, type(None))
        if "enum" in schema:
            values = schema["enum"]
            if not isinstance(values, list) or not values:
                self.problems.append(f"{at}: enum must be a non-empty array")
                return
            if not all(isinstance(v, scalar) for v in values):
                self.problems.append(
                    f"{at}: enum values must be strings, numbers, booleans or null"
                )
            strings = [v for v in values if isinstance(v, str)]
            size = sum(map(len, strings))
            self.enum_values += len(values)
            self.chars += size
            if len(strings) > _LARGE_ENUM and size > _LARGE_ENUM_CHARS:
                self.problems.append(
                    f"{at}: an enum of more than {_LARGE_ENUM} strings holds at most "
                    f"{_LARGE_ENUM_CHARS} characters ({size})"
                )
        if "const" in schema:
            if not isinstance(schema["const"], scalar):
                self.problems.append(f"{at}: const must be a string, number, boolean or null")
            elif isinstance(schema["const"], str):
                self.chars += len(schema["const"])

    def _check_object(self, schema: dict[str, Any], at: str) -> None:
        problem = self.problems.append
        if schema.get("additionalProperties") is not False:
            problem(f"{at}: additionalProperties must be false")
        properties = dict(_mapping(schema.get("properties", {}), f"{at}/properties", problem))
        self.properties += len(properties)
        self.chars += sum(map(len, properties))
        required = schema.get("required", [])
        if not isinstance(required, list):
            problem(f"{at}: required must be an array")
            required = []
        missing = [k for k in properties if k not in required]
        if missing:
            problem(f"{at}: required must list every property (missing: {', '.join(missing)})")
        unknown = [str(k) for k in required if k not in properties]
        if unknown:
            problem(f"{at}: required names unknown properties: {', '.join(unknown)}")
        for name, sub in properties.items():
            self.check(sub, _pointer(at, "properties", name))

    def _check_array(self, schema: dict[str, Any], at: str) -> None:
        if "items" not in schema:
            self.problems.append(f"{at}: an array must give items")
        elif not isinstance(schema["items"], dict):
            self.problems.append(f"{at}: items must be one schema (no tuple validation)")
        else:
            self.check(schema["items"], _pointer(at, "items"))
        for key in ("minItems", "maxItems"):
            value = schema.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                self.problems.append(f"{at}: {key} must be a non-negative integer")

    def check_depth(self, schema: Any, at: str, depth: int, refs: tuple[str, ...]) -> None:
        """Nesting as a model meets it: through ``$ref`` too, but once around a recursion."""
        if not isinstance(schema, dict):
            return
        if "object" in _types(schema):
            depth += 1
            if depth > _MAX_DEPTH:
                self.problems.append(f"{at}: objects nest {depth} deep, at most {_MAX_DEPTH}")
                return
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref not in refs:
            target = _resolve(self.root, ref)
            self.check_depth(target, ref, depth, (*refs, ref))
        for name, sub in _children(schema):
            self.check_depth(sub, _pointer(at, *name), depth, refs)

    def check_totals(self) -> None:
        if self.properties > _MAX_PROPERTIES:
            self.problems.append(
                f"#: {self.properties} object properties in total, at most {_MAX_PROPERTIES}"
            )
        if self.chars > _MAX_CHARS:
            self.problems.append(
                f"#: {self.chars} characters of names, enum and const values, at most {_MAX_CHARS}"
            )
        if self.enum_values > _MAX_ENUM_VALUES:
            self.problems.append(
                f"#: {self.enum_values} enum values in total, at most {_MAX_ENUM_VALUES}"
            )


def _mapping(value: Any, at: str, problem: Any) -> Iterator[tuple[str, Any]]:
    if not isinstance(value, dict):
        problem(f"{at}: must be a JSON object")
        return iter(())
    return iter(value.items())


def _children(schema: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Subschemas reached through properties, items and anyOf (not $defs: only via $ref)."""
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, sub in properties.items():
            yield ("properties", name), sub
    if isinstance(schema.get("items"), dict):
        yield ("items",), schema["items"]
    if isinstance(schema.get("anyOf"), list):
        for i, sub in enumerate(schema["anyOf"]):
            yield ("anyOf", i), sub


def instance_problems(schema: dict[str, Any], instance: Any) -> list[str]:
    """Every way ``instance`` breaks ``schema`` (a strict-subset schema), each naming its path.

    Checks types, ``enum``, ``const``, ``anyOf``, ``$ref``, ``required``,
    ``additionalProperties: false``, ``items``, and the numeric, ``pattern`` and item-count
    keywords when present. Paths are JSONPath-like: ``$.sources[0].url``.
    """
    problems: list[str] = []
    _validate(schema, schema, instance, "$", problems)
    return problems


def _json_types(value: Any) -> set[str]:
    if value is None:
        return {"null"}
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int):
        return {"integer", "number"}
    if isinstance(value, float):
        return {"number", "integer"} if value.is_integer() else {"number"}
    if isinstance(value, str):
        return {"string"}
    if isinstance(value, list):
        return {"array"}
    return {"object"} if isinstance(value, dict) else set()


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``."""
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{_dumps(key)}]"


def _validate(root: dict[str, Any], schema: Any, value: Any, path: str, out: list[str]) -> None:
    if not isinstance(schema, dict):
        out.append(f"{path}: the schema here is not a JSON object")
        return
    if "$ref" in schema:
        target = _resolve(root, schema["$ref"])
        if target is None:
            out.append(f"{path}: $ref {schema['$ref']!r} does not resolve")
        else:
            _validate(root, target, value, path, out)
    if "anyOf" in schema:
        _validate_any_of(root, schema["anyOf"], value, path, out)
    if "const" in schema and not _same(value, schema["const"]):
        out.append(f"{path}: expected {_dumps(schema['const'])}, got {_dumps(value)}")
    if "enum" in schema and not any(_same(value, v) for v in schema["enum"]):
        out.append(f"{path}: {_dumps(value)} is not one of {_dumps(schema['enum'])}")
    types = _types(schema)
    actual = _json_types(value)
    if "type" in schema and not actual & set(types):
        got = min(actual) if actual else type(value).__name__
        out.append(f"{path}: expected {' or '.join(types)}, got {got}")
        return
    if isinstance(value, dict):
        _validate_object(root, schema, value, path, out)
    elif isinstance(value, list):
        items = schema.get("items")
        for i, item in enumerate(value):
            if items is not None:
                _validate(root, items, item, f"{path}[{i}]", out)
        if len(value) < schema.get("minItems", 0):
            out.append(f"{path}: at least {schema['minItems']} items, got {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(f"{path}: at most {schema['maxItems']} items, got {len(value)}")
    elif isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        out.append(f"{path}: {_dumps(value)} does not match {schema['pattern']!r}")
    elif actual & {"number"}:
        _validate_number(schema, value, path, out)


def _validate_any_of(
    root: dict[str, Any], branches: list[Any], value: Any, path: str, out: list[str]
) -> None:
    results = []
    for branch in branches:
        found: list[str] = []
        _validate(root, branch, value, path, found)
        if not found:
            return
        results.append(found)
    # When one branch has the value's type, its problems are the useful ones (a nullable
    # object with a bad field should name that field, not "matches no branch").
    same_type = [
        r
        for r, b in zip(results, branches, strict=True)
        if _json_types(value) & _branch_types(root, b)
    ]
    if len(same_type) == 1:
        out.extend(same_type[0])
    else:
        out.append(f"{path}: {_dumps(value)} matches none of the anyOf branches")


def _branch_types(root: dict[str, Any], schema: Any) -> set[str]:
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        schema = _resolve(root, schema["$ref"])
    if not isinstance(schema, dict):
        return set()
    found = set(_types(schema))
    for value in [*schema.get("enum", []), *([schema["const"]] if "const" in schema else [])]:
        found |= _json_types(value)
    for branch in schema.get("anyOf", []):
        found |= _branch_types(root, branch)
    return found


def _validate_object(
    root: dict[str, Any], schema: dict[str, Any], value: dict[str, Any], path: str, out: list[str]
) -> None:
    properties = schema.get("properties", {})
    missing = [k for k in schema.get("required", []) if k not in value]
    out.extend(f"{path}: missing required property {key!r}" for key in missing)
    for key, item in value.items():
        if key in properties:
            _validate(root, properties[key], item, _key_path(path, key), out)
        elif schema.get("additionalProperties") is False:
            out.append(f"{path}: unexpected property {key!r}")


def _validate_number(schema: dict[str, Any], value: float, path: str, out: list[str]) -> None:
    bounds = [
        ("minimum", operator.ge, "at least"),
        ("maximum", operator.le, "at most"),
        ("exclusiveMinimum", operator.gt, "greater than"),
        ("exclusiveMaximum", operator.lt, "less than"),
    ]
    for key, holds, words in bounds:
        if key in schema and not holds(value, schema[key]):
            out.append(f"{path}: {_dumps(value)} is not {words} {schema[key]}")
