"""Every benchmark row runs under the same interpreter settings, and the results say which
(issue #12, part 4): the child process sets them for ours and the peers' alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.plan import Settings, build_plan
from bench.report import describe_interpreter, render_markdown

ROOT = Path(__file__).resolve().parents[2]
TUNED = {"switch_interval": 0.0005, "gc_threshold": [100_000, 10, 10], "gc_enabled": True}


def _child(tmp_path: Path, job: dict[str, Any]) -> dict[str, Any]:
    job_path, result_path = tmp_path / "job.json", tmp_path / "result.json"
    job_path.write_text(json.dumps(job))
    subprocess.run(
        [sys.executable, "-m", "bench.child", str(job_path), str(result_path)],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"},
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(result_path.read_text())
    return result


@pytest.mark.parametrize(
    ("interpreter", "expected"),
    [
        (None, TUNED),
        (
            {"switch_interval": 0.002, "gc_threshold": 5_000},
            {"switch_interval": 0.002, "gc_threshold": [5_000, 10, 10], "gc_enabled": True},
        ),
    ],
)
def test_the_child_sets_the_settings_and_records_them(
    tmp_path: Path, interpreter: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    job: dict[str, Any] = {
        "runner": "bench.floors:run_pykka_chain",
        "params": {"window": 4, "warmup": 0.05, "duration": 0.2},
    }
    if interpreter is not None:
        job["interpreter"] = interpreter
    result = _child(tmp_path, job)
    assert result["interpreter"] == expected
    assert result["runs_per_s"] > 0


def test_every_row_of_the_plan_gets_the_same_settings() -> None:
    settings = Settings.quick_settings()
    assert settings.interpreter() == {"switch_interval": 0.0005, "gc_threshold": 100_000}
    cpython = Settings.quick_settings(switch_interval=None, gc_threshold=None)
    assert cpython.interpreter() == {"switch_interval": None, "gc_threshold": None}
    rows = {row.id: row for row in build_plan(Settings())}
    # LangGraph in memory is driven from one thread, its best (x1.3 over four).
    assert rows["f-langgraph"].params["window"] == 1


def _record(row_id: str, system: str, interpreter: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row_id,
        "scenario": "f" if system != "handoffs" else "a",
        "system": system,
        "label": f"({row_id}) {system}",
        "durability": "-",
        "saturated": True,
        "params": {"sync": True},
        "metrics": {"runs_per_s": {"median": 1.0, "min": 1.0, "max": 1.0}},
        "interpreter": interpreter,
    }


def _document(rows: list[dict[str, Any]]) -> dict[str, Any]:
    meta = {"command": "python -m bench", "machine": "m", "started": "s", "repeats": 1}
    return {"meta": meta, "rows": rows, "targets": [], "notes": [], "definitions": "d"}


def test_the_results_say_which_settings_every_row_had() -> None:
    same = render_markdown(
        _document([_record("a", "handoffs", TUNED), _record("f-autogen", "AutoGen core", TUNED)])
    )
    assert (
        "Interpreter settings, the same for every row (ours, the floors' and the peers'): "
        "GIL switch interval 0.5 ms, GC thresholds (100,000, 10, 10)." in same.splitlines()
    )
    cpython = {"switch_interval": 0.005, "gc_threshold": [700, 10, 10], "gc_enabled": True}
    differ = render_markdown(
        _document([_record("a", "handoffs", TUNED), _record("f-autogen", "AutoGen", cpython)])
    ).splitlines()
    assert "Interpreter settings, row by row (they differ):" in differ
    assert "- (f-autogen) AutoGen: GIL switch interval 5 ms, GC thresholds (700, 10, 10)" in differ
    assert describe_interpreter(None) == "not recorded"
    assert describe_interpreter({**TUNED, "gc_enabled": False}) == (
        "GIL switch interval 0.5 ms, GC off"
    )
