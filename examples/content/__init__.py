"""Research -> content -> review -> publish, with deterministic agents over a bundled corpus."""

from handoffs.examples.content.contracts import Publication
from handoffs.examples.content.publisher import publish
from handoffs.examples.content.researcher import research
from handoffs.examples.content.reviewer import review
from handoffs.examples.content.writer import write

__all__ = ["Publication", "publish", "research", "review", "write"]
