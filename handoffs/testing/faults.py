"""Faults the test model server injects, and the requests it understands.

A fault is a small frozen Struct; over HTTP (``POST /_faults`` with
``{"faults": [...], "model": null}``) the same thing is a JSON object tagged by ``kind``::

    {"kind": "status", "status": 429, "message": "slow down", "retry_after": 2}
    {"kind": "delay", "seconds": 1.5}              answer normally, that much later
    {"kind": "truncated"}                          the JSON answer cut in half
    {"kind": "not_json"}                           prose instead of JSON
    {"kind": "schema_violation", "how": "wrong_type"}  the first required field given a
                                                   wrong type ("missing": removed)
    {"kind": "refusal", "text": "I can't"}         ``refusal`` set, ``content`` null
    {"kind": "drop"}                               the connection closed unanswered

The queue is consumed in order, one fault per chat completion request that passed the
request checks (key, body, model, schema). A fault queued for a model waits for a request to
that model; faults behind it for other models (or any) go first.

The request side of the wire lives here too: :data:`CHAT_DECODER` decodes a chat completion
request (unknown fields are fine: the SDK sends many this server ignores) and :func:`plan`
says how to answer it, or raises :class:`BadRequest` as the real API would refuse it;
:func:`review` makes an answer follow the server's approve-from pattern.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from typing import Annotated, Any, Literal

import msgspec

from handoffs.testing.strict import strict_schema_problems

__all__ = [
    "CHAT_DECODER",
    "BadRequest",
    "ChatMessage",
    "ChatRequest",
    "Delay",
    "Drop",
    "Fault",
    "FaultQueue",
    "FaultRequest",
    "NotJson",
    "Plan",
    "Refusal",
    "SchemaViolation",
    "Status",
    "Truncated",
    "feedback_items",
    "mangle",
    "plan",
    "review",
    "text_of",
]

#: Where the client puts the schema in ``json_object`` mode: a fenced block in the last user
#: message.
_FENCED_JSON = re.compile(r"```json\s*\n(.*?)\n```", re.DOTALL)


class Status(
    msgspec.Struct,
    tag="status",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """Answer with an HTTP error: ``retry_after`` (seconds) becomes a ``Retry-After`` header."""

    status: Annotated[int, msgspec.Meta(ge=400, le=599)]
    message: str = ""
    retry_after: Annotated[float, msgspec.Meta(ge=0)] | None = None


class Delay(
    msgspec.Struct,
    tag="delay",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """Answer normally after ``seconds`` (an asyncio sleep: other requests go on)."""

    seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)]


class Truncated(
    msgspec.Struct,
    tag="truncated",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """The answer's JSON cut in half, as when a model hits its token limit."""


class NotJson(
    msgspec.Struct,
    tag="not_json",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """Prose instead of the JSON answer."""


class SchemaViolation(
    msgspec.Struct,
    tag="schema_violation",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """Valid JSON that breaks the schema: the first required field retyped or missing.

    ``missing`` is not rejected by a decoder that fills in defaults if that field has one."""

    how: Literal["wrong_type", "missing"] = "wrong_type"


class Refusal(
    msgspec.Struct,
    tag="refusal",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """The model refuses: ``message.refusal`` holds ``text``, ``content`` is null."""

    text: str = "I'm sorry, I can't help with that."


class Drop(
    msgspec.Struct,
    tag="drop",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """The server closes the connection without answering."""


Fault = Status | Delay | Truncated | NotJson | SchemaViolation | Refusal | Drop


class FaultRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /_faults``."""

    faults: list[Fault]
    model: str | None = None


class FaultQueue:
    """Faults waiting for requests. Thread-safe: tests push, the server's loop pops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[tuple[str | None, Fault]] = deque()

    def push(self, faults: tuple[Fault, ...] | list[Fault], model: str | None = None) -> None:
        """Queue ``faults`` in order, for requests to ``model`` (``None``: any model)."""
        with self._lock:
            self._queue.extend((model, fault) for fault in faults)

    def pop(self, model: str) -> Fault | None:
        """The first fault for a request to ``model``, removed from the queue; else ``None``."""
        with self._lock:
            for i, (wanted, fault) in enumerate(self._queue):
                if wanted is None or wanted == model:
                    del self._queue[i]
                    return fault
        return None

    def clear(self) -> None:
        """Forget every queued fault."""
        with self._lock:
            self._queue.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)


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
    """How the request is answered (see the server's docstring).

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
