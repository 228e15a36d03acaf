"""Shared pieces of the model-call tests: a test server, specs pointing at it, a recording
sleep, and a one-call helper that runs on its own event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import openai
import pytest
from handoffs.messages import LLMSpec, ResearchFindings, Verdict
from prometheus_client import CollectorRegistry

from handoffs.llm.client import ChatModel, Completion
from handoffs.llm.metrics import LLMMetrics
from handoffs.llm.schema import StrictSchema
from handoffs.testing.llm_server import LLMServer

#: Distinctive, so a leak into a message, a log line or a metric is easy to find.
API_KEY = "sk-handoffs-test-Q7v9-leak-canary-3141"
MODEL = "test-model"
ROLE = "writer"
FINDINGS = StrictSchema.for_contract(ResearchFindings)
VERDICT = StrictSchema.for_contract(Verdict)
MESSAGES = [
    {"role": "system", "content": "You research topics."},
    {"role": "user", "content": "Research the history of the transistor."},
]

T = TypeVar("T")


class Sleeps:
    """A sleep that records how long it was asked to wait, and does not wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LLMServer]:
    """A test server that wants :data:`API_KEY`, shared by a module (stopping one takes a
    uvicorn tick)."""
    with LLMServer(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def server(shared_server: LLMServer) -> LLMServer:
    """The module's test server, its faults, requests and counts cleared."""
    shared_server.clear()
    return shared_server


@pytest.fixture
def metrics() -> LLMMetrics:
    """Model-call metrics on a fresh registry."""
    return LLMMetrics(CollectorRegistry())


def spec_for(server: LLMServer, **overrides: Any) -> LLMSpec:
    """A spec for ``server``: quick timeouts, two retries, no backoff unless asked."""
    fields: dict[str, Any] = {
        "model": MODEL,
        "base_url": server.base_url,
        "timeout": 5.0,
        "max_retries": 2,
        "retry_backoff": 0.0,
        **overrides,
    }
    return LLMSpec(**fields)


def sdk(server: LLMServer, api_key: str = API_KEY) -> openai.AsyncOpenAI:
    """The official client for ``server``, its own retries off."""
    return openai.AsyncOpenAI(base_url=server.base_url, api_key=api_key, max_retries=0)


def run_with(
    server: LLMServer, use: Callable[[openai.AsyncOpenAI], Awaitable[T]], api_key: str = API_KEY
) -> T:
    """Run ``use(client)`` on a fresh event loop, the client closed after."""

    async def go() -> T:
        client = sdk(server, api_key)
        try:
            return await use(client)
        finally:
            await client.close()

    return asyncio.run(go())


def call(
    spec: LLMSpec,
    schema: StrictSchema = FINDINGS,
    *,
    metrics: LLMMetrics | None = None,
    sleep: Sleeps | None = None,
    api_key: str | None = API_KEY,
    messages: list[dict[str, str]] | None = None,
) -> Completion:
    """One :meth:`ChatModel.complete` on a fresh event loop."""

    async def go() -> Completion:
        model = ChatModel(
            spec, role=ROLE, metrics=metrics, api_key=api_key, sleep=sleep or Sleeps()
        )
        try:
            return await model.complete(messages or MESSAGES, schema)
        finally:
            await model.aclose()

    return asyncio.run(go())


def sample(metrics: LLMMetrics, name: str, **labels: str) -> float:
    """A metric's value for ``ROLE`` and ``MODEL`` (0 when never set)."""
    value = metrics.registry.get_sample_value(name, {"role": ROLE, "model": MODEL, **labels})
    return value or 0.0
