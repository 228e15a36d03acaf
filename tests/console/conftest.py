"""Fixtures for the console tests: daemons (killed at the end), with and without a token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from console_daemon import FANOUT_CONFIG, TOKEN, ConsoleDaemon


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


@pytest.fixture(scope="module")
def fan_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleDaemon]:
    """A daemon running the fan-out config, shared by a test module."""
    instance = ConsoleDaemon(tmp_path_factory.mktemp("console-fanout"), config=FANOUT_CONFIG)
    try:
        yield instance.wait_ready()
    finally:
        instance.close()


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """A headless Chromium (Selenium), or a skip saying what is missing."""
    pytest.importorskip("selenium", reason="selenium is not installed (the dev extra has it)")
    from browser import start_driver

    yield from start_driver()


@pytest.fixture
def shoot(driver: Any, tmp_path: Path) -> Callable[..., Path]:
    """``shoot(name, (width, height))`` saves a screenshot of the page."""
    from browser import screenshots

    return screenshots(driver, tmp_path)
