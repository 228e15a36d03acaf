"""Contracts as strict JSON schemas: strict-valid, and every instance survives the wire."""

from __future__ import annotations

import itertools
import random
from typing import Annotated, Any, Literal, Optional

import msgspec
import pytest
from handoffs.messages import BUNDLED_CONTRACTS, QualityMarkers, Verdict, encode_json
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import from_msgspec

from handoffs.llm.errors import OutputRejected, SchemaUnsupported
from handoffs.llm.schema import StrictSchema
from handoffs.testing.sample import sample_instance
from handoffs.testing.strict import instance_problems, strict_schema_problems

CONTRACTS = [*BUNDLED_CONTRACTS.values(), QualityMarkers]
by_contract = pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.__name__)


@by_contract
def test_bundled_contracts_are_strict_valid(contract: type[msgspec.Struct]) -> None:
    strict = StrictSchema.for_contract(contract)
    assert strict_schema_problems(strict.schema) == []
    assert StrictSchema.for_contract(contract) is strict
    assert strict.name == contract.__name__
    assert strict.description == (contract.__doc__ or "").split("\n\n")[0].replace("\n    ", " ")


@by_contract
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_bundled_instances_round_trip(contract: type[msgspec.Struct], data: st.DataObject) -> None:
    strict = StrictSchema.for_contract(contract)
    instance = data.draw(from_msgspec(contract, "json"))
    wire = strict.to_wire(instance)
    assert instance_problems(strict.schema, wire) == []
    assert strict.decode(encode_json(wire)) == instance


@by_contract
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_samples_of_bundled_schemas_decode(contract: type[msgspec.Struct], seed: int) -> None:
    strict = StrictSchema.for_contract(contract)
    answer = sample_instance(strict.schema, random.Random(seed))
    assert strict.to_wire(strict.decode(encode_json(answer))) == answer


def test_verdict_schema_in_words() -> None:
    schema = StrictSchema.for_contract(Verdict).schema
    scores = schema["properties"]["scores"]
    assert scores["type"] == "array"
    assert scores["items"]["required"] == ["key", "value"]
    assert scores["description"] == (
        "a map, written as key/value entries; each key at most once; at most 64 entries; "
        "default: []"
    )
    assert schema["properties"]["approved"] == {"type": "boolean"}
    quality = StrictSchema.for_contract(QualityMarkers).schema["properties"]["confidence"]
    assert quality == {
        "anyOf": [{"type": "number", "description": "between 0 and 1"}, {"type": "null"}],
        "description": "default: null",
    }


# Struct types built on the fly: their schema must be strict-valid and their instances must
# round-trip, whatever the mix of fields.
_names = itertools.count()


def _struct(types: list[Any]) -> type[msgspec.Struct]:
    fields = [(f"f{i}", t) for i, t in enumerate(types)]
    return msgspec.defstruct(f"Gen{next(_names)}", fields, frozen=True, kw_only=True)


LEAVES = st.sampled_from(
    [
        str,
        int,
        float,
        bool,
        Annotated[str, msgspec.Meta(max_length=5)],
        Annotated[int, msgspec.Meta(ge=0, le=10)],
        Annotated[float, msgspec.Meta(ge=0.0, le=1.0)],
        Literal["a", "b"],
    ]
)
FIELD_TYPES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        inner.map(lambda t: list[t]),  # type: ignore[valid-type]
        inner.map(lambda t: Optional[t]),  # noqa: UP045
        inner.map(lambda t: dict[str, t]),  # type: ignore[valid-type]
        inner.map(lambda t: Annotated[list[t], msgspec.Meta(max_length=3)]),  # type: ignore[valid-type]
        st.lists(inner, max_size=3).map(_struct),
    ),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None)
@given(types=st.lists(FIELD_TYPES, min_size=1, max_size=4), data=st.data())
def test_generated_contracts_round_trip(types: list[Any], data: st.DataObject) -> None:
    contract = _struct(types)
    strict = StrictSchema.for_contract(contract)
    assert strict_schema_problems(strict.schema) == []
    for _ in range(3):
        instance = data.draw(from_msgspec(contract, "json"))
        wire = strict.to_wire(instance)
        assert instance_problems(strict.schema, wire) == []
        assert strict.decode(encode_json(wire)) == instance


class Node(msgspec.Struct, frozen=True, kw_only=True):
    """A tree."""

    name: str
    children: list[Node] = []


class Cat(msgspec.Struct, frozen=True, tag=True):
    lives: int


