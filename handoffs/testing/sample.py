"""A sampler for OpenAI's strict structured-outputs subset: a JSON value that conforms.

Pure functions, no I/O. :func:`sample_instance` makes a value that conforms to a schema the
checker of :mod:`handoffs.testing.strict` accepts, for fake models and tests; the same
``random.Random`` state gives the same value.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

# The sampler walks schemas with the checker's own helpers, so both read $ref and type alike.
from handoffs.testing.strict import _dumps, _resolve, _types

__all__ = ["sample_instance"]


_WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "signal",
    "report",
    "draft",
    "source",
    "finding",
    "summary",
    "river",
    "stone",
    "cloud",
    "quiet",
    "bright",
    "simple",
    "careful",
    "review",
    "answer",
    "topic",
    "example",
    "method",
    "result",
    "check",
]
_FORMAT_SAMPLES = {
    "date-time": "2024-05-01T12:00:00Z",
    "date": "2024-05-01",
    "time": "12:00:00",
    "duration": "P1D",
    "email": "someone@example.com",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
#: Past this many $ref hops, prefer null branches and empty arrays so recursion ends.
_SAMPLE_REFS = 3
_SAMPLE_REFS_MAX = 64


def sample_instance(
    schema: dict[str, Any], rng: random.Random, *, overrides: Mapping[str, Any] | None = None
) -> Any:
    """A JSON value conforming to ``schema``, the same one for the same ``rng`` state.

    Conservative, so it also meets limits that were moved into descriptions: numbers in 0..1,
    integers 0..3 (both within ``minimum``/``maximum`` when given), strings of 1 to 40
    characters made of words, arrays of 1 to 3 items, the non-null branch of a nullable union
    four times in five, distinct ``key`` values in an array of objects that have a ``key``
    (how ``handoffs.llm.schema`` sends maps); ``pattern`` is not honoured, but a string
    whose description names a regular expression is lowercase words joined by hyphens. Past
    a few ``$ref`` hops it prefers null and empty arrays, so recursive schemas end.
    ``overrides`` fixes top-level properties (``{"approved": True}``).

    Raises:
        ValueError: an override names no top-level property, or the recursion cannot end.
    """
    properties = schema.get("properties", {})
    unknown = sorted(set(overrides or {}) - set(properties))
    if unknown:
        raise ValueError(f"overrides name no top-level property: {', '.join(unknown)}")
    value = _Sampler(schema, rng).sample(schema, 0)
    if overrides:
        value.update(overrides)
    return value


class _Sampler:
    def __init__(self, root: dict[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def sample(self, schema: dict[str, Any], refs: int) -> Any:
        rng = self.rng
        if "$ref" in schema:
            if refs >= _SAMPLE_REFS_MAX:
                raise ValueError(f"the schema's recursion through {schema['$ref']} cannot end")
            target = _resolve(self.root, schema["$ref"])
            if not isinstance(target, dict):
                raise ValueError(f"$ref {schema['$ref']!r} does not resolve")
            return self.sample(target, refs + 1)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return rng.choice(schema["enum"])
        if "anyOf" in schema:
            return self.sample(self._pick(schema["anyOf"], refs), refs)
        types = _types(schema)
        kind = self._pick([{"type": t} for t in types], refs)["type"]
        if kind == "object":
            properties = schema.get("properties", {})
            return {k: self.sample(v, refs) for k, v in properties.items()}
        if kind == "array":
            low = schema.get("minItems", 0 if refs >= _SAMPLE_REFS else 1)
            high = max(low, min(schema.get("maxItems", 3), 3 if refs < _SAMPLE_REFS else low))
            items = [self.sample(schema["items"], refs) for _ in range(rng.randint(low, high))]
            return _distinct_keys(items)
        if kind == "string":
            return _FORMAT_SAMPLES.get(schema.get("format", "")) or self._words(schema)
        if kind in ("integer", "number"):
            return self._number(schema, kind == "integer")
        return rng.random() < 0.5 if kind == "boolean" else None

    def _pick(self, branches: list[Any], refs: int) -> Any:
        nulls = [b for b in branches if _types(b) == ["null"]]
        others = [b for b in branches if _types(b) != ["null"]]
        if nulls and (not others or refs >= _SAMPLE_REFS or self.rng.random() < 0.2):
            return nulls[0]
        return self.rng.choice(others)

    def _words(self, schema: dict[str, Any]) -> str:
        words = [self.rng.choice(_WORDS) for _ in range(self.rng.randint(1, 5))]
        # A pattern moved into the description cannot be honoured in general; lowercase
        # words joined by hyphens meet the common one (slugs, identifiers).
        pattern = "regular expression" in schema.get("description", "")
        return ("-" if pattern else " ").join(words)[:40].strip("-")

    def _number(self, schema: dict[str, Any], integer: bool) -> float:
        low = float(max(schema.get("minimum", 0), schema.get("exclusiveMinimum", -1) + 1e-9))
        high = float(
            min(schema.get("maximum", 3 if integer else 1), schema.get("exclusiveMaximum", 4))
        )
        if low > high:  # the range lies outside the conservative one
            high = low + (3 if integer else 1)
        if integer:
            return self.rng.randint(math.ceil(low), max(math.ceil(low), math.floor(high)))
        return round(low + (high - low) * self.rng.random(), 3)


def _distinct_keys(items: list[Any]) -> list[Any]:
    """Drop entries that repeat an earlier ``key``: maps travel as key/value entry arrays."""
    if not items or not isinstance(items[0], dict) or "key" not in items[0]:
        return items
    seen: set[str] = set()
    kept = []
    for item in items:
        key = _dumps(item["key"])
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept
