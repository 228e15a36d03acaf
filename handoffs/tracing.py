"""OpenTelemetry tracing (the ``otel`` extra): one trace per run.

::

    from opentelemetry.sdk.trace import TracerProvider
    provider = TracerProvider()            # with your exporter's span processor
    tracing = handoffs.tracing.enable(provider)

Spans, all in the run's trace (its id derived from the run id, so a restarted daemon keeps
adding to it): ``run PIPELINE`` (from submit to the end, emitted when the run ends), a
``task STAGE`` span per attempt (stage, role, revision, attempt, outcome; the agent's own
spans nest under it, and ``Task.trace_context`` carries it to agents elsewhere), and a
``handoff STAGE`` span per recorded handoff, linked to its parents' handoffs. Each store
commit is a ``commit`` span of its own, linked to the runs it wrote.

Off by default: until :func:`enable`, the agents and the committer read one attribute per
task and per commit, and nothing else. Process-wide, like OpenTelemetry's own provider.
:func:`enable_from_environment` (``handoffs serve --tracing``) builds the SDK provider and
its exporter from the standard ``OTEL_*`` variables.
"""

from __future__ import annotations

import contextvars
import importlib
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from handoffs.actors.tracehooks import (
    HOOKS,
    handoff_span_id,
    run_span_id,
    run_trace_id,
    trace_id_hex,
)
from handoffs.messages import TERMINAL_RUN_STATES, Handoff, Run, Task
from handoffs.messages.errors import CallerError
from handoffs.store import Batch, Store

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the otel extra is not installed: enable() says so
    _MISSING: str | None = "OpenTelemetry is not installed: pip install 'handoffs[otel]'"
else:
    _MISSING = None

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = [
    "EnvironmentTracing",
    "Tracing",
    "TracingUnavailable",
    "context_of",
    "disable",
    "enable",
    "enable_from_environment",
    "trace_id_of",
]

#: Links a commit span keeps to the runs it wrote (a group holds up to ~32 decisions).
MAX_COMMIT_LINKS = 64


class TracingUnavailable(CallerError):
    """Tracing cannot start: OpenTelemetry is missing, or the provider is not the SDK's."""


def trace_id_of(run_id: str) -> str:
    """The trace id (32 hex digits) of run ``run_id``, as JSON log lines carry it."""
    return trace_id_hex(run_id)


def context_of(task: Task) -> Any:
    """The OpenTelemetry context of ``task``'s attempt span, from ``task.trace_context``:
    for an agent whose spans start where the attempt's span is not current (another
    process, a thread of its own): ``tracer.start_span(name, context=context_of(task))``."""
    if _MISSING is not None:
        raise TracingUnavailable(_MISSING)
    return TraceContextTextMapPropagator().extract(task.trace_context)


