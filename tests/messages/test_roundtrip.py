"""Every stored type survives msgpack and JSON: decode(encode(x)) == x, and bytes are stable."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from handoffs.messages import (
    BUNDLED_CONTRACTS,
    Escalation,
    Event,
    Feedback,
    Handoff,
    QualityMarkers,
    Resolution,
    Run,
    TaskRecord,
    Verdict,
    decode_json,
    decode_msgpack,
    encode_json,
    encode_msgpack,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import from_msgspec

STORED_TYPES: list[type[msgspec.Struct]] = list(
    dict.fromkeys(
        [
            Handoff,
            Run,
            TaskRecord,
            Escalation,
            Resolution,
            Event,
            QualityMarkers,
            Feedback,
            Verdict,
            *BUNDLED_CONTRACTS.values(),
        ]
    )
)

by_name = pytest.mark.parametrize("tp", STORED_TYPES, ids=lambda tp: tp.__name__)


@by_name
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_msgpack_round_trip(tp: type[msgspec.Struct], data: st.DataObject) -> None:
    value: Any = data.draw(from_msgspec(tp, "msgpack"))
    encoded = encode_msgpack(value)
    decoded = decode_msgpack(encoded, tp)
    assert decoded == value
    assert encode_msgpack(decoded) == encoded


@by_name
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_json_round_trip(tp: type[msgspec.Struct], data: st.DataObject) -> None:
    # Handoff.payload is a msgspec.Raw spliced verbatim into the output, so a msgpack payload
    # would not be JSON; the strategy puts JSON bytes there for this codec instead.
    value: Any = data.draw(from_msgspec(tp, "json"))
    encoded = encode_json(value)
    decoded = decode_json(encoded, tp)
    assert decoded == value
    assert encode_json(decoded) == encoded


def test_handoff_payload_is_the_contract_encoded_once() -> None:
    draft = BUNDLED_CONTRACTS["Draft"](title="t", body="b" * 2048)
    handoff = Handoff(
        id="art-000000000000000000000001",
        run_id="run-000000000000000000000001",
        pipeline="blog",
        stage="write",
        kind="Draft",
        next_action="review",
        produced_by="writer",
        payload=msgspec.Raw(encode_msgpack(draft)),
    )
    decoded = decode_msgpack(encode_msgpack(handoff), Handoff)
    assert decode_msgpack(decoded.payload, BUNDLED_CONTRACTS["Draft"]) == draft
