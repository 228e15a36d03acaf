"""``python -m bench --quick --only h``: the fan-out rows (1 -> 4 -> join) on handoffs and on
LangGraph are well-formed, six handoffs a run (never a speed assertion)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from handoffs.actors import config_problems
from handoffs.messages import BUNDLED_CONTRACTS, ContractRegistry

from bench.fanout import fan_config
from bench.langgraph_peer import fan_graph

ROOT = Path(__file__).resolve().parents[2]


def test_the_fan_out_config_is_sound() -> None:
    registry = ContractRegistry()
    for name, contract in BUNDLED_CONTRACTS.items():
        registry.register(contract, name=name)
    assert config_problems(fan_config(), registry) == []


def test_quick_fan_out_rows_run_six_handoffs_a_run(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "h", "--out", str(out),
         "--progress", "off"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    document = json.loads((out / "results.json").read_text())
    rows = {row["id"]: row for row in document["rows"]}
    assert list(rows) == ["h", "h-langgraph", "h-langgraph-sqlite"]
    for row_id, row in rows.items():
        assert row["scenario"] == "h"
        if "skipped" in row:  # a peer that is not installed is skipped, never faked
            assert row_id != "h" and "not installed" in row["skipped"]
            continue
        assert "error" not in row
        [repeat] = row["repeats"]
        assert repeat["handoffs_per_run"] == 6.0  # research, four branches, the join
        for name in ("runs_per_s", "handoffs_per_s", "hop_p50_ms"):
            assert math.isfinite(row["metrics"][name]["median"]), name
    assert rows["h"]["extra"]["not_completed"] == {}
    markdown = (out / "results.md").read_text()
    assert "| (h) handoffs, fan-out 1 -> 4 -> join, saturated | sync on, group ~" in markdown


def test_the_langgraph_fan_out_graph_runs_the_branches_and_joins_them() -> None:
    pytest.importorskip("langgraph", reason="the peer is optional (pip install -e '.[bench]')")
    app = fan_graph().compile()
    out = app.invoke({"topic": "bees", "trace": [0.0]})
    assert len(out["trace"]) == 7
    assert out["publish"]["title"] == out["blog"]["title"]
    assert {"blog", "faq", "changelog", "summary"} <= set(out)
