"""Closing under load: one drain, no reload, no error logged."""

from __future__ import annotations

import logging
from pathlib import Path

import fakes
import pytest
from prometheus_client import CollectorRegistry
from runtime_support import make_config

from handoffs import Runtime


def test_closing_under_load_sets_the_drain_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fakes.reset()
    caplog.set_level(logging.WARNING, logger="handoffs")
    for round_ in range(12):
        runtime = Runtime.open(
            make_config(concurrency=2), tmp_path / f"kb{round_}", registry=CollectorRegistry()
        )
        futures = [runtime.submit_async("support", {"question": f"q{n}"}) for n in range(60)]
        futures[0].result(timeout=30)
        runtime.close(timeout=30)
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == []
