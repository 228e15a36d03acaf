"""kill -9 over a fan-out config (two branches and a join, a map over three items and a
join): nothing lost, nothing applied twice, nothing stuck."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import run_chaos


@pytest.mark.slow
def test_sigkill_over_a_fan_out_and_map_config_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    """research -> (blog, faq) -> merge -> sections (3 items) -> edit: every run ends with
    exactly one accepted output per stage and item, whatever branch a kill cut short."""
    report = run_chaos(tmp_path / "kb", runs=400, kills=10, seed=20261126, config="fanout")
    assert (report.lifetimes, report.completed) == (11, 400)
    assert (report.lost, report.duplicated, report.stuck, report.not_completed) == (0, 0, 0, 0)
    assert report.verify_problems == []
    assert report.lmdb_verify_ok


def test_an_unknown_chaos_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^config: 'tree' is not one of chain, fanout$"):
        run_chaos(tmp_path / "kb", runs=1, kills=0, config="tree")
