"""The OpenAI-compatible test server, through the official SDK and raw HTTP."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import msgspec
import openai
import pytest
from handoffs.messages import ResearchFindings
from llm_fixtures import API_KEY, FINDINGS, MESSAGES, VERDICT, run_with, server, shared_server
from openai.types.chat import ChatCompletion

from handoffs.testing import faults
from handoffs.testing.llm_server import DEFAULT_MODEL, LLMServer
from handoffs.testing.strict import instance_problems

__all__ = ["server", "shared_server"]  # the fixtures, imported for pytest

JSON_SCHEMA: Any = {
    "type": "json_schema",
    "json_schema": {"name": FINDINGS.name, "strict": True, "schema": FINDINGS.schema},
}


async def ask(
    client: openai.AsyncOpenAI,
    messages: list[dict[str, str]] | None = None,
    model: str = "m",
    **params: Any,
) -> ChatCompletion:
    return await client.chat.completions.create(
        model=model, messages=messages or MESSAGES, **params
    )  # type: ignore[call-overload, no-any-return]


def content_of(server: LLMServer, **params: Any) -> str:
    answer = run_with(server, lambda c: ask(c, **params))
    return answer.choices[0].message.content or ""


def test_models_are_listed_and_looked_up(server: LLMServer) -> None:
    async def use(client: openai.AsyncOpenAI) -> tuple[list[str], str]:
        listed = await client.models.list()
        one = await client.models.retrieve("anything")
        return [m.id for m in listed.data], one.id

    assert run_with(server, use) == ([DEFAULT_MODEL], "anything")


def test_only_listed_models_are_served() -> None:
    with LLMServer(models=["a", "b"]) as limited:
        assert run_with(limited, lambda c: ask(c, model="b")).model == "b"
        with pytest.raises(openai.NotFoundError) as caught:
            run_with(limited, lambda c: ask(c, model="c"))
        assert caught.value.code == "model_not_found"
        with pytest.raises(openai.NotFoundError):
            run_with(limited, lambda c: c.models.retrieve("c"))


def test_a_missing_or_wrong_key_is_401_with_an_openai_error_body(server: LLMServer) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = httpx.post(f"{server.base_url}/chat/completions", json={}, headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "error": {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
    with pytest.raises(openai.AuthenticationError):
        run_with(server, ask, api_key="sk-wrong")
    assert server.counts.by_status == {401: 3}


def test_a_strict_schema_is_answered_with_a_conforming_instance(server: LLMServer) -> None:
    answer = run_with(server, lambda c: ask(c, response_format=JSON_SCHEMA))
    content = answer.choices[0].message.content or ""
    assert instance_problems(FINDINGS.schema, json.loads(content)) == []
    assert isinstance(FINDINGS.decode(content), ResearchFindings)
    usage = answer.usage
    assert usage is not None
    assert usage.completion_tokens == len(content) // 4
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 50


def test_a_non_strict_schema_sent_as_strict_is_refused(server: LLMServer) -> None:
    raw = msgspec.json.schema(ResearchFindings)  # a root $ref, no additionalProperties: false
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": raw}}
    with pytest.raises(openai.BadRequestError) as caught:
        run_with(server, lambda c: ask(c, response_format=fmt))
    assert caught.value.param == "response_format"
    assert caught.value.message.startswith(
        "Error code: 400 - Invalid schema for response_format 'x': "
        '#: the root must be an object ("type": "object"); #: the root must not be $ref'
    )


def test_answers_are_deterministic() -> None:
    with LLMServer(seed=1) as one, LLMServer(seed=2) as two:
        first = content_of(one, response_format=JSON_SCHEMA)
        assert content_of(one, response_format=JSON_SCHEMA) == first
        assert content_of(two, response_format=JSON_SCHEMA) != first
        other = [{"role": "user", "content": "Something else"}]
        assert content_of(one, response_format=JSON_SCHEMA, messages=other) != first


def test_reviews_approve_from_the_configured_revision() -> None:
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "Verdict", "strict": True, "schema": VERDICT.schema},
    }
    with LLMServer(approve_from=2) as reviewing:
        verdicts = []
        for revision in range(4):
            messages = [{"role": "user", "content": f"Review this.\nRevision: {revision}"}]
            verdicts.append(
                json.loads(content_of(reviewing, messages=messages, response_format=fmt))
            )
    assert [v["approved"] for v in verdicts] == [False, False, True, True]
    for rejected in verdicts[:2]:
        assert rejected["feedback"] and rejected["feedback"][0]["issue"]


def test_json_object_needs_json_in_the_prompt(server: LLMServer) -> None:
    fmt = {"type": "json_object"}
    with pytest.raises(openai.BadRequestError, match="must contain the word 'json'"):
        run_with(server, lambda c: ask(c, response_format=fmt))
    plain = content_of(
        server, messages=[{"role": "user", "content": "Answer in JSON"}], response_format=fmt
    )
    assert list(json.loads(plain)) == ["answer"]
    schema = json.dumps(FINDINGS.schema)
    fenced = [{"role": "user", "content": f"Answer in JSON.\n```json\n{schema}\n```"}]
    answer = content_of(server, messages=fenced, response_format=fmt)
    assert instance_problems(FINDINGS.schema, json.loads(answer)) == []


def test_a_forced_tool_is_answered_with_a_call(server: LLMServer) -> None:
    function = {"name": "findings", "parameters": FINDINGS.schema, "strict": True}
    tools = [{"type": "function", "function": function}]
    forced = {"type": "function", "function": {"name": "findings"}}
    answer = run_with(server, lambda c: ask(c, tools=tools, tool_choice=forced))
    choice = answer.choices[0]
    assert (choice.message.content, choice.finish_reason) == (None, "tool_calls")
    call = (choice.message.tool_calls or [])[0]
    assert call.type == "function"
    assert call.function.name == "findings"
    assert instance_problems(FINDINGS.schema, json.loads(call.function.arguments)) == []
    with pytest.raises(openai.BadRequestError, match="only when tool_choice forces"):
        run_with(server, lambda c: ask(c, tools=tools, tool_choice="auto"))


def test_no_format_is_plain_text_and_streaming_is_refused(server: LLMServer) -> None:
    assert content_of(server).startswith("Test answer ")
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": "m", "messages": MESSAGES, "stream": True},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Streaming is not supported by this test server."


def test_content_faults_spoil_the_answer(server: LLMServer) -> None:
    good = content_of(server, response_format=JSON_SCHEMA)
    server.inject(faults.Truncated(), faults.NotJson(), faults.SchemaViolation())
    server.inject(faults.SchemaViolation(how="missing"), faults.Refusal(text="No."))
    assert content_of(server, response_format=JSON_SCHEMA) == good[: len(good) // 2]
    assert not content_of(server, response_format=JSON_SCHEMA).startswith("{")
    retyped = json.loads(content_of(server, response_format=JSON_SCHEMA))
    assert retyped["topic"] == 12345
    missing = json.loads(content_of(server, response_format=JSON_SCHEMA))
    assert "topic" not in missing
    refused = run_with(server, lambda c: ask(c, response_format=JSON_SCHEMA)).choices[0].message
    assert (refused.content, refused.refusal) == (None, "No.")
    assert [r.fault for r in server.requests] == [
        None,
        "truncated",
        "not_json",
        "schema_violation",
        "schema_violation",
        "refusal",
    ]


def test_status_faults_and_drops(server: LLMServer) -> None:
    server.inject(faults.Status(status=429, retry_after=2), faults.Status(status=503))
    server.inject(faults.Status(status=400, message="bad thing"), faults.Drop())
    with pytest.raises(openai.RateLimitError) as limited:
        run_with(server, ask)
    assert limited.value.response.headers["retry-after"] == "2"
    with pytest.raises(openai.InternalServerError):
        run_with(server, ask)
    with pytest.raises(openai.BadRequestError, match="bad thing"):
        run_with(server, ask)
    with pytest.raises(openai.APIConnectionError):
        run_with(server, ask)
    assert content_of(server).startswith("Test answer")
    assert server.counts.by_status == {429: 1, 503: 1, 400: 1, 200: 1}
    assert (server.counts.requests, server.counts.dropped) == (5, 1)


def test_faults_can_wait_for_one_model(server: LLMServer) -> None:
    server.inject(faults.Status(status=500), model="b")
    assert run_with(server, lambda c: ask(c, model="a")).model == "a"
    with pytest.raises(openai.InternalServerError):
        run_with(server, lambda c: ask(c, model="b"))


def test_faults_over_http(server: LLMServer) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    url = f"{server.base_url.removesuffix('/v1')}/_faults"
    body = {"faults": [{"kind": "status", "status": 502}, {"kind": "delay", "seconds": 0}]}
    assert httpx.post(url, json=body, headers=headers).json() == {"queued": 2}
    bad = httpx.post(url, json={"faults": [{"kind": "explode"}]}, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == (
        "Invalid faults: Invalid value 'explode' - at `$.faults[0].kind`"
    )
    with pytest.raises(openai.InternalServerError):
        run_with(server, ask)
    assert httpx.delete(url, headers=headers).json() == {"queued": 0}
    assert content_of(server).startswith("Test answer")


def test_a_slow_answer_does_not_hold_up_others(server: LLMServer) -> None:
    server.inject(faults.Delay(seconds=60), model="slow")

    async def use(client: openai.AsyncOpenAI) -> bool:
        slow = asyncio.create_task(ask(client, model="slow"))
        await ask(client, model="fast")
        still_waiting = not slow.done()
        slow.cancel()
        return still_waiting

    assert run_with(server, use)


def test_latency_is_waited_concurrently() -> None:
    with LLMServer(latency=0.5) as slow:

        async def use(client: openai.AsyncOpenAI) -> float:
            started = time.monotonic()
            await asyncio.gather(
                *(ask(client, [{"role": "user", "content": str(i)}]) for i in range(200))
            )
            return time.monotonic() - started

        # One after the other would take 100 s.
        assert 0.5 <= run_with(slow, use) < 10
        assert slow.counts.by_status == {200: 200}


def test_requests_are_recorded_without_the_key(server: LLMServer) -> None:
    run_with(server, lambda c: ask(c, response_format=JSON_SCHEMA))
    (received,) = server.requests
    assert received.model == "m"
    assert received.response_format == "json_schema"
    assert received.messages == tuple((m["role"], m["content"]) for m in MESSAGES)
    assert "authorization" not in {k.lower() for k in received.headers}
    assert API_KEY not in repr(received)
    server.clear()
    assert (server.requests, server.counts.requests) == ((), 0)


def test_the_command_line_serves_until_ctrl_c() -> None:
    command = [sys.executable, "-W", "error", "-m", "handoffs.testing.llm_server"]
    with subprocess.Popen(
        [*command, "--port", "0", "--seed", "3", "--approve-from", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:")
            assert base_url.endswith("/v1")
            models = httpx.get(f"{base_url}/models").json()
            assert models["data"][0]["id"] == DEFAULT_MODEL
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=10)
    assert (process.returncode, stderr) == (0, "")
