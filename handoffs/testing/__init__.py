"""Test your pipelines offline: an OpenAI-compatible server on loopback with injectable
faults (``python -m handoffs.testing.llm_server``), and a checker of strict structured-output
schemas with a validator and a sampler for them."""

import typing as _typing

from handoffs.testing.sample import sample_instance
from handoffs.testing.strict import instance_problems, strict_schema_problems

if _typing.TYPE_CHECKING:
    from handoffs.testing.llm_server import LLMServer, ReceivedRequest, RequestCounts

__all__ = [
    "LLMServer",
    "ReceivedRequest",
    "RequestCounts",
    "instance_problems",
    "sample_instance",
    "strict_schema_problems",
]


def __getattr__(name: str) -> _typing.Any:
    # The server module is imported when first asked for, not with the package: running it
    # with `python -m handoffs.testing.llm_server` must find it not yet imported.
    if name in ("LLMServer", "ReceivedRequest", "RequestCounts"):
        from handoffs.testing import llm_server

        return getattr(llm_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
