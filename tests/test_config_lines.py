"""The TOML scan that finds a key's line: headers, dotted and quoted keys, and nothing inside
strings or arrays."""

from __future__ import annotations

from pathlib import Path

from handoffs import check_config
from handoffs.config_lines import KeyLines, dotted

SOURCE = """\
# a comment = 1
[roles.writer]   # trailing comment
agent = "fakes:write"
llm.model = "m"

[pipelines."a.b".stages.'w x']
role = "writer"
instruction = '''
[pipelines.fake]
next = "nowhere"
'''
tags = [
  ["not", "a header"],
  "next = 1",
]
next = "real"

[[arrays]]
name = 1
[[arrays]]
name = 2
"""


def test_headers_and_keys_have_their_lines() -> None:
    lines = KeyLines(SOURCE)
    assert lines.line(("roles", "writer")) == 2
    assert lines.line(("roles", "writer", "agent")) == 3
    assert lines.line(("roles", "writer", "llm", "model")) == 4
    assert lines.line(("roles", "writer", "llm")) == 4
    assert lines.line(("pipelines", "a.b", "stages", "w x", "role")) == 7
    assert lines.line(("pipelines", "a.b", "stages", "w x", "next")) == 16
    assert lines.line(("pipelines", "a.b", "stages", "w x", "timeout")) == 6
    assert lines.line(("pipelines", "a.b")) == 6
    assert lines.line(("pipelines", "fake")) == 6  # line 9 is inside a string
    assert lines.line(("roles", "nobody")) == 2  # the nearest table the file writes
    assert lines.duplicates == []


def test_a_missing_key_falls_back_to_its_table() -> None:
    lines = KeyLines("[roles.writer]\nagent = 'x'\n")
    assert lines.line(("roles", "writer", "concurrency")) == 1
    assert lines.line(("store", "sync")) is None


def test_keys_set_twice() -> None:
    lines = KeyLines('[a]\nb = 1\n"b" = 2\n[a.c]\nd.e = 1\nd.e.f = 2\n[a]\nb = 3\n')
    assert lines.duplicates == [
        (("a", "b"), 2, 3, False),
        (("a", "c", "d", "e", "f"), 5, 6, False),
        (("a",), 1, 7, True),
    ]


def test_dotted_quotes_only_what_needs_it() -> None:
    assert dotted(("pipelines", "a.b", "stages", "w x")) == 'pipelines."a.b".stages."w x"'


def test_a_stage_name_with_a_dot_is_located(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[roles.w]\nagent = "fakes:write"\n\n[pipelines.p]\nstart = "v1.draft"\n\n'
        '[pipelines.p.stages."v1.draft"]\nrole = "nobody"\noutput = "Draft"\n'
    )
    assert check_config(path) == [
        f"{path}:8: pipelines.p.stages.v1.draft.role: no role named 'nobody'"
    ]
