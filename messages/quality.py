"""Quality markers, feedback and verdicts: what travels with an output and back to its producer."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = ["Feedback", "FeedbackSource", "QualityMarkers", "Severity", "Verdict"]

Fraction = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=20_000)]

FeedbackSource = Literal["reviewer", "gate", "validator", "human", "runtime"]
Severity = Literal["info", "minor", "major", "blocker"]


class QualityMarkers(msgspec.Struct, frozen=True, kw_only=True):
    """How good an output says it is. ``None`` means the producer did not report it.

    Ranges (0..1 for the fractions) are checked whenever the markers are decoded, which the
    orchestrator does for every agent output before any gate looks at them.
    """

    completeness: Fraction | None = None
    confidence: Fraction | None = None
    sources_verified: bool | None = None
    tests_passed: bool | None = None
    checks: Annotated[dict[ShortText, bool], msgspec.Meta(max_length=64)] = {}
    notes: Text = ""


class Feedback(msgspec.Struct, frozen=True, kw_only=True):
    """One specific thing to change, sent back to the stage that produced an output."""

    source: FeedbackSource
    issue: Text
    aspect: ShortText = ""
    suggestion: Text = ""
    severity: Severity = "major"


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """A review stage's output: approve, or reject with feedback for the producer."""

    approved: bool
    feedback: Annotated[list[Feedback], msgspec.Meta(max_length=100)] = []
    scores: Annotated[dict[ShortText, float], msgspec.Meta(max_length=64)] = {}
