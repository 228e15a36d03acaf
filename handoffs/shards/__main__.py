"""``python -m handoffs.shards SETTINGS``: a shard process (see :mod:`handoffs.shards.worker`)."""

import sys

from handoffs.shards.worker import main

main(sys.argv[1:])
