"""Tracing a role on Ray: each attempt's span ends with its outcome (the Ray actor thread
keeps several attempts in flight, so their spans are never "current" there) and the task
carries its trace context to the worker."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import msgspec
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from handoffs.examples.inputs import CYCLE  # noqa: E402
from handoffs.messages import Config, RaySpec  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from prometheus_client import CollectorRegistry  # noqa: E402

from handoffs import Runtime, tracing  # noqa: E402


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracing.enable(provider)
    try:
        yield exported
    finally:
        tracing.disable()


def test_attempt_spans_of_a_role_on_ray_end_with_their_outcome(
    ray_cluster: Any, tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    config = msgspec.toml.decode(
        files("handoffs.examples").joinpath("content.toml").read_bytes(), type=Config
    )
    writer = msgspec.structs.replace(
        config.roles["writer"], executor="ray", ray=RaySpec(num_cpus=0.25), concurrency=2
    )
    config = msgspec.structs.replace(config, roles={**config.roles, "writer": writer})
    with Runtime.open(config, tmp_path / "kb", registry=CollectorRegistry(), seed=1) as rt:
        inputs = [i for p, i in CYCLE if p == "content"][:4]
        ids = [rt.submit("content", run_input).run_id for run_input in inputs]
        for run_id in ids:
            rt.wait(run_id, timeout=60)
        written = [
            h for run_id in ids for h in rt.handoffs(run_id) if h.produced_by.startswith("writer")
        ]
    on_ray = [
        s
        for s in exporter.get_finished_spans()
        if s.name.startswith("task ") and (s.attributes or {}).get("handoffs.role") == "writer"
    ]
    assert written and len(on_ray) >= len(written)
    assert all((s.attributes or {}).get("handoffs.outcome") for s in on_ray)
    assert {(s.attributes or {}).get("handoffs.run_id") for s in on_ray} == {
        h.run_id for h in written
    }
