"""Runtime fixtures: a config of fake agents, and a Runtime on a fresh store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakes
import pytest
from handoffs.messages import (
    Config,
)
from prometheus_client import CollectorRegistry
from runtime_support import OpenRuntime, make_config

from handoffs import Runtime


@pytest.fixture
def open_runtime(tmp_path: Path) -> Iterator[OpenRuntime]:
    """Open runtimes on ``tmp_path/kb`` (closing each at teardown); fakes reset around it."""
    fakes.reset()
    opened: list[Runtime] = []

    def _open(config: Config | None = None, **kw: Any) -> Runtime:
        kw.setdefault("registry", CollectorRegistry())
        runtime = Runtime.open(config or make_config(), tmp_path / "kb", seed=1, **kw)
        opened.append(runtime)
        return runtime

    yield _open
    fakes.release_hung()
    for runtime in opened:
        runtime.close(timeout=5)
    fakes.reset()


@pytest.fixture
def runtime(open_runtime: OpenRuntime) -> Runtime:
    """A runtime with the default fake config."""
    return open_runtime()
