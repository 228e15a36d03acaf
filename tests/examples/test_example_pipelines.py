"""Every demo input, walked through its pipeline with the real agents and a tiny stand-in for
the orchestrator's rules (next stage, review loop, gates, revision limits, triggers).

The stand-in is deliberately small: it checks the outcomes ``handoffs.examples.inputs``
promises, not the runtime (whose own tests cover the orchestrator). It hands each revision
only the latest feedback, with and without the stage's previous output among its inputs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import pytest
from handoffs.examples.inputs import CYCLE
from handoffs.messages import (
    Config,
    Feedback,
    GateSpec,
    QualityMarkers,
    Result,
    Task,
    Verdict,
    import_object,
)

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.toml"


class Outcome(NamedTuple):
    pipeline: str
    state: str  # "completed" or "escalated"
    revisions: int


def gate_feedback(gates: GateSpec, output: Any, quality: QualityMarkers) -> list[Feedback]:
    problems = []
    if gates.min_sources is not None and len(getattr(output, "sources", [])) < gates.min_sources:
        problems.append(("min_sources", f"too few sources; at least {gates.min_sources} required"))
    if gates.require_tests_passed and quality.tests_passed is not True:
        problems.append(("tests_passed", "tests did not pass"))
    if gates.require_sources_verified and quality.sources_verified is not True:
        problems.append(("sources_verified", "sources are not verified"))
    return [Feedback(source="gate", aspect=a, issue=i) for a, i in problems]


def walk(config: Config, pipeline: str, run_input: dict[str, Any], carry: bool) -> list[Outcome]:
    spec = config.pipelines[pipeline]
    stage, outputs, feedback, revisions = spec.start, dict[str, Any](), list[Feedback](), 0
    counts: dict[str, int] = {}
    while True:
        st = spec.stages[stage]
        inputs = {k: v for k, v in outputs.items() if carry or k != stage}
        task = Task(
            task_id="task-00000000000000000000000b",
            run_id="run-00000000000000000000000b",
            pipeline=pipeline,
            stage=stage,
            instruction=st.instruction.format_map(run_input),
            input=run_input,
            inputs=inputs,
            feedback=feedback,
            revision=counts.get(stage, 0),
        )
        agent = import_object(config.roles[st.role].agent)
        assert callable(agent)
        result = agent(task)
        output, quality = (
            (result.output, result.quality)
            if isinstance(result, Result)
            else (result, QualityMarkers())
        )
        if isinstance(output, Verdict) and not output.approved:
            target, feedback = st.on_reject, output.feedback
        elif failed := gate_feedback(st.gates, output, quality):
            target, feedback = stage, failed
        else:
            outputs[stage], feedback = output, []
            if st.next is None:
                break
            stage = st.next
            continue
        assert target is not None
        outputs.setdefault(target, None)
        if carry and target == stage:
            outputs[stage] = output
        if counts.get(target, 0) >= st.max_revisions:
            return [Outcome(pipeline, "escalated", revisions)]
        counts[target] = counts.get(target, 0) + 1
        revisions += 1
        stage = target
    done = [Outcome(pipeline, "completed", revisions)]
    for name, other in config.pipelines.items():
        trig = other.trigger
        for out in outputs.values():
            if trig and type(out).__name__ == trig.kind and getattr(out, trig.when):
                done += walk(config, name, msgspec.to_builtins(out), carry)
    return done


EXPECTED = {
    "solar panels": [("content", "completed", 2)],
    "electric bikes": [("content", "escalated", 2)],
    "How do I export all my invoices as a CSV file?": [
        ("support", "completed", 0),
        ("knowledge_base", "completed", 1),
    ],
    "slugify": [("coding", "completed", 1)],
    "sourdough": [("content", "completed", 0)],
    "Hi! I forgot my password and can't log in. How do I reset it?": [("support", "completed", 0)],
    "reading_time": [("coding", "completed", 0)],
    "vector databases": [("content", "completed", 1)],
    "Can I pay for my subscription with cryptocurrency?": [
        ("support", "completed", 0),
        ("knowledge_base", "escalated", 2),
    ],
    "coffee roasting": [("content", "completed", 1)],
    "Which webhook tells me that a refund was issued?": [
        ("support", "completed", 0),
        ("knowledge_base", "completed", 0),
    ],
    "title_case": [("coding", "escalated", 2)],
    "remote work": [("content", "completed", 1)],
    "urban beekeeping": [("content", "escalated", 2)],
    "Can I merge my two accounts into one?": [
        ("support", "completed", 0),
        ("knowledge_base", "completed", 1),
    ],
}


def key(run_input: dict[str, Any]) -> str:
    return str(run_input.get("topic") or run_input.get("question") or run_input.get("feature"))


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("carry", [True, False], ids=["with-previous-output", "feedback-only"])
@pytest.mark.parametrize(("pipeline", "run_input"), CYCLE, ids=[key(i) for _, i in CYCLE])
def test_demo_input_outcome(pipeline: str, run_input: dict[str, Any], carry: bool) -> None:
    config = msgspec.toml.decode(DEMO.read_bytes(), type=Config)
    assert walk(config, pipeline, run_input, carry) == [
        Outcome(*o) for o in EXPECTED[key(run_input)]
    ]


def test_expectations_cover_the_cycle() -> None:
    assert sorted(key(i) for _, i in CYCLE) == sorted(EXPECTED)
