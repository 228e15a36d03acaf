"""``handoffs check`` says everything at once: each problem as ``error: FILE:LINE: message``
naming its key, exit 1; a sound config gets a summary of its pipelines, loops and roles."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from handoffs import check_config
from handoffs.cli import main

GOOD = """\
[roles.writer]
agent = "fakes:write"

[roles.reviewer]
agent = "fakes:review"
concurrency = 3

[pipelines.p]
start = "write"

[pipelines.p.stages.write]
role = "writer"
output = "Draft"
next = "review"
gates = { min_confidence = 0.5 }

[pipelines.p.stages.review]
role = "reviewer"
output = "Verdict"
on_reject = "write"
max_revisions = 2
"""

#: Every structural mistake in one file: each is said, with the line of its key.
BROKEN = """\
[roles.writer]
agent = "fakes:write"

[roles.reviewer]
agent = "fakes:review"

[pipelines.p]
start = "draft"
trigger = { kind = "Nothing", when = "ready" }

[pipelines.p.stages.write]
role = "author"
output = "Draft"
next = "reveiw"
on_reject = "write"

[pipelines.p.stages.review]
role = "reviewer"
output = "Verdict"
on_reject = "edit"

[pipelines.q]
start = "a"

[pipelines.q.stages.a]
role = "writer"
output = "Draft"
next = "b"

