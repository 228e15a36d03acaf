"""Fixtures for the console tests: daemons (killed at the end), with and without a token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from console_daemon import TOKEN, ConsoleDaemon


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleDaemon]:
    """A daemon without a token, shared by a test module."""
    instance = ConsoleDaemon(tmp_path_factory.mktemp("console"))
    try:
        yield instance.wait_ready()
    finally:
        instance.close()


@pytest.fixture(scope="module")
def token_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleDaemon]:
    """A daemon with a token, shared by a test module."""
    instance = ConsoleDaemon(tmp_path_factory.mktemp("console-token"), token=TOKEN)
    try:
        yield instance.wait_ready()
    finally:
        instance.close()
