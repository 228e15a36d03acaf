"""The test model server's wire: the requests it understands and the answers it builds.

:data:`CHAT_DECODER` decodes a chat completion request (unknown fields are fine: the SDK
sends many this server ignores) and :func:`plan` says how to answer it, or raises
:class:`BadRequest` as the real API would refuse it. By ``response_format``: ``json_schema``
with ``strict: true`` must pass :func:`~handoffs.testing.strict.strict_schema_problems`
(else 400 naming the first problems); ``json_object`` needs "json" in the messages (else
400) and follows the last ```` ```json ```` fenced schema in the last user message if any;
``tools`` with ``tool_choice`` forcing one function answers a tool call; no format answers
plain text.

:func:`completion` builds the answer. It is deterministic: a value that follows the plan's
schema (:func:`~handoffs.testing.sample.sample_instance`), drawn with a generator seeded from
the server's seed and the request's messages. A schema whose root has a boolean ``approved``
gets ``approved = revision >= approve_from`` (the revision read from ``Revision: N`` in the
last user message, else 0) and, when false, a ``feedback`` item with an issue
(:func:`review`). A fault that spoils the answer's text does it with :func:`mangle`;
:func:`error_body` builds an OpenAI-shaped error.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from typing import Any, Literal

import msgspec

from handoffs.testing.faults import Fault, NotJson, Refusal, SchemaViolation, Truncated
from handoffs.testing.sample import sample_instance
from handoffs.testing.strict import strict_schema_problems

__all__ = [
    "CHAT_DECODER",
    "REASONS",
    "BadRequest",
    "ChatMessage",
    "ChatRequest",
    "Plan",
    "completion",
    "error_body",
    "feedback_items",
    "mangle",
    "plan",
    "review",
    "text_of",
]

#: Where the client puts the schema in ``json_object`` mode: a fenced block in the last user
#: message.
_FENCED_JSON = re.compile(r"```json\s*\n(.*?)\n```", re.DOTALL)
_REVISION = re.compile(r"Revision: (\d+)")

#: The real API's messages for the statuses a fault or the key check may answer.
REASONS = {
    401: "Incorrect API key provided.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request.",
    503: "The engine is currently overloaded, please try again later.",
}


class TextPart(msgspec.Struct, frozen=True):
    type: str
    text: str = ""


class ChatMessage(msgspec.Struct, frozen=True):
    role: str
    content: str | list[TextPart] | None = None


class JsonSchemaFormat(msgspec.Struct, frozen=True):
    name: str
    schema: dict[str, Any] | None = None
    strict: bool | None = None


class ResponseFormat(msgspec.Struct, frozen=True):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class FunctionSpec(msgspec.Struct, frozen=True):
    name: str
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolSpec(msgspec.Struct, frozen=True):
    type: str
    function: FunctionSpec


class ChosenFunction(msgspec.Struct, frozen=True):
    name: str


class ToolChoice(msgspec.Struct, frozen=True):
    type: str
    function: ChosenFunction


class ChatRequest(msgspec.Struct, frozen=True):
    model: str
    messages: list[ChatMessage]
    response_format: ResponseFormat | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: Literal["none", "auto", "required"] | ToolChoice | None = None
    stream: bool | None = None


CHAT_DECODER = msgspec.json.Decoder(ChatRequest)


def text_of(message: ChatMessage) -> str:
    """A message's text (its text parts joined when it has parts)."""
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part.text for part in content if part.type == "text")