class _Ids:
    """The SDK's id generator, except for the spans whose ids follow from a run or a
    handoff id: set :attr:`fixed` (on this thread) around starting one of those."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._fixed = threading.local()

    def set(self, trace_id: int | None, span_id: int | None) -> None:
        self._fixed.ids = (trace_id, span_id)

    def _get(self) -> tuple[int | None, int | None]:
        ids: tuple[int | None, int | None] = getattr(self._fixed, "ids", (None, None))
        return ids

    def generate_trace_id(self) -> int:
        trace_id = self._get()[0]
        return int(self._inner.generate_trace_id()) if trace_id is None else trace_id

    def generate_span_id(self) -> int:
        span_id = self._get()[1]
        return int(self._inner.generate_span_id()) if span_id is None else span_id

    def is_trace_id_random(self) -> bool:
        return False  # derived from run ids


class Tracing:
    """The spans of every runtime in this process, through ``provider``'s tracer."""

    def __init__(self, provider: TracerProvider) -> None:
        if _MISSING is not None:
            raise TracingUnavailable(_MISSING)
        tracer: Any = provider.get_tracer("handoffs")
        if not hasattr(tracer, "id_generator") or not hasattr(tracer, "sampler"):
            raise TracingUnavailable(
                f"tracing needs the OpenTelemetry SDK's TracerProvider, not {type(provider)!r}"
            )
        # Our own Tracer object: its id generator is changed, never the provider's.
        self._ids = _Ids(tracer.id_generator)
        tracer.id_generator = self._ids
        self._tracer = tracer
        self._propagator = TraceContextTextMapPropagator()
        self._root = otel_context.Context()

    # ----------------------------------------------------------------- run context

    def _run_span_context(self, run_id: str) -> Any:
        trace_id = run_trace_id(run_id)
        # Ask the sampler about the run's trace, so a ratio sampler keeps or drops whole runs.
        sampled = self._tracer.sampler.should_sample(None, trace_id, "run").decision
        flags = trace.TraceFlags(
            trace.TraceFlags.SAMPLED if sampled.is_sampled() else trace.TraceFlags.DEFAULT
        )
        return trace.SpanContext(trace_id, run_span_id(run_id), is_remote=True, trace_flags=flags)

    def _run_context(self, run_id: str) -> Any:
        span = trace.NonRecordingSpan(self._run_span_context(run_id))
        return trace.set_span_in_context(span, self._root)

    # ----------------------------------------------------------------- agent side

    def begin(self, task: Task, agent: str) -> Task:
        """See :class:`handoffs.actors.tracehooks.AttemptTracer`."""
        parent = self._run_context(task.run_id)
        span, current, task = self._start_attempt(task, agent, parent)
        # Current while the agent works (its thread, or its coroutine's own context), so
        # the spans it starts (model and HTTP calls) are the attempt's children.
        _ATTEMPT.set((span, otel_context.attach(current)))
        return task

    def open(self, task: Task, agent: str) -> tuple[Task, Any]:
        """See :class:`handoffs.actors.tracehooks.AttemptTracer`."""
        span, _, task = self._start_attempt(task, agent, self._run_context(task.run_id))
        return task, span

    def close(self, span: Any, outcome: str, error: str | None) -> None:
        """See :class:`handoffs.actors.tracehooks.AttemptTracer`."""
        _end_attempt(span, outcome, error)

    def _start_attempt(self, task: Task, agent: str, parent: Any) -> tuple[Any, Any, Task]:
        """The attempt's span, its context, and the task carrying that context (W3C)."""
        span = self._tracer.start_span(
            f"task {task.stage}",
            context=parent,
            attributes={
                "handoffs.run_id": task.run_id,
                "handoffs.task_id": task.task_id,
                "handoffs.pipeline": task.pipeline,
                "handoffs.stage": task.stage,
                "handoffs.role": agent.partition("/")[0],
                "handoffs.agent": agent,
                "handoffs.revision": task.revision,
                "handoffs.attempt": task.attempt,
            },
        )
        current = trace.set_span_in_context(span, parent)
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier, context=current)
        return span, current, msgspec.structs.replace(task, trace_context=carrier)

    def end(self, outcome: str, error: str | None) -> None:
        """See :class:`handoffs.actors.tracehooks.AttemptTracer`."""
        attempt = _ATTEMPT.get()
        if attempt is None:
            return
        _ATTEMPT.set(None)
        span, token = attempt
        _end_attempt(span, outcome, error)
        otel_context.detach(token)

    # ----------------------------------------------------------------- commit side

    def commit(
        self, store: Store, batches: Sequence[Batch], applied: Callable[[], None] | None
    ) -> None:
        """See :class:`handoffs.actors.tracehooks.CommitTracer`."""
        runs: dict[str, None] = {}
        for batch in batches:
            for run, _, _ in batch.runs:
                runs[run.run_id] = None
            for handoff, _, _ in batch.artifacts:
                runs[handoff.run_id] = None
        links = [trace.Link(self._run_span_context(r)) for r in list(runs)[:MAX_COMMIT_LINKS]]
        with self._tracer.start_as_current_span(
            "commit",
            context=self._root,
            links=links,
            attributes={"handoffs.batches": len(batches), "handoffs.runs": len(runs)},
        ) as span:
            store.commit(batches, applied=applied)
            now = time.time_ns()
            committed = span.get_span_context()
            for batch in batches:
                for handoff, _, _ in batch.artifacts:
                    self._handoff(handoff, committed, now)
                for run, _, _ in batch.runs:
                    if run.state in TERMINAL_RUN_STATES:
                        self._run(run, now)

    def _handoff(self, handoff: Handoff, committed: Any, now: int) -> None:
        trace_id = run_trace_id(handoff.run_id)
        flags = trace.TraceFlags(trace.TraceFlags.SAMPLED)
        links = [trace.Link(committed)] + [
            trace.Link(
                trace.SpanContext(trace_id, handoff_span_id(p), is_remote=True, trace_flags=flags)
            )
            for p in handoff.parents
        ]
        self._ids.set(None, handoff_span_id(handoff.id))
        try:
            span = self._tracer.start_span(
                f"handoff {handoff.stage}",
                context=self._run_context(handoff.run_id),
                links=links,
                start_time=min(int(handoff.created_at * 1e9), now) or now,
                attributes={
                    "handoffs.run_id": handoff.run_id,
                    "handoffs.handoff_id": handoff.id,
                    "handoffs.pipeline": handoff.pipeline,
                    "handoffs.stage": handoff.stage,
                    "handoffs.kind": handoff.kind,
                    "handoffs.revision": handoff.revision,
                    "handoffs.attempt": handoff.attempt,
                    "handoffs.outcome": handoff.outcome,
                    "handoffs.produced_by": handoff.produced_by,
                },
            )
        finally:
            self._ids.set(None, None)
        span.end(end_time=now)

    def _run(self, run: Run, now: int) -> None:
        self._ids.set(run_trace_id(run.run_id), run_span_id(run.run_id))
        try:
            span = self._tracer.start_span(
                f"run {run.pipeline}",
                context=self._root,
                start_time=min(int(run.created_at * 1e9), now) or now,
                attributes={
                    "handoffs.run_id": run.run_id,
                    "handoffs.pipeline": run.pipeline,
                    "handoffs.state": run.state,
                    "handoffs.handoffs": run.handoffs,
                    "handoffs.revisions": sum(run.revisions.values()),
                },
            )
        finally:
            self._ids.set(None, None)
        if run.state != "completed":
            span.set_status(trace.Status(trace.StatusCode.ERROR, run.reason or run.state))
        span.end(end_time=now)


