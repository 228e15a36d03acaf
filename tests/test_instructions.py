"""Stage instructions are filled from the run input: ``handoffs check`` refuses a template
that could fail on it at run time, naming the stage key and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from handoffs.actors import render_instruction

from handoffs import ConfigError, check_config, load_config
from handoffs.cli import main

CONFIG = """
[roles.writer]
agent = "fakes:write"

[pipelines.p]
start = "write"

[pipelines.p.stages.write]
role = "writer"
output = "Draft"
instruction = {instruction!r}
"""

ALLOWED = "{name} only; the run input's value is inserted as text"


def config(tmp_path: Path, instruction: str) -> Path:
    path = tmp_path / "config.toml"
    # a TOML literal string: what the test writes is what the config holds
    path.write_text(CONFIG.replace("{instruction!r}", f"'{instruction}'"))
    return path


def refused(path: Path, field: str) -> str:
    return (
        f"{path}:11: pipelines.p.stages.write.instruction: replacement field {field} is not "
        f"allowed: {ALLOWED}"
    )


@pytest.mark.parametrize(
    "field",
    [
        "{topic[x]}",
        "{topic[0]}",
        "{topic.attr}",
        "{n:>5}",
        "{n!r}",
        "{n!s:>5}",
        "{}",
        "{0}",
        "{a:{b}}",
    ],
)
def test_a_field_that_is_not_a_plain_name_is_refused(tmp_path: Path, field: str) -> None:
    path = config(tmp_path, f"Write about {field}.")
    assert check_config(path) == [refused(path, field)]
    with pytest.raises(ConfigError, match=rf"^{re.escape(refused(path, field))}$"):
        load_config(path)


def test_each_bad_field_is_named_once(tmp_path: Path) -> None:
    path = config(tmp_path, "{topic} {topic.a} {n:>5} {topic.a}")
    assert check_config(path) == [refused(path, "{topic.a}"), refused(path, "{n:>5}")]


def test_plain_names_and_escaped_braces_pass(tmp_path: Path) -> None:
    instruction = "Research {topic} for {audience}; {{literal}} braces stay."
    assert check_config(config(tmp_path, instruction)) == []
    rendered = render_instruction(instruction, {"topic": ["a", 1], "audience": None})
    assert rendered == "Research ['a', 1] for None; {literal} braces stay."


@pytest.mark.parametrize(
    ("instruction", "why"),
    [
        ("Write about {topic", "expected '}' before end of string"),
        ("Write about topic}", "Single '}' encountered in format string"),
        ("Write {about {topic}}", "unexpected '{' in field name"),
    ],
)
def test_unbalanced_braces_are_refused_with_the_line(
    tmp_path: Path, instruction: str, why: str
) -> None:
    path = config(tmp_path, instruction)
    assert check_config(path) == [
        f"{path}:11: pipelines.p.stages.write.instruction: not a valid format string ({why})"
    ]


def test_a_multi_line_instruction_is_found_at_its_key(tmp_path: Path) -> None:
    # Text inside a multi-line string that looks like a table or a key is neither.
    multi = 'instruction = """\nWrite {0}\n[pipelines.q.stages.w]\ninstruction = 1\n"""'
    path = tmp_path / "config.toml"
    path.write_text(
        CONFIG.replace("instruction = {instruction!r}", multi)
        + '\n[pipelines.q]\nstart = "w"\n\n[pipelines.q.stages.w]\nrole = "writer"\n'
        'output = "Draft"\ninstruction = "{a.b}"\n'
    )
    assert check_config(path) == [
        refused(path, "{0}"),
        f"{path}:23: pipelines.q.stages.w.instruction: replacement field {{a.b}} is not "
        f"allowed: {ALLOWED}",
    ]


def test_the_check_command_names_the_stage_and_the_field(tmp_path: Path) -> None:
    path = config(tmp_path, "About {topic[x]}.")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: {refused(path, '{topic[x]}')}\n"
