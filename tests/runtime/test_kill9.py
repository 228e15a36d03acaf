"""kill -9 at 20 random moments during 1,000 runs: nothing lost, nothing applied twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import run_chaos


@pytest.mark.slow
def test_sigkill_at_twenty_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    report = run_chaos(tmp_path / "kb", runs=1000, kills=20, seed=20261125)
    assert report.lifetimes == 21
    assert report.completed == 1000
    assert (report.lost, report.duplicated, report.stuck, report.not_completed) == (0, 0, 0, 0)
    assert report.verify_problems == []
    assert report.lmdb_verify_ok
