"""Run mypy --strict over the four packages.

The folders map into the ``handoffs`` namespace through setuptools' package-dir, which an
editable install serves with an import hook that mypy cannot follow. So this script lays the
same mapping out as a tree of symlinks under ``build/typecheck`` and points mypy at it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPING = {"messages": "messages", "store": "store", "actors": "actors", "examples": "examples"}


def main() -> int:
    tree = ROOT / "build" / "typecheck"
    shutil.rmtree(tree, ignore_errors=True)
    package = tree / "handoffs"
    package.mkdir(parents=True)
    for entry in (ROOT / "handoffs").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for sub, folder in MAPPING.items():
        (package / sub).symlink_to(ROOT / folder)
    cmd = [sys.executable, "-m", "mypy", "--strict", "-p", "handoffs", *sys.argv[1:]]
    env_path = {"MYPYPATH": str(tree)}
    import os

    return subprocess.call(cmd, cwd=ROOT, env={**os.environ, **env_path})


if __name__ == "__main__":
    raise SystemExit(main())
