"""Coding -> documentation: a real change to a bundled project, then its changelog and docs."""

from handoffs.examples.coding.changelog import write_changelog
from handoffs.examples.coding.coder import implement
from handoffs.examples.coding.docs import write_docs

__all__ = ["implement", "write_changelog", "write_docs"]
