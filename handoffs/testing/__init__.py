"""Test your pipelines offline: an OpenAI-compatible server on loopback with injectable
faults (``python -m handoffs.testing.llm_server``), and a checker of strict structured-output
schemas with a validator and a sampler for them."""

from handoffs.testing.llm_server import LLMServer, ReceivedRequest, RequestCounts
from handoffs.testing.sample import sample_instance
from handoffs.testing.strict import instance_problems, strict_schema_problems

__all__ = [
    "LLMServer",
    "ReceivedRequest",
    "RequestCounts",
    "instance_problems",
    "sample_instance",
    "strict_schema_problems",
]
