"""Loading and checking configs: every error names the key, and the line where it can."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from handoffs.messages import ContractRegistry
from prometheus_client import CollectorRegistry

from handoffs import ConfigError, Runtime, check_config, load_config
from handoffs.cli import main

GOOD = """
[roles.writer]
agent = "fakes:write"

[roles.reviewer]
agent = "fakes:review"

[pipelines.p]
start = "write"

[pipelines.p.stages.write]
role = "writer"
output = "Draft"
next = "review"

[pipelines.p.stages.review]
role = "reviewer"
output = "Verdict"
on_reject = "write"
max_revisions = 2
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_a_sound_config_loads(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, GOOD))
    assert set(loaded.agents) == {"writer", "reviewer"}
    assert loaded.pipelines.stage("p", "review").is_review
    assert check_config(write(tmp_path, GOOD)) == []


def test_a_wrong_type_names_the_key_and_its_line(tmp_path: Path) -> None:
    text = GOOD.replace('agent = "fakes:write"', 'agent = "fakes:write"\nconcurrency = "two"')
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}:4: Expected `int`, got `str` at `$.roles.writer.concurrency`"
    )
    assert info.value.path == "$.roles.writer.concurrency" and info.value.line == 4


def test_an_unknown_key_is_an_error_not_a_default(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("max_revisions = 2", "max_revison = 2"))
    with pytest.raises(ConfigError, match=r"^.*config\.toml:20: Object contains unknown field "
                       r"`max_revison` at `\$\.pipelines\.p\.stages\.review`$"):  # fmt: skip
        load_config(path)


def test_type_errors_of_every_table_are_said_at_once(tmp_path: Path) -> None:
    text = (
        GOOD.replace('agent = "fakes:write"', 'agent = "fakes:write"\nconcurrency = "two"')
        .replace("max_revisions = 2", "max_revisions = -1")
        .replace('start = "write"', 'start = "write"\ncolour = "red"')
        + "\n[store]\nsync = 1\n"
    )
    path = write(tmp_path, text)
    assert check_config(path) == [
        f"{path}:4: Expected `int`, got `str` at `$.roles.writer.concurrency`",
        f"{path}:22: Expected `int` >= 0 at `$.pipelines.p.stages.review.max_revisions`",
        f"{path}:11: Object contains unknown field `colour` at `$.pipelines.p`",
        f"{path}:25: Expected `bool`, got `int` at `$.store.sync`",
    ]


def test_invalid_toml_says_where(tmp_path: Path) -> None:
    path = write(tmp_path, "[roles.writer]\nagent = \n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}:2: not valid TOML: Invalid value"


def test_graph_problems_each_name_their_key_and_line(tmp_path: Path) -> None:
    text = (
        GOOD.replace('next = "review"', 'next = "reveiw"')
        .replace('on_reject = "write"', "")
        .replace('role = "reviewer"', 'role = "nobody"')
        + '\n[pipelines.p.stages.orphan]\nrole = "writer"\noutput = "Nope"\n'
    )
    path = write(tmp_path, text)
    known = "known: " + ", ".join(ContractRegistry())
    assert check_config(path) == [
        f"{path}:14: pipelines.p.stages.write.next: no stage named 'reveiw' in 'p'",
        f"{path}:17: pipelines.p.stages.review.role: no role named 'nobody'",
        f"{path}:16: pipelines.p.stages.review.on_reject: a review stage (output Verdict) "
        "needs one",
        f"{path}:24: pipelines.p.stages.orphan.output: unknown contract 'Nope' ({known})",
        f"{path}:16: pipelines.p.stages.review: not reachable from start",
        f"{path}:22: pipelines.p.stages.orphan: not reachable from start",
    ]


def test_an_unbounded_loop_cannot_be_configured(tmp_path: Path) -> None:
    text = GOOD.replace('on_reject = "write"\n', 'next = "write"\n').replace(
        'output = "Verdict"', 'output = "DocPage"'
    )
    path = write(tmp_path, text)
    assert check_config(path) == [
        f"{path}:14: pipelines.p.stages.write.next: unbounded loop write -> review -> write "
        "(loops must go back through a review stage's on_reject)",
        f"{path}:19: pipelines.p.stages.review.next: unbounded loop review -> write -> review "
        "(loops must go back through a review stage's on_reject)",
    ]


def test_an_agent_that_does_not_import_is_reported(tmp_path: Path) -> None:
    text = GOOD.replace("fakes:write", "fakes:no_such_agent").replace(
        "fakes:review", "no.such.module:agent"
    )
    path = write(tmp_path, text)
    problems = [
        f"{path}:3: agent of role 'writer': module 'fakes' has no attribute 'no_such_agent' "
        "at `$.roles.writer.agent`",
        f"{path}:6: agent of role 'reviewer': cannot import module 'no.such.module' "
        "(No module named 'no') at `$.roles.reviewer.agent`",
    ]
    assert check_config(path) == problems
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == "invalid config:\n  " + "\n  ".join(problems)


def test_an_agent_module_that_raises_on_import_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "gpu_agents.py").write_text('raise RuntimeError("no GPU here\\nsee the docs")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write(tmp_path, GOOD.replace("fakes:write", "gpu_agents:write"))
    problem = (
        f"{path}:3: agent of role 'writer': importing module 'gpu_agents' raised "
        "RuntimeError: no GPU here see the docs at `$.roles.writer.agent`"
    )
    assert check_config(path) == [problem]
    with pytest.raises(ConfigError, match=f"^{re.escape(problem)}$"):
        Runtime.open(path, tmp_path / "kb", registry=CollectorRegistry())
    assert not (tmp_path / "kb").exists()
    result = CliRunner().invoke(main, ["check", str(path)])
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", f"error: {problem}\n")


def test_a_contract_module_that_raises_on_import_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bad_contracts.py").write_text("1 / 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    text = GOOD.replace('output = "Draft"', 'output = "Article"') + (
        '\n[contracts]\nArticle = "bad_contracts:Article"\n'
    )
    path = write(tmp_path, text)
    # the stage naming the contract is not reported again as an unknown contract
    assert check_config(path) == [
        f"{path}:23: contract 'Article': importing module 'bad_contracts' raised "
        "ZeroDivisionError: division by zero at `$.contracts.Article`"
    ]


def test_user_contracts_register_by_import_path(tmp_path: Path) -> None:
    text = GOOD.replace('output = "Draft"', 'output = "Article"') + (
        '\n[contracts]\nArticle = "handoffs.messages:Draft"\n'
    )
    loaded = load_config(write(tmp_path, text))
    assert loaded.pipelines.stage("p", "write").contract.__name__ == "Draft"
    bad = write(tmp_path, GOOD + '\n[contracts]\nArticle = "handoffs.messages:Task2"\n')
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert str(info.value) == (
        f"{bad}:23: contract 'Article': module 'handoffs.messages' has no attribute 'Task2' "
        "at `$.contracts.Article`"
    )


def test_the_demo_shows_every_pattern_with_revisions_and_escalations(tmp_path: Path) -> None:
    # The README's main command, from a fresh process as a user runs it.
    result = subprocess.run(
        [sys.executable, "-m", "handoffs", "demo", "--runs", "15", "--data", str(tmp_path / "kb")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line}
    assert {"content", "support", "knowledge_base", "coding", "total"} <= set(rows)
    header = rows["pipeline"]
    total = dict(zip(header, rows["total"], strict=False))
    assert int(total["revisions"]) >= 1
    assert int(total["escalated"]) >= 1
    assert int(total["failed"]) == 0
    assert int(total["runs"]) == int(total["completed"]) + int(total["escalated"])
