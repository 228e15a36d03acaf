"""``python -m bench --quick`` produces well-formed results (never a speed assertion)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
METRICS = ("runs_per_s", "handoffs_per_s", "hop_p50_ms", "hop_p99_ms")
IO_METRICS = ("percent_of_ideal", "threads_peak", "rss_kib_per_in_flight", "cpu_us_per_run")


def test_quick_run_writes_json_markdown_and_chart(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--progress", "off"],
        cwd=ROOT,
        # Run from the checkout as a person would (`bench` is not installed): the checkout on
        # sys.path, which bench itself moves behind the installed handoffs.
        env={k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    document = json.loads((out / "results.json").read_text())
    assert document["meta"]["command"].startswith("python -m bench --quick")
    assert document["meta"]["repeats"] == 1
    ids = [row["id"] for row in document["rows"]]
    for expected in ("a", "b", "c-unloaded", "c-25", "c-50", "c-75", "d-g16", "e", "g-100"):
        assert expected in ids
    assert {"f-autogen", "f-langgraph", "f-langgraph-sqlite"} <= set(ids)
    for row in document["rows"]:
        assert row["durability"]
        if "skipped" in row:  # a peer that is not installed is skipped, never faked
            assert row["scenario"] in ("f", "h") and row["id"] != "h"
            assert "not installed" in row["skipped"]
            continue
        assert "error" not in row
        for name in METRICS:
            spread = row["metrics"][name]
            assert spread["min"] <= spread["median"] <= spread["max"]
            assert math.isfinite(spread["median"])
    assert [t["met"] in (True, False, None) for t in document["targets"]]
    io = next(row for row in document["rows"] if row["id"] == "g-100")
    assert io["metrics"]["in_flight"]["median"] == 100
    assert io["metrics"]["ideal_runs_per_s"]["median"] == 50
    for name in IO_METRICS:
        assert math.isfinite(io["metrics"][name]["median"]), name
    assert io["metrics"]["threads_peak"]["median"] >= 1

    # Every row ran under the same interpreter settings, ours and the peers' alike.
    ran = [row for row in document["rows"] if "skipped" not in row]
    assert {json.dumps(row["interpreter"]) for row in ran} == {
        '{"switch_interval": 0.0005, "gc_threshold": [100000, 10, 10], "gc_enabled": true}'
    }

    markdown = (out / "results.md").read_text()
    assert markdown.startswith("# handoffs benchmark results")
    assert "Interpreter settings, the same for every row" in markdown
    table = [line for line in markdown.splitlines() if line.startswith("| (")]
    assert len(table) == len(document["rows"])
    assert any(line.startswith("| g-100 | handoffs | 100 |") for line in markdown.splitlines())
    assert (out / "command.txt").read_text().startswith("python -m bench --quick")
    if importlib.util.find_spec("matplotlib") is not None:
        assert (out / "results.png").read_bytes().startswith(b"\x89PNG")
    else:
        assert any("chart skipped" in note for note in document["notes"])