class Dog(msgspec.Struct, frozen=True, tag=True):
    good: bool


class Pets(msgspec.Struct, frozen=True):
    """Tagged unions and recursion."""

    pets: list[Cat | Dog]
    best: Cat | Dog | None
    tree: Node
    tags: dict[str, list[Cat | Dog]] = {}


def test_tagged_unions_and_recursion() -> None:
    strict = StrictSchema.for_contract(Pets)
    assert strict_schema_problems(strict.schema) == []
    assert strict.schema["$defs"]["Node"]["properties"]["children"]["items"] == {
        "$ref": "#/$defs/Node"
    }
    cat = strict.schema["properties"]["pets"]["items"]["anyOf"][0]
    assert cat["properties"]["type"] == {"type": "string", "enum": ["Cat"]}
    value = Pets(
        pets=[Cat(9), Dog(True)],
        best=Dog(False),
        tree=Node(name="a", children=[Node(name="b")]),
        tags={"x": [Cat(1)], "y": []},
    )
    wire = strict.to_wire(value)
    assert instance_problems(strict.schema, wire) == []
    assert strict.decode(encode_json(wire)) == value
    assert StrictSchema.for_contract(Node).schema["properties"]["children"]["items"] == {
        "$ref": "#"
    }


class Opaque(msgspec.Struct):
    payload: msgspec.Raw


class Holder(msgspec.Struct):
    items: list[Opaque]


@pytest.mark.parametrize(
    ("contract", "field", "what"),
    [
        (msgspec.defstruct("Anything", [("data", Any)]), "$.data", "Any"),
        (Holder, "$.items[*].payload", "msgspec.Raw"),
        (
            msgspec.defstruct("Pair", [("pair", tuple[int, str])]),
            "$.pair",
            "a fixed-length tuple of mixed types",
        ),
        (
            msgspec.defstruct("Either", [("x", dict[str, int] | list[int])]),
            "$.x",
            "a union of a dict and an array",
        ),
    ],
)
def test_unsupported_types_name_the_field(contract: Any, field: str, what: str) -> None:
    name = contract.__name__
    message = f"{name}: {field} is {what}, which a strict JSON schema cannot express"
    with pytest.raises(SchemaUnsupported, match=rf"^{_escape(message)}$") as caught:
        StrictSchema.for_contract(contract)
    assert caught.value.field == field


def _escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize(
    ("contract", "answer", "issue", "field"),
    [
        (
            Verdict,
            b'{"approved": tr',
            "the answer is not valid JSON (Input data was truncated)",
            None,
        ),
        (Verdict, b"[]", "Expected `object`, got `array`", "$"),
        (Verdict, b'{"approved": 1}', "Expected `bool`, got `int`", "$.approved"),
        (Verdict, b"{}", "Object missing required field `approved`", "$.approved"),
        (
            Verdict,
            b'{"approved": true, "feedback": [{"source": "gate", "issue": "x", "severity": "no"}]}',
            "Invalid enum value 'no'",
            "$.feedback[0].severity",
        ),
        (
            Verdict,
            b'{"approved": true, "scores": [{"key": "a", "value": "x"}]}',
            "Expected `float`, got `str`",
            "$.scores[0].value",
        ),
        (
            Verdict,
            b'{"approved": true, "scores": [{"key": "a", "value": 1}, {"key": "a", "value": 2}]}',
            "repeated key 'a'",
            "$.scores[1].key",
        ),
        (
            QualityMarkers,
            b'{"confidence": 1.5}',
            "Expected `float` <= 1.0",
            "$.confidence",
        ),
        (
            QualityMarkers,
            b'{"checks": [{"key": "' + b"k" * 201 + b'", "value": true}]}',
            "Expected `str` of length <= 200",
            "$.checks[0].key",
        ),
    ],
)
def test_decode_rejects_with_the_field(
    contract: type[msgspec.Struct], answer: bytes, issue: str, field: str | None
) -> None:
    strict = StrictSchema.for_contract(contract)
    shown = issue if field is None else f"{issue} (at {field})"
    with pytest.raises(OutputRejected, match=rf"^{_escape(shown)}$") as caught:
        strict.decode(answer)
    assert (caught.value.issue, caught.value.field) == (issue, field)


def test_decode_accepts_text_and_fills_left_out_defaults() -> None:
    strict = StrictSchema.for_contract(Verdict)
    assert strict.decode('{"approved": true}') == Verdict(approved=True)
