"""Loading and checking configs: every error names the key, and the line where it can."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from handoffs import ConfigError, check_config, load_config
from handoffs.cli import main
from handoffs.demo import demo_config_path

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
        f"{path}: Expected `int`, got `str` at `$.roles.writer.concurrency` (line 4)"
    )
    assert info.value.path == "$.roles.writer.concurrency" and info.value.line == 4


def test_an_unknown_key_is_an_error_not_a_default(tmp_path: Path) -> None:
    text = GOOD.replace("max_revisions = 2", "max_revison = 2")
    with pytest.raises(ConfigError, match=r"Object contains unknown field `max_revison` at "
                       r"`\$\.pipelines\.p\.stages\.review` \(line 20\)$"):  # fmt: skip
        load_config(write(tmp_path, text))


def test_invalid_toml_says_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 2"):
        load_config(write(tmp_path, "[roles.writer]\nagent = \n"))


def test_graph_problems_each_name_their_key(tmp_path: Path) -> None:
    text = (
        GOOD.replace('next = "review"', 'next = "reveiw"')
        .replace('on_reject = "write"', "")
        .replace('role = "reviewer"', 'role = "nobody"')
        + '\n[pipelines.p.stages.orphan]\nrole = "writer"\noutput = "Nope"\n'
    )
    problems = check_config(write(tmp_path, text))
    assert "pipelines.p.stages.write.next: no stage named 'reveiw' in 'p'" in problems
    assert "pipelines.p.stages.review.role: no role named 'nobody'" in problems
    assert (
        "pipelines.p.stages.review.on_reject: a review stage (output Verdict) needs one" in problems
    )
    assert "pipelines.p.stages.orphan: not reachable from start" in problems
    assert any(p.startswith("pipelines.p.stages.orphan.output: unknown contract 'Nope'")
               for p in problems)  # fmt: skip
    assert "pipelines.p.stages.review: not reachable from start" in problems


def test_an_unbounded_loop_cannot_be_configured(tmp_path: Path) -> None:
    text = GOOD.replace('on_reject = "write"\n', 'next = "write"\n').replace(
        'output = "Verdict"', 'output = "DocPage"'
    )
    problems = check_config(write(tmp_path, text))
    assert (
        "pipelines.p.stages.write.next: unbounded loop write -> review -> write "
        "(loops must go back through a review stage's on_reject)"
    ) in problems


def test_an_agent_that_does_not_import_is_reported(tmp_path: Path) -> None:
    text = GOOD.replace("fakes:write", "fakes:no_such_agent").replace(
        "fakes:review", "no.such.module:agent"
    )
    problems = check_config(write(tmp_path, text))
    assert problems == [
        "agent of role 'writer': module 'fakes' has no attribute 'no_such_agent' "
        "at `$.roles.writer.agent`",
        "agent of role 'reviewer': cannot import module 'no.such.module' "
        "(No module named 'no') at `$.roles.reviewer.agent`",
    ]
    with pytest.raises(ConfigError, match=r"^agent of role 'writer'"):
        load_config(write(tmp_path, text))


def test_user_contracts_register_by_import_path(tmp_path: Path) -> None:
    text = GOOD.replace('output = "Draft"', 'output = "Article"') + (
        '\n[contracts]\nArticle = "handoffs.messages:Draft"\n'
    )
    loaded = load_config(write(tmp_path, text))
    assert loaded.pipelines.stage("p", "write").contract.__name__ == "Draft"
    bad = GOOD + '\n[contracts]\nArticle = "handoffs.messages:Task2"\n'
    with pytest.raises(ConfigError, match=r"has no attribute 'Task2' at `\$\.contracts\.Article`$"):
        load_config(write(tmp_path, bad))


def test_the_check_command(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["check", str(demo_config_path())])
    assert ok.exit_code == 0, ok.output
    assert ok.output.endswith(": ok\n")
    bad = runner.invoke(main, ["check", str(write(tmp_path, GOOD.replace("Draft", "Drat")))])
    assert bad.exit_code == 1
    assert "error: pipelines.p.stages.write.output: unknown contract 'Drat'" in bad.output


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
