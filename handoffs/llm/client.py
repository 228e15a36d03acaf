"""One model call: a chat completion whose answer is a contract instance, with retries.

:class:`ChatModel` sends one request per attempt through the official ``openai`` SDK (its
own retries off, so each attempt is counted and ``Retry-After`` is honoured here). A 429, a
5xx, a timeout or a connection error is retried up to ``max_retries`` times, after
``retry_backoff * 2**n`` plus jitter or the server's ``Retry-After``, capped at
``max_retry_delay``; then :class:`~handoffs.llm.errors.RequestFailed`. Any other 4xx is
:class:`~handoffs.llm.errors.RequestRefused` at once. An answer is decoded with the
contract's :class:`~handoffs.llm.schema.StrictSchema` (a bad one is
:class:`~handoffs.llm.errors.OutputRejected`, not retried here: the stage runs again with the
validator's feedback); a refusal is :class:`~handoffs.llm.errors.ModelRefusal`. No exception of
the SDK or of httpx escapes, and the API key is in no message, log line or metric.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx2
import msgspec
import openai

from handoffs.llm.errors import ModelRefusal, OutputRejected, RequestFailed, RequestRefused
from handoffs.llm.metrics import LLMMetrics, Outcome
from handoffs.llm.schema import StrictSchema
from handoffs.messages import LLMSpec

__all__ = ["ChatModel", "Completion", "retry_after_seconds"]

log = logging.getLogger("handoffs.llm")

#: Calls in flight per HTTP client (each client has its own connection pool).
CALLS_PER_CLIENT = 64

Sleep = Callable[[float], Awaitable[None]]


class Completion(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded answer: the contract instance, its JSON text, what the server reported (its
    model name, the tokens), and what it took (HTTP requests, seconds in all)."""

    output: msgspec.Struct
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    requests: int
    seconds: float


class _Function(msgspec.Struct):
    arguments: str = ""


class _ToolCall(msgspec.Struct):
    type: str = "function"
    function: _Function | None = None