class BadRequest(Exception):
    """A request the real API would refuse with a 400."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class Plan(msgspec.Struct, frozen=True):
    """How to answer: as text, JSON (following ``schema`` if any) or a call of ``function``."""

    kind: Literal["text", "json_schema", "json_object", "tools"]
    schema: dict[str, Any] | None = None
    function: str = ""


def plan(body: ChatRequest) -> Plan:
    """How the request is answered (see the module's docstring).

    Raises:
        BadRequest: the real API would refuse it (a non-strict schema sent as strict, ...).
    """
    if body.tools:
        return _plan_tools(body.tools, body.tool_choice)
    fmt = body.response_format
    if fmt is None or fmt.type == "text":
        return Plan("text")
    if fmt.type == "json_object":
        texts = [text_of(m) for m in body.messages]
        if not any("json" in t.lower() for t in texts):
            raise BadRequest(
                "'messages' must contain the word 'json' in some form, to use 'response_format'"
                " of type 'json_object'.",
                param="messages",
            )
        last_user = next((text_of(m) for m in reversed(body.messages) if m.role == "user"), "")
        fenced = _FENCED_JSON.findall(last_user)
        try:
            found = msgspec.json.decode(fenced[-1]) if fenced else None
        except msgspec.DecodeError:
            found = None
        schema = found if isinstance(found, dict) and not strict_schema_problems(found) else None
        return Plan("json_object", schema)
    spec = fmt.json_schema
    if spec is None or spec.schema is None:
        raise BadRequest("Missing required parameter: 'response_format.json_schema'.")
    schema = _usable(spec.schema, spec.strict, f"response_format '{spec.name}'")
    return Plan("json_schema", schema)


def _plan_tools(tools: list[ToolSpec], choice: object) -> Plan:
    if isinstance(choice, ToolChoice):
        named = [t for t in tools if t.function.name == choice.function.name]
    else:
        named = tools if choice == "required" and len(tools) == 1 else []
    if not named:
        raise BadRequest(
            "This test server answers tools only when tool_choice forces one of them.",
            param="tool_choice",
        )
    function = named[0].function
    schema = _usable(function.parameters or {}, function.strict, f"function '{function.name}'")
    return Plan("tools", schema, function.name)


def _usable(schema: dict[str, Any], strict: bool | None, what: str) -> dict[str, Any] | None:
    problems = strict_schema_problems(schema)
    if strict and problems:
        raise BadRequest(
            f"Invalid schema for {what}: {'; '.join(problems[:3])}",
            param="response_format" if what.startswith("response_format") else "tools",
            code="invalid_json_schema",
        )
    # A non-strict schema this server cannot sample from is answered with an empty object.
    return None if problems else schema


def completion(
    model: str,
    plan: Plan,
    messages: tuple[tuple[str, str], ...],
    fault: Fault | None,
    *,
    seed: int,
    approve_from: int,
) -> dict[str, Any]:
    """The body of a chat completion that answers ``messages`` (``(role, text)``) as ``plan``
    says, drawn from ``seed`` and the messages, spoilt by ``fault`` if it is an answer's."""
    digest = hashlib.sha256(msgspec.json.encode(messages)).hexdigest()
    rng = random.Random(f"{seed}/{digest}")
    value: Any
    if plan.schema is not None:
        value = sample_instance(plan.schema, rng)
        items = feedback_items(plan.schema)
        last_user = next((t for role, t in reversed(messages) if role == "user"), "")
        found = _REVISION.search(last_user)
        revision = int(found.group(1)) if found else 0
        approved = revision >= approve_from
        item = sample_instance(items, rng) if items is not None and not approved else None
        value = review(plan.schema, value, approved, item, revision)
    elif plan.kind == "text":
        value = f"Test answer {rng.randrange(10**6)}."
    else:
        value = {"answer": f"test answer {rng.randrange(10**6)}"}
    if isinstance(fault, Truncated | NotJson | SchemaViolation):
        text = mangle(fault, value, plan.schema)
    else:
        text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    refusal = fault.text if isinstance(fault, Refusal) else None
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": refusal}
    if refusal is not None:
        message["content"] = None
    elif plan.kind == "tools":
        call = {"name": plan.function, "arguments": text}
        tool_call = {"id": f"call_{digest[:16]}", "type": "function", "function": call}
        message.update(content=None, tool_calls=[tool_call])
    reason = "tool_calls" if "tool_calls" in message else "stop"
    reason = "length" if isinstance(fault, Truncated) else reason
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": reason}
    prompt = max(1, (sum(len(t) for _, t in messages) + len(msgspec.json.encode(plan.schema))) // 4)
    answered = max(1, len(refusal or text) // 4)
    usage = [("prompt", prompt), ("completion", answered), ("total", prompt + answered)]
    return {
        "id": f"chatcmpl-{digest[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_handoffs_test",
        "choices": [choice],
        "usage": {f"{kind}_tokens": n for kind, n in usage},
    }


def error_body(message: str, status: int, param: str | None, code: str | None) -> Any:
    """An OpenAI-shaped error: ``{"error": {"message", "type", "param", "code"}}``."""
    kind = {429: "rate_limit_error"}.get(status, "server_error")
    kind = "invalid_request_error" if status < 500 and status != 429 else kind
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def review(schema: dict[str, Any], value: Any, approved: bool, item: Any, revision: int) -> Any:
    """``value`` with ``approved`` set if the schema's root has a boolean ``approved``; when it
    is false and no ``feedback`` item has an issue, ``item`` (a sampled feedback item) is put
    first with one."""
    properties = schema.get("properties", {})
    if not isinstance(value, dict) or "boolean" not in _types(properties.get("approved")):
        return value
    value = {**value, "approved": approved}
    feedback = value.get("feedback")
    if approved or not isinstance(feedback, list) or any(_has_issue(f) for f in feedback):
        return value
    if isinstance(item, dict) and "issue" in item:
        item = {**item, "issue": f"Revision {revision} is not approved yet: tighten it."}
    return {**value, "feedback": [item, *feedback[1:]]}


def feedback_items(schema: dict[str, Any]) -> dict[str, Any] | None:
    """A schema of the root's ``feedback`` items (with the root's ``$defs``), if it has one."""
    listed = _resolve(schema, schema.get("properties", {}).get("feedback"))
    items = _resolve(schema, listed.get("items") if isinstance(listed, dict) else None)
    return {**items, "$defs": schema.get("$defs", {})} if isinstance(items, dict) else None


def _has_issue(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("issue"), str) and bool(item["issue"])


def _types(schema: Any) -> list[str]:
    declared = schema.get("type") if isinstance(schema, dict) else None
    return [declared] if isinstance(declared, str) else list(declared or ())


def _resolve(root: dict[str, Any], schema: Any) -> Any:
    """``schema`` with a ``#/$defs/...`` reference followed; of a nullable union, the non-null."""
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        schema = root.get("$defs", {}).get(schema["$ref"].removeprefix("#/$defs/"))
    if isinstance(schema, dict) and isinstance(schema.get("anyOf"), list):
        branches = [b for b in schema["anyOf"] if _types(_resolve(root, b)) != ["null"]]
        schema = _resolve(root, branches[0]) if branches else schema
    return schema


def mangle(fault: Truncated | NotJson | SchemaViolation, answer: Any, schema: Any) -> str:
    """The answer's text as ``fault`` spoils it; ``schema`` is the one ``answer`` follows."""
    match fault:
        case Truncated():
            text = msgspec.json.encode(answer).decode()
            return text[: len(text) // 2]
        case NotJson():
            return "Sure! Here is what I found, in plain words rather than JSON."
        case SchemaViolation(how=how):
            return msgspec.json.encode(_violate(answer, schema, how)).decode()


def _violate(answer: Any, schema: Any, how: str) -> Any:
    if not isinstance(answer, dict) or not answer:
        return "not an object"
    required = schema.get("required") if isinstance(schema, dict) else None
    name = required[0] if isinstance(required, list) and required else next(iter(answer))
    broken = dict(answer)
    if how == "missing":
        broken.pop(name, None)
    else:
        # A string where anything else was expected, a number where a string was.
        broken[name] = 12345 if isinstance(answer.get(name), str) else "not the right type"
    return broken
