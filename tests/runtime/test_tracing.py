"""OpenTelemetry tracing through a real runtime, into the SDK's in-memory exporter: one
trace per run, a span per attempt with the agent's own spans under it, a span per handoff
linked to its parents, a span per commit; and nothing at all while tracing is off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

import tracing_agents
from handoffs.actors.tracehooks import HOOKS, handoff_span_id, run_span_id, run_trace_id
from handoffs.messages import Config, PipelineSpec, RoleSpec, StageSpec
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from runtime_support import OpenRuntime

from handoffs import tracing

WAIT = 30.0


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into a fresh provider (also the agents' global one) and exporter."""
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracing.enable(provider)
    # The agents' spans go through the global provider, as in an instrumented process.
    previous = trace._TRACER_PROVIDER  # set once per process by the API: swap it for the test
    trace._TRACER_PROVIDER = provider
    tracing_agents.received.clear()
    try:
        yield exported
    finally:
        trace._TRACER_PROVIDER = previous
        tracing.disable()


def config() -> Config:
    """draft (a sync agent) -> polish (an async agent)."""
    return Config(
        roles={
            "writer": RoleSpec(agent="tracing_agents:write"),
            "polisher": RoleSpec(agent="tracing_agents:write_async"),
        },
        pipelines={
            "article": PipelineSpec(
                start="draft",
                stages={
                    "draft": StageSpec(
                        role="writer", output="Draft", next="polish", retry_backoff=0.001
                    ),
                    "polish": StageSpec(role="polisher", output="Draft"),
                },
            )
        },
    )


def by_name(spans: list[ReadableSpan], run_id: str) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        if span.context is not None and span.context.trace_id == run_trace_id(run_id):
            found.setdefault(span.name, []).append(span)
    return found


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_one_trace_per_run(open_runtime: OpenRuntime, exporter: InMemorySpanExporter) -> None:
    runtime = open_runtime(config())
    run_id = runtime.submit("article", {"topic": "tracing", "fail": True}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    spans = by_name(list(exporter.get_finished_spans()), run_id)

    (run,) = spans["run article"]
    assert run.parent is None and run.context is not None
    assert run.context.span_id == run_span_id(run_id)
    assert attrs(run) == {
        "handoffs.run_id": run_id,
        "handoffs.pipeline": "article",
        "handoffs.state": "completed",
        "handoffs.handoffs": 2,
        "handoffs.revisions": 0,
    }

    # Attempts: the draft failed once and was retried; each is a child of the run's span.
    drafts = sorted(spans["task draft"], key=lambda s: attrs(s)["handoffs.attempt"])
    assert [(attrs(s)["handoffs.attempt"], attrs(s)["handoffs.outcome"]) for s in drafts] == [
        (1, "failed"),
        (2, "ok"),
    ]
    assert drafts[0].status.description == "RuntimeError: the model timed out"
    (polish,) = spans["task polish"]
    for span in [*drafts, polish]:
        assert span.parent is not None and span.parent.span_id == run_span_id(run_id)
    assert {k: v for k, v in attrs(polish).items() if k != "handoffs.task_id"} == {
        "handoffs.run_id": run_id,
        "handoffs.pipeline": "article",
        "handoffs.stage": "polish",
        "handoffs.role": "polisher",
        "handoffs.agent": "polisher/0.1",
        "handoffs.revision": 0,
        "handoffs.attempt": 1,
        "handoffs.outcome": "ok",
    }

    # The agents' own spans (sync and async) nest under their attempt's span, and the task
    # carried that span's W3C context.
    calls = spans["model call"]
    attempt_ids = {s.context.span_id for s in [*drafts, polish] if s.context is not None}
    assert len(calls) == 3
    assert {c.parent.span_id for c in calls if c.parent is not None} == attempt_ids
    for span in [*drafts, polish]:
        assert span.context is not None
        key = (attrs(span)["handoffs.task_id"], attrs(span)["handoffs.attempt"])
        traceparent = tracing_agents.received[key]["traceparent"]
        assert traceparent == f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-01"

    # Handoffs: the polish's links to the draft's handoff, its parent.
    handoffs = {
        attrs(s)["handoffs.stage"]: s for s in spans["handoff draft"] + spans["handoff polish"]
    }
    draft, polished = handoffs["draft"], handoffs["polish"]
    assert draft.context is not None
    assert draft.context.span_id == handoff_span_id(attrs(draft)["handoffs.handoff_id"])
    assert polished.parent is not None and polished.parent.span_id == run_span_id(run_id)
    linked = {link.context.span_id for link in polished.links}
    assert draft.context.span_id in linked


def test_commits_are_spans_linked_to_their_runs(
    open_runtime: OpenRuntime, exporter: InMemorySpanExporter
) -> None:
    runtime = open_runtime(config())
    run_id = runtime.submit("article", {"topic": "commits"}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    commits = [s for s in exporter.get_finished_spans() if s.name == "commit"]
    assert commits and all(s.parent is None for s in commits)
    trace_id = run_trace_id(run_id)
    linked = [s for s in commits if any(x.context.trace_id == trace_id for x in s.links)]
    assert linked and all(attrs(s)["handoffs.batches"] >= 1 for s in linked)


def test_the_trace_context_is_what_context_of_reads(
    open_runtime: OpenRuntime, exporter: InMemorySpanExporter
) -> None:
    runtime = open_runtime(config())
    run_id = runtime.submit("article", {"topic": "context"}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    (carried, *_) = tracing_agents.received.values()
    from handoffs.messages import Task

    task = Task(
        task_id="t",
        run_id=run_id,
        pipeline="article",
        stage="draft",
        instruction="",
        trace_context=carried,
    )
    span_context = trace.get_current_span(tracing.context_of(task)).get_span_context()
    assert span_context.trace_id == run_trace_id(run_id)


def test_off_by_default_nothing_is_traced(open_runtime: OpenRuntime) -> None:
    assert HOOKS.attempts is None and HOOKS.commits is None
    tracing_agents.received.clear()
    runtime = open_runtime(config())
    run_id = runtime.submit("article", {"topic": "off"}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    assert list(tracing_agents.received.values()) == [{}, {}]


def test_a_provider_that_is_not_the_sdk_is_refused() -> None:
    with pytest.raises(
        tracing.TracingUnavailable,
        match=r"^tracing needs the OpenTelemetry SDK's TracerProvider, "
        r"not <class 'opentelemetry\.trace\.NoOpTracerProvider'>$",
    ):
        tracing.enable(trace.NoOpTracerProvider())
    assert HOOKS.attempts is None


def test_the_trace_id_follows_from_the_run_id() -> None:
    assert tracing.trace_id_of("run-1") == f"{run_trace_id('run-1'):032x}"
    assert tracing.trace_id_of("run-1") != tracing.trace_id_of("run-2")
    assert len(tracing.trace_id_of("run-1")) == 32