#: The attempt open in this thread or coroutine: its span and the token that made it current.
_ATTEMPT: contextvars.ContextVar[tuple[Any, Any] | None] = contextvars.ContextVar(
    "handoffs_attempt", default=None
)
_lock = threading.Lock()


def _end_attempt(span: Any, outcome: str, error: str | None) -> None:
    span.set_attribute("handoffs.outcome", outcome)
    if error is not None:
        span.set_status(trace.Status(trace.StatusCode.ERROR, error[:1000]))
    span.end()


def enable(provider: TracerProvider | None = None) -> Tracing:
    """Start tracing every runtime of this process into ``provider`` (default: the global
    one, as ``opentelemetry-instrument`` sets it up). Enabling again replaces the provider.

    Raises:
        TracingUnavailable: OpenTelemetry is not installed, or the provider is not the SDK's.
    """
    if _MISSING is not None:
        raise TracingUnavailable(_MISSING)
    with _lock:
        tracing = Tracing(provider if provider is not None else trace.get_tracer_provider())
        HOOKS.attempts = tracing
        HOOKS.commits = tracing
        return tracing


def disable() -> None:
    """Stop tracing (attempts in progress end without a span)."""
    with _lock:
        HOOKS.attempts = None
        HOOKS.commits = None


#: The OTLP span exporters by ``OTEL_EXPORTER_OTLP_PROTOCOL`` (the package
#: ``opentelemetry-exporter-otlp`` has both; the spec's default is http/protobuf).
_OTLP: dict[str, str] = {
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "grpc": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
}


class EnvironmentTracing(msgspec.Struct, frozen=True):
    """Tracing as :func:`enable_from_environment` set it up: ``provider`` (flushed and shut
    down by :meth:`stop`), and ``exporter``, what it sends spans with, for the log."""

    provider: Any
    exporter: str

    def stop(self) -> None:
        """Stop tracing, export the spans still buffered, and shut the exporter down."""
        disable()
        self.provider.shutdown()


def _exporter(environ: Mapping[str, str]) -> tuple[Any, str]:
    """The span exporter the ``OTEL_*`` variables ask for (``None``: export nothing)."""
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    kind = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if kind == "none":
        return None, "none (OTEL_TRACES_EXPORTER=none)"
    if kind == "console":
        return ConsoleSpanExporter(), "console (stdout)"
    if kind != "otlp":
        raise TracingUnavailable(
            f"OTEL_TRACES_EXPORTER={kind!r}: handoffs serve exports with otlp, console or none"
        )
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol not in _OTLP:
        raise TracingUnavailable(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: use http/protobuf or grpc"
        )
    try:
        module = importlib.import_module(_OTLP[protocol])
    except ImportError:
        # Spans still show somewhere rather than nowhere; the log line says why.
        return ConsoleSpanExporter(), (
            "console (stdout): opentelemetry-exporter-otlp is not installed"
        )
    # The exporter reads its endpoint, headers, timeout... from the OTEL_EXPORTER_OTLP_* ones.
    return module.OTLPSpanExporter(), f"otlp ({protocol})"


def enable_from_environment(
    environ: Mapping[str, str] | None = None, *, set_global: bool = True
) -> EnvironmentTracing:
    """Enable tracing into a new SDK ``TracerProvider`` set up from the standard ``OTEL_*``
    variables: its resource (``OTEL_SERVICE_NAME``, default ``handoffs``;
    ``OTEL_RESOURCE_ATTRIBUTES``), its sampler (``OTEL_TRACES_SAMPLER``), and its exporter
    (``OTEL_TRACES_EXPORTER``: ``otlp``, the default, with ``opentelemetry-exporter-otlp``
    installed, over ``OTEL_EXPORTER_OTLP_PROTOCOL`` to ``OTEL_EXPORTER_OTLP_ENDPOINT``...;
    a console exporter without that package; ``console``; ``none``). ``set_global`` makes it
    the process's global provider too, so the agents' own spans reach the same exporter.

    Raises:
        TracingUnavailable: the otel extra is missing, or a variable names an exporter or
            protocol there is none of.
    """
    if _MISSING is not None:
        raise TracingUnavailable(_MISSING)
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise TracingUnavailable(
            "the OpenTelemetry SDK is not installed: pip install 'handoffs[otel]'"
        ) from None
    exporter, said = _exporter(os.environ if environ is None else environ)
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "handoffs"}))
    provider = SdkProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if set_global:
        trace.set_tracer_provider(provider)
    enable(provider)
    return EnvironmentTracing(provider, said)