class _Message(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(msgspec.Struct):
    message: _Message


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Reply(msgspec.Struct):
    """What ChatModel reads of a chat completion (every other field is ignored)."""

    model: str = ""
    choices: list[_Choice] = []
    usage: _Usage | None = None


_reply_decoder = msgspec.json.Decoder(_Reply)


class _Transient(Exception):
    """An attempt that may be retried: what to count, and what to say if it was the last."""

    def __init__(self, outcome: Outcome, message: str, status: int | None, wait: float | None):
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.status = status
        self.wait = wait


class _Client:
    """One SDK client and the calls it has in flight."""

    __slots__ = ("calls", "client")

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self.client = client
        self.calls = 0


class ChatModel:
    """A role's model behind an OpenAI-compatible endpoint.

    Calls may run concurrently on one event loop (the SDK client pools connections); the
    object belongs to that loop. ``sleep`` waits between attempts (tests pass one that does
    not wait).

    Raises:
        RequestRefused: no ``client`` or ``api_key`` was given and ``$<api_key_env>`` is unset.
    """

    def __init__(
        self,
        spec: LLMSpec,
        *,
        role: str,
        metrics: LLMMetrics | None = None,
        client: openai.AsyncOpenAI | None = None,
        api_key: str | None = None,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.spec = spec
        self.role = role
        self._metrics = metrics
        self._rng = rng or random.Random()
        self._sleep = sleep
        key = api_key or os.environ.get(spec.api_key_env) or ""
        # Kept only to scrub it from what servers say back; never logged.
        self._secret = key
        if client is None and not key:
            raise RequestRefused(
                f"role {role}: no API key: set the environment variable {spec.api_key_env}"
            )
        #: Clients and the calls each has in flight. One client per CALLS_PER_CLIENT calls:
        #: a client's connection pool scans every connection per request, and keeps only
        #: 100 alive, so one client for thousands of calls cost more CPU than the calls.
        self._clients: list[_Client] = [] if client is None else [_Client(client)]
        self._shared = client is not None
        #: One TLS context for every client: building one loads the CA store (~30 ms of
        #: CPU), which each new client of a role under load would otherwise pay again.
        self._ssl: ssl.SSLContext | None = None
        #: The request body's fields that never change: the model and its sampling.
        self._fixed: dict[str, Any] = {"model": spec.model} | {
            name: value
            for name in ("temperature", "max_tokens", "top_p", "seed")
            if (value := getattr(spec, name)) is not None
        }
        #: Per schema: the body's fields that carry it (the same for every call).
        self._formats: dict[StrictSchema, dict[str, Any]] = {}

    async def aclose(self) -> None:
        """Close the HTTP clients' connections."""
        clients, self._clients = self._clients, []
        for entry in clients:
            await entry.client.close()

    def _acquire(self) -> _Client:
        """The client with room for one more call (a new one if none has room)."""
        for entry in self._clients:
            if entry.calls < CALLS_PER_CLIENT or self._shared:
                entry.calls += 1
                return entry
        if self._ssl is None:
            self._ssl = httpx2.create_ssl_context()  # what each client would build itself
        entry = _Client(
            openai.AsyncOpenAI(
                base_url=self.spec.base_url or None,
                api_key=self._secret,
                timeout=self.spec.timeout,
                max_retries=0,
                http_client=openai.DefaultAsyncHttpxClient(verify=self._ssl),
            )
        )
        entry.calls = 1
        self._clients.append(entry)
        return entry

    async def complete(self, messages: list[dict[str, str]], schema: StrictSchema) -> Completion:
        """Ask the model; return its answer decoded as ``schema``'s contract.

        Raises:
            RequestRefused: the endpoint refused the request (400, 401, 403, 404, 422, ...).
            RequestFailed: 429, 5xx, timeouts or connection errors outlasted the retries.
            ModelRefusal: the model refused to answer.
            OutputRejected: the answer is empty, not JSON, or breaks the contract.
        """
        spec = self.spec
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            sent = time.perf_counter()
            try:
                response = await self._create(messages, schema)
            except _Transient as exc:
                self._count(exc.outcome, sent)
                if attempt > spec.max_retries:
                    raise RequestFailed(
                        f"role {self.role}: model {spec.model}: {exc.message}"
                        f" (gave up after {attempt} requests)",
                        status=exc.status,
                        attempts=attempt,
                    ) from None
                delay = self._delay(attempt - 1, exc.wait)
                log.info(
                    "role %s: model %s: %s; retry %d of %d in %.2f s",
                    self.role,
                    spec.model,
                    exc.message,
                    attempt,
                    spec.max_retries,
                    delay,
                )
                if self._metrics is not None:
                    self._metrics.retry(self.role, spec.model)
                await self._sleep(delay)
                continue
            except RequestRefused:
                self._count("refused", sent)
                raise
            break
        try:
            output, content = self._decode(response, schema)
        except ModelRefusal:
            self._count("refusal", sent)
            raise
        except OutputRejected:
            self._count("invalid_output", sent)
            raise
        finally:
            self._usage(response)
        self._count("ok", sent)
        usage = response.usage
        return Completion(
            output=output,
            content=content,
            model=response.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            requests=attempt,
            seconds=time.perf_counter() - started,
        )

    async def _create(self, messages: list[dict[str, str]], schema: StrictSchema) -> _Reply:
        """One HTTP request; every SDK error turned into ``_Transient`` or ``RequestRefused``.

        The body is built and encoded here (msgspec) and sent with the SDK's ``post``: the
        SDK's ``chat.completions.create`` walks every message and the whole JSON schema through
        its type annotations on each call, which cost more CPU than the rest of the call.
        The answer is read the same way, decoding only the fields this class uses.
        """
        spec = self.spec
        fields = self._formats.get(schema)
        if fields is None:
            fields = self._formats.setdefault(schema, _format_fields(spec.structured, schema))
        if spec.structured == "json_object":
            messages = _with_schema(messages, schema)
        body = msgspec.json.encode(
            {**self._fixed, "messages": messages, **fields, **spec.extra_body}
        )
        entry = self._acquire()
        try:
            raw = await entry.client.post("/chat/completions", cast_to=bytes, content=body)
            return _reply_decoder.decode(raw)
        except openai.APIStatusError as exc:
            status = exc.status_code
            message = self._scrub(f"{status}: {_server_message(exc)}")
            if status == 429 or status >= 500:
                outcome: Outcome = "rate_limited" if status == 429 else "server_error"
                raise _Transient(
                    outcome, message, status, retry_after_seconds(exc.response.headers)
                ) from None
            raise RequestRefused(
                f"role {self.role}: model {spec.model}: {message}", status=status
            ) from None
        except openai.APITimeoutError:
            raise _Transient("timeout", f"no answer within {spec.timeout} s", None, None) from None
        except openai.APIConnectionError as exc:
            message = self._scrub(f"connection error: {exc.__cause__ or exc.message}")
            raise _Transient("connection_error", message, None, None) from None
        except (openai.OpenAIError, msgspec.MsgspecError) as exc:
            # An answer that is not a chat completion at all: the endpoint misbehaved.
            message = self._scrub(f"unusable answer: {exc}")
            raise _Transient("server_error", message, None, None) from None
        finally:
            entry.calls -= 1

    def _decode(self, response: _Reply, schema: StrictSchema) -> tuple[msgspec.Struct, str]:
        if not response.choices:
            raise OutputRejected("the answer has no choices")
        message = response.choices[0].message
        if message.refusal:
            raise ModelRefusal(message.refusal)
        content = message.content
        if self.spec.structured == "tools" and message.tool_calls:
            call = message.tool_calls[0]
            function = call.function
            content = function.arguments if call.type == "function" and function else None
        if not content:
            raise OutputRejected("the answer is empty: expected one JSON object")
        return schema.decode(content), content

    def _delay(self, retry: int, wait: float | None) -> float:
        spec = self.spec
        if wait is None:
            wait = spec.retry_backoff * 2**retry + self._rng.uniform(0, spec.retry_backoff)
        return min(wait, spec.max_retry_delay)

    def _count(self, outcome: Outcome, sent: float) -> None:
        if self._metrics is not None:
            seconds = time.perf_counter() - sent
            self._metrics.request(self.role, self.spec.model, outcome, seconds)

    def _usage(self, response: _Reply) -> None:
        usage = response.usage
        if self._metrics is not None and usage is not None:
            self._metrics.usage(
                self.role, self.spec.model, usage.prompt_tokens, usage.completion_tokens
            )

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "<redacted>") if self._secret else text


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The wait a response asks for: ``retry-after-ms``, else ``Retry-After`` in seconds or as
    an HTTP date (relative to ``now``, a POSIX time); ``None`` if absent or unreadable."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _format_fields(structured: str, schema: StrictSchema) -> dict[str, Any]:
    """The request fields that ask for ``schema`` in the ``structured`` mode."""
    match structured:
        case "json_schema":
            spec_schema: dict[str, Any] = {
                "name": schema.name,
                "strict": True,
                "schema": schema.schema,
            }
            if schema.description:
                spec_schema["description"] = schema.description
            return {"response_format": {"type": "json_schema", "json_schema": spec_schema}}
        case "json_object":
            return {"response_format": {"type": "json_object"}}
        case _:  # tools
            function: dict[str, Any] = {
                "name": schema.name,
                "parameters": schema.schema,
                "strict": True,
            }
            if schema.description:
                function["description"] = schema.description
            return {
                "tools": [{"type": "function", "function": function}],
                "tool_choice": {"type": "function", "function": {"name": schema.name}},
            }


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return exc.message


def _with_schema(messages: list[dict[str, str]], schema: StrictSchema) -> list[dict[str, str]]:
    """``messages`` with the schema appended to the last user message (``json_object`` mode
    has no schema parameter, and the word "JSON" must be in the prompt)."""
    note = (
        "\n\nAnswer with one JSON object that follows this JSON schema:\n```json\n"
        f"{msgspec.json.encode(schema.schema).decode()}\n```"
    )
    out = list(messages)
    for i in range(len(out) - 1, -1, -1):
        if out[i].get("role") == "user":
            out[i] = {**out[i], "content": out[i].get("content", "") + note}
            return out
    return [*out, {"role": "user", "content": note.lstrip()}]
