"""ChatModel against the real test server: structured modes, retries, errors, metrics."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import httpx2
import msgspec
import openai
import pytest
from handoffs.messages import LLMSpec, ResearchFindings, Verdict
from llm_fixtures import (
    API_KEY,
    FINDINGS,
    MESSAGES,
    MODEL,
    ROLE,
    VERDICT,
    Sleeps,
    call,
    metrics,
    server,
    shared_server,
    spec_for,
)
from prometheus_client import CollectorRegistry, generate_latest

from handoffs.llm.client import ChatModel, retry_after_seconds
from handoffs.llm.errors import ModelRefusal, OutputRejected, RequestFailed, RequestRefused
from handoffs.llm.metrics import LLMMetrics
from handoffs.testing import faults
from handoffs.testing.llm_server import LLMServer
from handoffs.testing.sample import sample_instance

__all__ = ["metrics", "server", "shared_server"]  # the fixtures, imported for pytest


def requests_of(metrics: LLMMetrics, outcome: str) -> float:
    labels = {"role": ROLE, "model": MODEL, "outcome": outcome}
    return metrics.registry.get_sample_value("handoffs_llm_requests_total", labels) or 0.0


def retries_of(metrics: LLMMetrics) -> float:
    labels = {"role": ROLE, "model": MODEL}
    return metrics.registry.get_sample_value("handoffs_llm_retries_total", labels) or 0.0


@pytest.mark.parametrize("mode", ["json_schema", "json_object", "tools"])
def test_each_structured_mode_gives_the_contract(
    server: LLMServer, metrics: LLMMetrics, mode: str
) -> None:
    done = call(spec_for(server, structured=mode), metrics=metrics)
    assert isinstance(done.output, ResearchFindings)
    assert FINDINGS.decode(done.content) == done.output
    assert (done.model, done.requests) == (MODEL, 1)
    assert done.prompt_tokens > 0
    assert done.completion_tokens == len(done.content) // 4
    (received,) = server.requests
    assert received.response_format == mode
    assert ("```json" in received.messages[-1][1]) == (mode == "json_object")
    assert requests_of(metrics, "ok") == 1
    labels = {"role": ROLE, "model": MODEL}
    tokens = metrics.registry.get_sample_value
    assert tokens("handoffs_llm_tokens_total", {**labels, "kind": "prompt"}) == done.prompt_tokens
    assert tokens("handoffs_llm_tokens_total", {**labels, "kind": "completion"}) == (
        done.completion_tokens
    )
    assert tokens("handoffs_llm_request_duration_seconds_count", labels) == 1


def test_a_review_is_decoded_as_a_verdict(server: LLMServer) -> None:
    messages = [{"role": "user", "content": "Review the draft.\nRevision: 1"}]
    done = call(spec_for(server), VERDICT, messages=messages)
    assert isinstance(done.output, Verdict)
    assert done.output.approved


def test_a_429_waits_as_long_as_retry_after_says(server: LLMServer, metrics: LLMMetrics) -> None:
    server.inject(faults.Status(status=429, retry_after=7))
    sleeps = Sleeps()
    done = call(spec_for(server, retry_backoff=0.5), metrics=metrics, sleep=sleeps)
    assert (sleeps.delays, done.requests) == ([7.0], 2)
    assert (requests_of(metrics, "rate_limited"), requests_of(metrics, "ok")) == (1, 1)
    assert retries_of(metrics) == 1


def test_retry_after_is_capped(server: LLMServer) -> None:
    server.inject(faults.Status(status=429, retry_after=600))
    sleeps = Sleeps()
    call(spec_for(server, max_retry_delay=3.0), sleep=sleeps)
    assert sleeps.delays == [3.0]


def test_a_500_is_retried_with_exponential_backoff(server: LLMServer, metrics: LLMMetrics) -> None:
    server.inject(faults.Status(status=500), faults.Status(status=502))
    sleeps = Sleeps()
    done = call(spec_for(server, retry_backoff=0.5, max_retries=4), metrics=metrics, sleep=sleeps)
    assert done.requests == 3
    first, second = sleeps.delays
    assert 0.5 <= first <= 1.0
    assert 1.0 <= second <= 1.5
    assert (requests_of(metrics, "server_error"), retries_of(metrics)) == (2, 2)


def test_backoff_is_capped(server: LLMServer) -> None:
    server.inject(*[faults.Status(status=503)] * 3)
    sleeps = Sleeps()
    spec = spec_for(server, retry_backoff=10.0, max_retry_delay=12.0, max_retries=3)
    call(spec, sleep=sleeps)
    assert sleeps.delays[1:] == [12.0, 12.0]


def test_a_persistent_503_fails_after_the_retries(server: LLMServer, metrics: LLMMetrics) -> None:
    server.inject(*[faults.Status(status=503)] * 5)
    with pytest.raises(RequestFailed) as caught:
        call(spec_for(server, max_retries=2), metrics=metrics)
    assert str(caught.value) == (
        f"role {ROLE}: model {MODEL}: 503: The engine is currently overloaded, please try again"
        " later. (gave up after 3 requests)"
    )
    assert (caught.value.status, caught.value.attempts) == (503, 3)
    assert server.counts.by_status == {503: 3}
    assert (requests_of(metrics, "server_error"), retries_of(metrics)) == (3, 2)


@pytest.mark.parametrize(
    ("status", "message"), [(400, "bad thing"), (404, "no such thing"), (422, "unprocessable")]
)
def test_a_4xx_is_refused_at_once(
    server: LLMServer, metrics: LLMMetrics, status: int, message: str
) -> None:
    server.inject(faults.Status(status=status, message=message))
    with pytest.raises(RequestRefused, match=rf"^role {ROLE}: model {MODEL}: {status}: {message}$"):
        call(spec_for(server), metrics=metrics)
    assert server.counts.requests == 1
    assert (requests_of(metrics, "refused"), retries_of(metrics)) == (1, 0)


def test_an_unknown_model_is_refused() -> None:
    with LLMServer(models=["other"]) as limited, pytest.raises(RequestRefused) as caught:
        call(spec_for(limited))
    assert caught.value.status == 404
    assert str(caught.value) == (
        f"role {ROLE}: model {MODEL}: 404: The model `{MODEL}` does not exist or you do not"
        " have access to it."
    )


@pytest.mark.parametrize(
    ("fault", "field"),
    [
        (faults.Truncated(), None),
        (faults.NotJson(), None),
        (faults.SchemaViolation(), "$.topic"),
    ],
)
def test_a_bad_answer_is_rejected(
    server: LLMServer, metrics: LLMMetrics, fault: faults.Fault, field: str | None
) -> None:
    server.inject(fault)
    with pytest.raises(OutputRejected) as caught:
        call(spec_for(server), metrics=metrics)
    assert caught.value.field == field
    assert server.counts.requests == 1
    assert requests_of(metrics, "invalid_output") == 1


def test_a_missing_field_is_rejected_naming_it(server: LLMServer) -> None:
    server.inject(faults.SchemaViolation(how="missing"))
    with pytest.raises(OutputRejected) as caught:
        call(spec_for(server), VERDICT)
    assert caught.value.field == "$.approved"


def test_a_refusal_is_a_model_refusal(server: LLMServer, metrics: LLMMetrics) -> None:
    server.inject(faults.Refusal(text="I won't."))
    with pytest.raises(ModelRefusal, match=r"^the model refused: I won't\.$") as caught:
        call(spec_for(server), metrics=metrics)
    assert caught.value.refusal == "I won't."
    assert requests_of(metrics, "refusal") == 1


def test_a_slow_answer_times_out_and_is_retried(server: LLMServer, metrics: LLMMetrics) -> None:
    server.inject(faults.Delay(seconds=60))
    done = call(spec_for(server, timeout=0.3), metrics=metrics)
    assert done.requests == 2
    assert (requests_of(metrics, "timeout"), requests_of(metrics, "ok")) == (1, 1)


def test_timeouts_that_persist_fail(server: LLMServer) -> None:
    server.inject(faults.Delay(seconds=60), faults.Delay(seconds=60))
    with pytest.raises(RequestFailed, match=r"no answer within 0\.2 s \(gave up after 2 req"):
        call(spec_for(server, timeout=0.2, max_retries=1))


def test_a_dropped_connection_is_retried(server: LLMServer, metrics: LLMMetrics) -> None:
    server.inject(faults.Drop())
    assert call(spec_for(server), metrics=metrics).requests == 2
    assert requests_of(metrics, "connection_error") == 1
    assert server.counts.dropped == 1


def test_the_api_key_never_leaks(
    server: LLMServer, metrics: LLMMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    leaked = "sk-wrong-key-canary-2718281828"
    with pytest.raises(RequestRefused) as refused:
        call(spec_for(server), metrics=metrics, api_key=leaked)
    assert refused.value.status == 401
    server.inject(*[faults.Status(status=500)] * 3)
    with pytest.raises(RequestFailed) as failed:
        call(spec_for(server), metrics=metrics)
    texts = [str(refused.value), str(failed.value), caplog.text]
    texts.append(generate_latest(metrics.registry).decode())
    for text in texts:
        assert leaked not in text
        assert API_KEY not in text


def test_a_missing_key_variable_is_refused_by_name(
    server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HANDOFFS_TEST_KEY", raising=False)
    spec = spec_for(server, api_key_env="HANDOFFS_TEST_KEY")
    with pytest.raises(
        RequestRefused,
        match=r"^role writer: no API key: set the environment variable HANDOFFS_TEST_KEY$",
    ):
        ChatModel(spec, role=ROLE)
    monkeypatch.setenv("HANDOFFS_TEST_KEY", API_KEY)
    assert call(spec, api_key=None).requests == 1


def test_cancellation_is_not_swallowed_by_the_retry_loop(server: LLMServer) -> None:
    server.inject(faults.Status(status=500))

    async def go() -> None:
        waiting = asyncio.Event()

        async def sleep(_: float) -> None:
            waiting.set()
            await asyncio.Event().wait()  # forever

        model = ChatModel(spec_for(server), role=ROLE, api_key=API_KEY, sleep=sleep)
        task = asyncio.create_task(model.complete(MESSAGES, FINDINGS))
        await waiting.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await model.aclose()

    asyncio.run(go())
    assert server.counts.requests == 1


def test_jitter_comes_from_the_injected_rng(server: LLMServer) -> None:
    server.inject(faults.Status(status=500))
    sleeps = Sleeps()

    async def go() -> None:
        spec = spec_for(server, retry_backoff=1.0)
        rng = random.Random(5)
        model = ChatModel(spec, role=ROLE, api_key=API_KEY, rng=rng, sleep=sleeps)
        await model.complete(MESSAGES, FINDINGS)
        await model.aclose()

    asyncio.run(go())
    assert sleeps.delays == [1.0 + random.Random(5).uniform(0, 1.0)]


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after": "0.5"}) == 0.5
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert retry_after_seconds({"retry-after": date}, now=1445412470.0) == 10.0
    assert retry_after_seconds({"retry-after": date}, now=1445412490.0) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def _model_on(
    handler: Callable[[httpx2.Request], httpx2.Response],
    spec: LLMSpec,
    metrics: LLMMetrics | None = None,
) -> ChatModel:
    """A ChatModel whose one client answers with ``handler`` (no network)."""
    http = openai.DefaultAsyncHttpxClient(transport=httpx2.MockTransport(handler))
    client = openai.AsyncOpenAI(
        base_url="http://model.test/v1", api_key=API_KEY, max_retries=0, http_client=http
    )
    return ChatModel(spec, role=ROLE, client=client, metrics=metrics, sleep=Sleeps())


def test_the_body_carries_the_sampling_and_extra_body_once_encoded() -> None:
    sent: list[dict[str, object]] = []
    answer = sample_instance(FINDINGS.schema, random.Random(1))

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(msgspec.json.decode(request.content))
        message = {"role": "assistant", "content": msgspec.json.encode(answer).decode()}
        return httpx2.Response(200, json={"model": MODEL, "choices": [{"message": message}]})

    spec = LLMSpec(model=MODEL, temperature=0.5, seed=7, extra_body={"top_k": 3, "seed": 8})

    async def go() -> None:
        model = _model_on(handler, spec)
        for _ in range(2):  # the second call reuses the cached schema fields
            done = await model.complete(MESSAGES, FINDINGS)
            assert done.output == FINDINGS.decode(msgspec.json.encode(answer))
            assert (done.model, done.prompt_tokens, done.completion_tokens) == (MODEL, 0, 0)
        await model.aclose()

    asyncio.run(go())
    assert sent[0] == sent[1]
    assert {k: sent[0][k] for k in ("model", "temperature", "seed", "top_k", "messages")} == {
        "model": MODEL,
        "temperature": 0.5,
        "seed": 8,
        "top_k": 3,
        "messages": MESSAGES,
    }
    assert "max_tokens" not in sent[0]
    assert sent[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": FINDINGS.name,
            "strict": True,
            "schema": FINDINGS.schema,
            "description": FINDINGS.description,
        },
    }


@pytest.mark.parametrize("body", [b"<html>busy</html>", b'{"choices": [{"message": 3}]}'])
def test_a_body_that_is_no_chat_completion_is_a_server_error(body: bytes) -> None:
    metrics = LLMMetrics(CollectorRegistry())

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "application/json"})

    async def go() -> None:
        model = _model_on(handler, LLMSpec(model=MODEL, max_retries=1), metrics)
        try:
            await model.complete(MESSAGES, FINDINGS)
        finally:
            await model.aclose()

    with pytest.raises(RequestFailed, match=r"^role .+: unusable answer: .+ \(gave up after 2 r"):
        asyncio.run(go())
    assert requests_of(metrics, "server_error") == 2
