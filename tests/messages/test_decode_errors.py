"""Bad input fails to decode with a DecodeError that names the offending field."""

from __future__ import annotations

import re

import msgspec
import pytest
from handoffs.messages import (
    DecodeError,
    Draft,
    Event,
    Handoff,
    QualityMarkers,
    Run,
    TaskRecord,
    Verdict,
    decode_json,
    decode_msgpack,
    encode_msgpack,
)

HANDOFF = (
    b'{"id": "art-000000000000000000000001", "run_id": "run-000000000000000000000001", '
    b'"pipeline": "p", "stage": "s", "kind": "k", "next_action": "", "produced_by": ""'
)
RUN = b'{"run_id": "run-000000000000000000000001", "pipeline": "p"'
ID_REGEX = "'^[a-z]{1,8}-[0-9a-f]{24}$'"

CASES: list[tuple[type[msgspec.Struct], bytes, str, str]] = [
    # Out-of-range quality markers.
    (QualityMarkers, b'{"confidence": 1.5}', "$.confidence", "Expected `float` <= 1.0"),
    (QualityMarkers, b'{"completeness": -0.1}', "$.completeness", "Expected `float` >= 0.0"),
    (
        Handoff,
        HANDOFF + b', "quality": {"confidence": 2}}',
        "$.quality.confidence",
        "Expected `float` <= 1.0",
    ),
    # Wrong types.
    (
        QualityMarkers,
        b'{"confidence": "high"}',
        "$.confidence",
        "Expected `float | null`, got `str`",
    ),
    (QualityMarkers, b'{"checks": {"a": 1}}', "$.checks[...]", "Expected `bool`, got `int`"),
    (Run, b'{"run_id": 5, "pipeline": "p"}', "$.run_id", "Expected `str`, got `int`"),
    (Run, RUN + b', "state": "paused"}', "$.state", "Invalid enum value 'paused'"),
    (Run, RUN + b', "revisions": {"s": -1}}', "$.revisions[...]", "Expected `int` >= 0"),
    (Event, b'{"seq": 1, "at": 0, "type": "x", "attempt": 0}', "$.attempt", "Expected `int` >= 1"),
    (
        Verdict,
        b'{"approved": true, "feedback": [{"source": "gate", "issue": "x", "severity": "no"}]}',
        "$.feedback[0].severity",
        "Invalid enum value 'no'",
    ),
    # Ids and names that could not be keys.
    (
        Handoff,
        HANDOFF.replace(b"art-000000000000000000000001", b"nope") + b"}",
        "$.id",
        f"Expected `str` matching regex {ID_REGEX}",
    ),
    (
        Handoff,
        HANDOFF + b', "tags": ["a b"]}',
        "$.tags[0]",
        "Expected `str` matching regex '^[A-Za-z0-9_.:-]{1,64}$'",
    ),
    # Oversized fields.
    (
        Draft,
        b'{"title": "' + b"x" * 201 + b'", "body": ""}',
        "$.title",
        "Expected `str` of length <= 200",
    ),
    (
        Handoff,
        HANDOFF + b', "tags": [' + b",".join([b'"t"'] * 33) + b"]}",
        "$.tags",
        "Expected `array` of length <= 32",
    ),
    (
        TaskRecord,
        b'{"task_id": "task-000000000000000000000001", "run_id": "run-000000000000000000000001",'
        b' "pipeline": "p", "stage": "s", "role": "r", "last_error": "' + b"e" * 20_001 + b'"}',
        "$.last_error",
        "Expected `str` of length <= 20000",
    ),
]


@pytest.mark.parametrize(
    ("tp", "data", "field", "message"), CASES, ids=[f"{c[0].__name__}:{c[2]}" for c in CASES]
)
def test_decode_json_names_the_field(
    tp: type[msgspec.Struct], data: bytes, field: str, message: str
) -> None:
    with pytest.raises(DecodeError, match=rf"^{re.escape(f'{message} - at `{field}`')}$") as info:
        decode_json(data, tp)
    assert info.value.field == field


def test_decode_msgpack_names_the_field_too() -> None:
    data = encode_msgpack({"confidence": 3.0})
    with pytest.raises(DecodeError, match=r"^Expected `float` <= 1\.0 - at `\$\.confidence`$") as e:
        decode_msgpack(data, QualityMarkers)
    assert e.value.field == "$.confidence"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"title": "t"}', "Object missing required field `body`"),
        (b'{"title": "t", "body": ', "Input data was truncated"),
        (b"[1, 2]", "Expected `object`, got `array`"),
    ],
)
def test_errors_without_a_path_have_no_field(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=rf"^{re.escape(message)}$") as info:
        decode_json(data, Draft)
    assert info.value.field is None


def test_unknown_fields_are_ignored_for_schema_evolution() -> None:
    assert decode_json(b'{"confidence": 0.5, "added_later": 1}', QualityMarkers) == QualityMarkers(
        confidence=0.5
    )
