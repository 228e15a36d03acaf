"""Model agents: a contract as a strict JSON schema, a task as a prompt, one model call with
retries, and the agent a ``[roles.X.llm]`` role runs.

The building blocks are public, so an async agent with prompt logic of its own is short::

    from handoffs.llm import ChatModel, StrictSchema, render_messages

    class Writer:
        async def setup(self):
            self.model = ChatModel(LLMSpec(model="gpt-4o-mini"), role="writer")

        async def __call__(self, task):
            schema = StrictSchema.for_contract(Draft)
            messages = render_messages(task, schema, system="You write plainly.")
            return (await self.model.complete(messages, schema)).output
"""

from handoffs.llm.agent import LLMAgent, usage_notes
from handoffs.llm.client import ChatModel, Completion, retry_after_seconds
from handoffs.llm.errors import (
    LLMError,
    ModelRefusal,
    OutputRejected,
    RequestFailed,
    RequestRefused,
    SchemaUnsupported,
)
from handoffs.llm.metrics import LLMMetrics
from handoffs.llm.prompt import (
    DEFAULT_PROMPT,
    DEFAULT_SYSTEM,
    PLACEHOLDERS,
    check_template,
    render_messages,
)
from handoffs.llm.schema import StrictSchema

__all__ = [
    "DEFAULT_PROMPT",
    "DEFAULT_SYSTEM",
    "PLACEHOLDERS",
    "ChatModel",
    "Completion",
    "LLMAgent",
    "LLMError",
    "LLMMetrics",
    "ModelRefusal",
    "OutputRejected",
    "RequestFailed",
    "RequestRefused",
    "SchemaUnsupported",
    "StrictSchema",
    "check_template",
    "render_messages",
    "retry_after_seconds",
    "usage_notes",
]
