"""The strict-mode checker and validator (testing.strict) and the sampler (testing.sample)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoffs.testing.sample import sample_instance
from handoffs.testing.strict import instance_problems, strict_schema_problems


def obj(**properties: Any) -> dict[str, Any]:
    """A strict object schema with every property required."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


STRING = {"type": "string"}
SOURCE = obj(url=STRING, title={"type": ["string", "null"]})
FINDINGS = {
    **obj(
        summary={"type": "string", "description": "at most 200 characters"},
        confidence={"type": "number", "minimum": 0, "maximum": 1},
        count={"type": "integer"},
        kind={"type": "string", "enum": ["a", "b"]},
        tag={"const": "findings"},
        sources={"type": "array", "items": {"$ref": "#/$defs/Source"}, "maxItems": 5},
        best={"anyOf": [{"$ref": "#/$defs/Source"}, {"type": "null"}]},
        done={"type": "boolean"},
    ),
    "$defs": {"Source": SOURCE},
}
TREE = {
    **obj(name=STRING, children={"type": "array", "items": {"$ref": "#"}}),
    "description": "A tree: recursion through the root.",
}


def test_accepts_a_strict_schema_with_defs_anyof_enum_const_and_recursion() -> None:
    assert strict_schema_problems(FINDINGS) == []
    assert strict_schema_problems(TREE) == []
    linked = {
        **obj(head={"$ref": "#/$defs/Node"}),
        "$defs": {
            "Node": obj(
                value={"type": "integer"},
                next={"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
            )
        },
    }
    assert strict_schema_problems(linked) == []


@pytest.mark.parametrize(
    ("schema", "problems"),
    [
        (
            {"anyOf": [obj(a=STRING), obj(b=STRING)]},
            ['#: the root must be an object ("type": "object")', "#: the root must not be anyOf"],
        ),
        (
            {**obj(a=STRING), "additionalProperties": True},
            ["#: additionalProperties must be false"],
        ),
        (
            obj(sources={"type": "array", "items": {"type": "object", "properties": {}}}),
            ["#/properties/sources/items: additionalProperties must be false"],
        ),
        (
            {**obj(a=STRING, b=STRING), "required": ["a", "c"]},
            [
                "#: required must list every property (missing: b)",
                "#: required names unknown properties: c",
            ],
        ),
        (
            obj(a={"type": "string", "minLength": 1, "maxLength": 5, "default": "x"}),
            [
                "#/properties/a: default is not supported in strict mode",
                "#/properties/a: maxLength is not supported in strict mode",
                "#/properties/a: minLength is not supported in strict mode",
            ],
        ),
        (
            obj(a={"allOf": [STRING]}, b={"type": "string", "not": {"const": "x"}}),
            [
                "#/properties/a: allOf is not supported in strict mode",
                "#/properties/a: no type (give type, enum, const, anyOf or $ref)",
                "#/properties/b: not is not supported in strict mode",
            ],
        ),
        (
            obj(a={**obj(x=STRING), "if": {}, "then": {}, "else": {}, "dependentRequired": {}}),
            [
                "#/properties/a: dependentRequired is not supported in strict mode",
                "#/properties/a: else is not supported in strict mode",
                "#/properties/a: if is not supported in strict mode",
                "#/properties/a: then is not supported in strict mode",
            ],
        ),
        (
            obj(
                m={
                    "type": "object",
                    "patternProperties": {".*": STRING},
                    "additionalProperties": False,
                }
            ),
            ["#/properties/m: patternProperties is not supported in strict mode"],
        ),
        (
            obj(a={"type": "string", "format": "uri"}, b={"type": "tuple"}),
            [
                "#/properties/a: format 'uri' is not supported",
                "#/properties/b: type 'tuple' is not supported",
            ],
        ),
        (
            obj(a={"$ref": "#/$defs/Missing"}, b={"$ref": "#/properties/a"}),
            [
                "#/properties/a: $ref '#/$defs/Missing' does not resolve to # or #/$defs/...",
                "#/properties/b: $ref '#/properties/a' does not resolve to # or #/$defs/...",
            ],
        ),
        (
            {**obj(a={"$ref": "#/$defs/S", "description": "why"}), "$defs": {"S": obj()}},
            ["#/properties/a: $ref must stand alone (found description)"],
        ),
        (
            obj(a={"type": "array", "items": [STRING]}, b={"type": "array"}, c={}),
            [
                "#/properties/a: items must be one schema (no tuple validation)",
                "#/properties/b: an array must give items",
                "#/properties/c: no type (give type, enum, const, anyOf or $ref)",
            ],
        ),
    ],
)
def test_refuses_with_the_pointer_and_the_rule(schema: dict[str, Any], problems: list[str]) -> None:
    assert strict_schema_problems(schema) == problems


def nested(depth: int) -> dict[str, Any]:
    schema = obj(leaf=STRING)
    for _ in range(depth - 1):
        schema = obj(child=schema)
    return schema


def test_nesting_depth_is_at_most_ten_objects() -> None:
    assert strict_schema_problems(nested(10)) == []
    pointer = "#" + "/properties/child" * 10
    assert strict_schema_problems(nested(11)) == [f"{pointer}: objects nest 11 deep, at most 10"]


def test_nesting_through_defs_counts_where_it_is_used() -> None:
    schema = {**obj(a={"$ref": "#/$defs/Deep"}), "$defs": {"Deep": nested(10)}}
    assert strict_schema_problems(schema) == [
        "#/$defs/Deep" + "/properties/child" * 9 + ": objects nest 11 deep, at most 10"
    ]


def test_size_limits() -> None:
    wide = obj(**{f"p{i}": obj(**{f"q{j}": STRING for j in range(100)}) for i in range(50)})
    assert strict_schema_problems(wide) == ["#: 5050 object properties in total, at most 5000"]
    enums = obj(**{f"e{i}": {"enum": list(range(101))} for i in range(10)})
    assert strict_schema_problems(enums) == ["#: 1010 enum values in total, at most 1000"]
    long_names = obj(**{"x" * 60_000 + str(i): STRING for i in range(3)})
    assert strict_schema_problems(long_names) == [
        "#: 180003 characters of names, enum and const values, at most 120000"
    ]
    big_enum = obj(e={"enum": [f"{i:04d}" + "x" * 60 for i in range(251)]})
    assert strict_schema_problems(big_enum) == [
        "#/properties/e: an enum of more than 250 strings holds at most 15000 characters (16064)"
    ]


def test_instance_problems_name_the_path() -> None:
    good = {
        "summary": "s",
        "confidence": 0.5,
        "count": 2,
        "kind": "a",
        "tag": "findings",
        "sources": [{"url": "u", "title": None}],
        "best": None,
        "done": True,
    }
    assert instance_problems(FINDINGS, good) == []
    bad = {
        **good,
        "confidence": 1.5,
        "count": True,
        "kind": "c",
        "tag": "other",
        "sources": [{"url": 3, "title": None, "extra": 1}, {"title": "t"}],
        "best": {"url": "u"},
        "surprise": 1,
    }
    assert instance_problems(FINDINGS, bad) == [
        "$.confidence: 1.5 is not at most 1",
        "$.count: expected integer, got boolean",
        '$.kind: "c" is not one of ["a", "b"]',
        '$.tag: expected "findings", got "other"',
        "$.sources[0].url: expected string, got integer",
        "$.sources[0]: unexpected property 'extra'",
        "$.sources[1]: missing required property 'url'",
        "$.best: missing required property 'title'",
        "$: unexpected property 'surprise'",
    ]
    assert instance_problems(FINDINGS, []) == ["$: expected object, got array"]
    assert instance_problems(obj(**{"a b": STRING}), {"a b": 1}) == [
        '$["a b"]: expected string, got integer'
    ]
    union = obj(v={"anyOf": [STRING, {"type": "integer"}]})
    assert instance_problems(union, {"v": None}) == ["$.v: null matches none of the anyOf branches"]


def test_instance_problems_follow_recursion() -> None:
    tree = {"name": "a", "children": [{"name": "b", "children": [{"name": 1, "children": []}]}]}
    assert instance_problems(TREE, tree) == [
        "$.children[0].children[0].name: expected string, got integer"
    ]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_samples_conform_and_are_deterministic(seed: int) -> None:
    for schema in (FINDINGS, TREE):
        value = sample_instance(schema, random.Random(seed))
        assert instance_problems(schema, value) == []
        assert sample_instance(schema, random.Random(seed)) == value


def test_samples_are_conservative() -> None:
    rng = random.Random(7)
    for _ in range(50):
        value = sample_instance(FINDINGS, rng, overrides={"done": False})
        assert value["done"] is False
        assert 0 <= value["confidence"] <= 1
        assert 0 <= value["count"] <= 3
        assert 1 <= len(value["summary"]) <= 40
        assert 1 <= len(value["sources"]) <= 3


def test_sample_overrides_must_name_a_property() -> None:
    with pytest.raises(ValueError, match=r"^overrides name no top-level property: nope$"):
        sample_instance(FINDINGS, random.Random(0), overrides={"nope": 1})


def test_sample_refuses_a_recursion_that_cannot_end() -> None:
    endless = obj(again={"$ref": "#"})
    with pytest.raises(ValueError, match=r"^the schema's recursion through # cannot end$"):
        sample_instance(endless, random.Random(0))
