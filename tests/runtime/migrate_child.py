"""Opens a runtime whose config renames the support stage, and is killed (SIGKILL) inside
the migration's transaction, before it commits (run by test_evolution).

Usage: python migrate_child.py DATA_DIR
"""

from __future__ import annotations

import os
import signal
import sys

from evolution_support import renamed_config

import handoffs.evolution
from handoffs import Runtime


def die() -> None:
    print("migrating", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    handoffs.evolution._on_applied = die
    Runtime.open(renamed_config(), sys.argv[1])
    print("not killed", flush=True)
