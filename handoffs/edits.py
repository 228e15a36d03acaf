""" "Edit and approve": a person's own output for an escalated stage, checked at the boundary.

The output is decoded against the contract of the stage in question (the escalation's
``retry_stage``, else its stage): every constraint runs, and a problem names the field.
"""

from __future__ import annotations

from typing import Any

import msgspec

from handoffs.actors import EscalationNotFound, InvalidInput, Pipelines, ValidOutput
from handoffs.messages import Escalation, QualityMarkers, encode_msgpack

__all__ = ["edited_output"]


def edited_output(
    pipelines: Pipelines, escalation: Escalation | None, escalation_id: str, output: Any
) -> ValidOutput:
    """``output`` (JSON-like builtins) as a valid output of the escalation's stage.

    Raises:
        EscalationNotFound: no such escalation.
        InvalidInput: ``output`` does not fit the stage's contract (the message names the
            field, as ``$.field``).
    """
    if escalation is None:
        raise EscalationNotFound(escalation_id)
    name = escalation.retry_stage or escalation.stage
    stage = pipelines.stages.get((escalation.pipeline, name))
    if stage is None:
        raise InvalidInput(f"output: the pipeline has no stage {name!r} any more")
    if not isinstance(output, dict):
        raise InvalidInput(f"output: expected an object ({stage.spec.output}), not {output!r}")
    try:
        value = msgspec.convert(output, stage.contract)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"output: not a valid {stage.spec.output}: {exc}") from None
    return ValidOutput(value, encode_msgpack(value), QualityMarkers())
