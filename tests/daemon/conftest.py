"""Fixtures for the daemon tests: every daemon a test starts is killed in the finalizer if
the test left it running."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from daemon_process import Daemon


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Start daemons for one test: ``start_daemon(*args, data=..., token=...)``."""
    started: list[Daemon] = []

    def start(
        *args: str, data: Path | None = None, token: str | None = None, ready: bool = True
    ) -> Daemon:
        n = len(started)
        daemon = Daemon(data or tmp_path / "kb", tmp_path / f"daemon{n}.log", list(args), token)
        started.append(daemon)
        return daemon.wait_ready() if ready else daemon

    yield start
    for daemon in started:
        daemon.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon shared by a test module (tests that need a fresh one use start_daemon)."""
    root = tmp_path_factory.mktemp("daemon")
    instance = Daemon(root / "kb", root / "daemon.log", [])
    try:
        yield instance.wait_ready()
    finally:
        instance.close()
