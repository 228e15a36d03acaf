"""``handoffs simulate``: the real decider under simulated faults, checked after every step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import handoffs.examples
import msgspec
import pytest
from handoffs.actors.decision import Decision, LiveTask
from handoffs.actors.ledger import Ledger
from runtime_support import approval_config

from handoffs.simulation import simulate

EXAMPLES = Path(handoffs.examples.__file__).resolve().parent
#: Every bundled config (the model ones only need their key variable set to load).
CONFIGS = [
    "demo.toml",
    "content.toml",
    "coding.toml",
    "support.toml",
    "fanout.toml",
    "llm/content.toml",
    "llm/coding.toml",
    "llm/support.toml",
]


@pytest.fixture(autouse=True)
def _model_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "simulated")


@pytest.mark.parametrize("name", CONFIGS)
def test_every_bundled_config_keeps_every_invariant_under_faults(name: str) -> None:
    report = simulate(EXAMPLES / name, seeds=120, steps=2_000, runs=30)
    assert report.violation is None, report.violation
    assert report.seeds == 120
    # The faults did happen, and every run ended.
    assert report.crashes > 20 and report.failed_commits > 20
    assert report.completed + report.failed + report.cancelled == report.runs
    assert report.completed > report.runs * 0.8


def test_a_seed_replays_exactly() -> None:
    first = simulate(EXAMPLES / "content.toml", seeds=5, first_seed=7, runs=10)
    again = simulate(EXAMPLES / "content.toml", seeds=5, first_seed=7, runs=10)
    assert (first.steps, first.agent_calls, first.crashes, first.completed) == (
        again.steps,
        again.agent_calls,
        again.crashes,
        again.completed,
    )


def test_a_decider_that_forgets_the_tasks_of_a_cancelled_run_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Mutation test of the simulator: break one rule of the decider and it must say so.
    original = Ledger.finish_task

    def forgetful(
        self: Ledger,
        live: LiveTask,
        d: Decision,
        *,
        error: str | None = None,
        withdraw: bool = False,
    ) -> None:
        if not withdraw:
            original(self, live, d, error=error)

    monkeypatch.setattr(Ledger, "finish_task", forgetful)
    report = simulate(EXAMPLES / "coding.toml", seeds=50, runs=20)
    violation = report.violation
    assert violation is not None
    assert violation.message.endswith("but its run ended") or "with no owner" in violation.message
    assert violation.trace and violation.trace[-1].startswith(f"step {violation.step} ")


def test_the_command_reports_the_seeds_and_that_every_invariant_held() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "handoffs", "simulate", str(EXAMPLES / "demo.toml"), "--seeds", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "OPENAI_API_KEY": "simulated"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{EXAMPLES / 'demo.toml'}: 3 seeds, ")
    assert lines[1] == "every invariant held"


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_stages_people_review_keep_every_invariant(timeout: float | None) -> None:
    config = approval_config()
    stages = dict(config.pipelines["content"].stages)
    stages["approve"] = msgspec.structs.replace(stages["approve"], timeout=timeout)
    content = msgspec.structs.replace(config.pipelines["content"], stages=stages)
    config = msgspec.structs.replace(config, pipelines={**config.pipelines, "content": content})
    report = simulate(config, seeds=60, runs=20)
    assert report.violation is None, report.violation
    assert report.completed > report.runs * 0.7