[pipelines.q.stages.b]
role = "writer"
output = "Draft"
next = "a"
"""


def check(path: Path) -> Result:
    return CliRunner().invoke(main, ["check", str(path)])


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_structural_problem_is_said_at_once_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    problems = [
        f"{path}:8: pipelines.p.start: no stage named 'draft'",
        f"{path}:12: pipelines.p.stages.write.role: no role named 'author'",
        f"{path}:14: pipelines.p.stages.write.next: no stage named 'reveiw' in 'p'",
        f"{path}:15: pipelines.p.stages.write.on_reject: only a review stage (output Verdict) "
        "rejects",
        f"{path}:20: pipelines.p.stages.review.on_reject: no stage named 'edit' in 'p'",
        f"{path}:9: pipelines.p.trigger.kind: unknown contract 'Nothing' (known: "
        "ChangelogEntry, CodeChange, DocPage, Draft, FAQEntry, KBArticle, ResearchFindings, "
        "SupportResolution, Verdict)",
        f"{path}:28: pipelines.q.stages.a.next: unbounded loop a -> b -> a "
        "(loops must go back through a review stage's on_reject)",
        f"{path}:33: pipelines.q.stages.b.next: unbounded loop b -> a -> b "
        "(loops must go back through a review stage's on_reject)",
    ]
    assert check_config(path) == problems
    result = check(path)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "".join(f"error: {p}\n" for p in problems)


def test_an_unreachable_stage_is_found_at_its_table(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD + '\n[pipelines.p.stages.spare]\nrole = "writer"\noutput = "Draft"\n'
    )
    assert check_config(path) == [f"{path}:23: pipelines.p.stages.spare: not reachable from start"]


def test_bad_names_each_name_the_table(tmp_path: Path) -> None:
    text = (
        GOOD.replace("[roles.reviewer]", '[roles."a reviewer"]')
        .replace("[pipelines.p.stages.review]", '[pipelines.p.stages."re/view"]')
        .replace('next = "review"', 'next = "re view"')
        + '\n[contracts]\n"my contract" = "handoffs.messages:Draft"\n'
    )
    path = write(tmp_path, text)
    pattern = "^[A-Za-z0-9_.:-]{1,64}$"
    assert check_config(path) == [
        f"{path}:24: contract name 'my contract' must match {pattern}",
        f"{path}:4: role name 'a reviewer' must match {pattern}",
        f"{path}:14: Expected `str` matching regex '{pattern}' at "
        "`$.pipelines.p.stages.write.next`",
        f"{path}:17: stage name 're/view' must match {pattern}",
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# just a comment\n\n# and another\n"])
def test_an_empty_config_is_an_error(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    result = check(path)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: {path}: no pipelines: a config needs a [pipelines.NAME] table\n"
    )


def test_roles_alone_are_no_pipelines(tmp_path: Path) -> None:
    path = write(tmp_path, '[roles.writer]\nagent = "fakes:write"\n')
    assert check_config(path) == [f"{path}: no pipelines: a config needs a [pipelines.NAME] table"]


def test_a_key_set_twice_is_named_with_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('output = "Verdict"', 'output = "Verdict"\nrole = "x"'))
    assert check_config(path) == [
        f"{path}:20: not valid TOML: `pipelines.p.stages.review.role` is set twice "
        "(first at line 18)"
    ]


def test_a_table_declared_twice_is_named_once(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + '\n[roles.writer]\nagent = "fakes:write"\n')
    assert check_config(path) == [
        f"{path}:23: not valid TOML: table [roles.writer] is declared twice (first at line 1)"
    ]


def test_a_dotted_key_set_twice(tmp_path: Path) -> None:
    text = GOOD.replace(
        "gates = { min_confidence = 0.5 }",
        "gates.min_confidence = 0.5\ngates.min_confidence = 0.7",
    )
    path = write(tmp_path, text)
    assert check_config(path) == [
        f"{path}:16: not valid TOML: `pipelines.p.stages.write.gates.min_confidence` is set "
        "twice (first at line 15)"
    ]


def test_a_sound_config_gets_a_summary(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    result = check(path)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        f"{path}: ok, 1 pipeline, 2 roles\n"
        "pipelines:\n"
        "  p: write -> review\n"
        "    gate loop write: at most 4 outputs, then escalation (max_revisions 3)\n"
        "    review loop write -> review: at most 3 drafts, then escalation (max_revisions 2)\n"
        "roles:\n"
        "  writer: sync agent, 1 thread (p.write)\n"
        "  reviewer: sync agent, 3 threads (p.review)\n"
    )


def test_the_summary_names_triggers_async_agents_and_stages_off_the_chain(
    tmp_path: Path,
) -> None:
    text = (
        GOOD.replace("fakes:review", "async_fakes:review")
        .replace("gates = { min_confidence = 0.5 }\n", "")
        .replace('on_reject = "write"', 'on_reject = "fix"')
        + '\n[pipelines.p.stages.fix]\nrole = "writer"\noutput = "Draft"\nnext = "review"\n'
        '\n[pipelines.t]\nstart = "w"\ntrigger = { kind = "Verdict", when = "approved" }\n'
        '\n[pipelines.t.stages.w]\nrole = "writer"\noutput = "Draft"\n'
        '\n[roles.idle]\nagent = "fakes:write"\n'
    )
    result = check(write(tmp_path, text))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        "pipelines:",
        "  p: write -> review (and fix)",
        "    review loop fix -> review: at most 3 drafts, then escalation (max_revisions 2)",
        "  t (started by a Verdict with approved): w",
        "roles:",
        "  writer: sync agent, 1 thread (p.write, p.fix, t.w)",
        "  reviewer: async agent, 3 tasks in flight (p.review)",
        "  idle: sync agent, 1 thread (no stage)",
    ]


EXAMPLES = ["demo.toml", "content.toml", "support.toml", "coding.toml", "fanout.toml"]
LLM_EXAMPLES = ["llm/content.toml", "llm/support.toml", "llm/coding.toml"]


@pytest.mark.parametrize("name", EXAMPLES + LLM_EXAMPLES)
def test_every_bundled_config_checks_with_a_summary(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")  # the model roles name it
    path = Path(str(resources.files("handoffs.examples").joinpath(name)))
    result = check(path)
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{path}: ok, ")
    assert lines[1] == "pipelines:" and "roles:" in lines


def test_the_demo_config_summary() -> None:
    path = Path(str(resources.files("handoffs.examples").joinpath("demo.toml")))
    assert check(path).stdout.splitlines()[:10] == [
        f"{path}: ok, 4 pipelines, 10 roles",
        "pipelines:",
        "  content: research -> write -> review -> publish",
        "    gate loop research: at most 3 outputs, then escalation (max_revisions 2)",
        "    review loop write -> review: at most 4 drafts, then escalation (max_revisions 3)",
        "  support: resolve",
        "  knowledge_base (started by a SupportResolution with doc_gap): article -> review",
        "    review loop article -> review: at most 3 drafts, then escalation (max_revisions 2)",
        "  coding: implement -> changelog -> docs",
        "    gate loop implement: at most 3 outputs, then escalation (max_revisions 2)",
    ]


def test_a_model_role_problem_has_the_line_of_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HANDOFFS_NO_SUCH_KEY", raising=False)
    text = GOOD.replace(
        'agent = "fakes:review"\nconcurrency = 3',
        'concurrency = 3\n[roles.reviewer.llm]\nmodel = "m"\napi_key_env = "HANDOFFS_NO_SUCH_KEY"',
    )
    path = write(tmp_path, text)
    assert check_config(path) == [
        f"{path}:8: role 'reviewer': the API key variable HANDOFFS_NO_SUCH_KEY is not set "
        "(export it, or name another with api_key_env) at `$.roles.reviewer.llm.api_key_env`"
    ]


def test_the_fan_out_example_summary_names_branches_joins_and_the_widest_fan_out() -> None:
    path = Path(str(resources.files("handoffs.examples").joinpath("fanout.toml")))
    lines = check(path).stdout.splitlines()
    assert lines[: lines.index("roles:")] == [
        f"{path}: ok, 3 pipelines, 11 roles",
        "pipelines:",
        "  launch: research -> (write -> review, faq) -> publish",
        "    gate loop research: at most 3 outputs, then escalation (max_revisions 2)",
        "    review loop write -> review: at most 4 drafts, then escalation (max_revisions 3)",
        "    fan-out research: 2 branches (write, faq), joined at publish (join all)",
        "    branch write: at most 8 outputs (write 4, review 4)",
        "    branch faq: at most 1 output (faq 1)",
        "  release: implement -> (changelog, docs) -> notes",
        "    gate loop implement: at most 3 outputs, then escalation (max_revisions 2)",
        "    fan-out implement: 2 branches (changelog, docs), joined at notes (join all)",
        "    branch changelog: at most 1 output (changelog 1)",
        "    branch docs: at most 1 output (docs 1)",
        "  sections: research -> (section -> check for each research.key_findings) -> edit",
        "    gate loop research: at most 3 outputs, then escalation (max_revisions 2)",
        "    review loop section -> check: at most 4 drafts, then escalation (max_revisions 3)",
        "    map section: one branch per item of research.key_findings, up to 10 (max_items), "
        "joined at edit (join all)",
        "    branch section: at most 8 outputs per item (section 4, check 4), 80 for 10 items",
        "widest fan-out: 10 (sections.section, up to max_items)",
    ]


def test_a_static_fan_out_summary_says_its_quorum_and_branches_that_end_alone(
    tmp_path: Path,
) -> None:
    text = (
        '[roles.w]\nagent = "fakes:write"\n'
        '\n[pipelines.p]\nstart = "a"\n'
        '\n[pipelines.p.stages.a]\nrole = "w"\noutput = "Draft"\nnext = ["b", "c", "d"]\n'
        '\n[pipelines.p.stages.b]\nrole = "w"\noutput = "Draft"\nnext = "j"\n'
        '\n[pipelines.p.stages.c]\nrole = "w"\noutput = "Draft"\nnext = "j"\n'
        "gates = { min_confidence = 0.5 }\nmax_revisions = 1\n"
        '\n[pipelines.p.stages.d]\nrole = "w"\noutput = "Draft"\nnext = "j"\n'
        '\n[pipelines.p.stages.j]\nrole = "w"\noutput = "Draft"\njoin = { quorum = 2 }\n'
        '\n[pipelines.q]\nstart = "a"\n'
        '\n[pipelines.q.stages.a]\nrole = "w"\noutput = "Draft"\nnext = ["b", "c"]\n'
        '\n[pipelines.q.stages.b]\nrole = "w"\noutput = "Draft"\n'
        '\n[pipelines.q.stages.c]\nrole = "w"\noutput = "Draft"\n'
    )
    result = check(write(tmp_path, text))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        "pipelines:",
        "  p: a -> (b, c, d) -> j",
        "    gate loop c: at most 2 outputs, then escalation (max_revisions 1)",
        "    fan-out a: 3 branches (b, c, d), joined at j (join quorum 2)",
        "    branch b: at most 1 output (b 1)",
        "    branch c: at most 2 outputs (c 2)",
        "    branch d: at most 1 output (d 1)",
        "  q: a -> (b, c)",
        "    fan-out a: 2 branches (b, c), each ends the run's work on its own",
        "    branch b: at most 1 output (b 1)",
        "    branch c: at most 1 output (c 1)",
        "widest fan-out: 3 (p.a, branches)",
        "roles:",
        "  w: sync agent, 1 thread (p.a, p.b, p.c, p.d, p.j, q.a, q.b, q.c)",
    ]
