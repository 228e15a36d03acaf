"""Orchestrator shards: ``handoffs serve --shards N`` runs N shard processes, each a whole
runtime on its own LMDB environment, behind one API (:class:`ShardedRuntime`)."""

from handoffs.shards.calls import ShardUnavailable
from handoffs.shards.front import ShardedRuntime, ShardLayoutError, shard_dir
from handoffs.shards.link import LinkOptions
from handoffs.shards.merged import format_position, parse_position

__all__ = [
    "LinkOptions",
    "ShardLayoutError",
    "ShardUnavailable",
    "ShardedRuntime",
    "format_position",
    "parse_position",
    "shard_dir",
]
