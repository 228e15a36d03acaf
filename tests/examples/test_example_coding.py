"""The coding pattern's agents, called directly: a real change, its changelog and its docs."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from handoffs.examples.coding import implement, write_changelog, write_docs
from handoffs.examples.coding.diffs import functions, parse, usage_examples
from handoffs.examples.coding.project import project
from handoffs.examples.coding.workspace import Workspace
from handoffs.messages import ChangelogEntry, CodeChange, DocPage, Feedback, Result, Task

Unwrap = Callable[[object], Any]
MakeTask = Callable[..., Task]

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def change(make_task: MakeTask, feature: str, revision: int = 0) -> tuple[CodeChange, Result]:
    feedback = (
        [Feedback(source="gate", aspect="tests_passed", issue="tests failed")] if revision else []
    )
    result = implement(
        make_task("implement", {"feature": feature}, feedback=feedback, revision=revision)
    )
    assert isinstance(result, Result) and isinstance(result.output, CodeChange)
    return result.output, result


@needs_git
def test_coding_agent_hands_over_a_real_git_diff_and_test_counts(
    make_task: MakeTask, output: Unwrap
) -> None:
    c, result = change(make_task, "reading_time")
    output(result)
    assert c.files_changed == ["tests/test_reading.py", "textkit/__init__.py", "textkit/reading.py"]
    assert c.diff.startswith(
        "diff --git a/tests/test_reading.py b/tests/test_reading.py\nnew file mode"
    )
    assert "+from textkit.reading import reading_time\n" in c.diff
    assert '-__all__ = ["sentence_count", "word_count"]\n' in c.diff
    assert (c.tests_passed, c.tests_failed) == (8, 0)
    assert result.quality.tests_passed is True
    assert result.quality.checks == {"git_diff": True, "tests_ran": True}
    assert "Diff taken with git" in c.how_it_works
    assert "reading_time(text: str, words_per_minute: int=200) -> int" in c.how_it_works


@needs_git
def test_failing_tests_fail_the_marker_and_the_revision_fixes_them(make_task: MakeTask) -> None:
    first, result = change(make_task, "slugify")
    assert (first.tests_passed, first.tests_failed) == (6, 1)
    assert result.quality.tests_passed is False
    assert "tests.test_slug.SlugifyTest.test_collapses_separators" in result.quality.notes
    second, result = change(make_task, "slugify", revision=1)
    assert (second.tests_passed, second.tests_failed) == (7, 0)
    assert result.quality.tests_passed is True
    assert '+    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")' in second.diff


@needs_git
def test_a_feature_with_no_passing_implementation_keeps_failing(make_task: MakeTask) -> None:
    for revision in range(3):
        _, result = change(make_task, "title_case", revision)
        assert result.quality.tests_passed is False


def test_without_git_the_diff_comes_from_difflib(
    make_task: MakeTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    c, result = change(make_task, "reading_time")
    assert result.quality.checks["git_diff"] is False
    assert "difflib" in c.how_it_works
    assert c.files_changed == ["tests/test_reading.py", "textkit/__init__.py", "textkit/reading.py"]
    assert (c.tests_passed, c.tests_failed) == (8, 0)
    files = {f.path: f for f in parse(c.diff)}
    assert files["textkit/reading.py"].status == "added"
    assert files["textkit/__init__.py"].status == "modified"
    assert [f.name for f in functions(list(files.values()))] == ["reading_time"]


def test_unknown_feature_names_the_known_ones(make_task: MakeTask) -> None:
    with pytest.raises(
        ValueError, match=r"^unknown feature 'nope' \(known: reading_time, slugify, title_case\)$"
    ):
        implement(make_task("implement", {"feature": "nope"}))


def test_workspace_reports_a_broken_test_run(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write({"tests/__init__.py": "", "tests/test_x.py": "import does_not_exist\n"})
    run = ws.run_tests()
    assert (run.passed, run.failed) == (0, 1)


def test_bundled_project_base_tests_pass(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write(project().base)
    assert ws.run_tests()[:2] == (4, 0)


@needs_git
def test_changelog_and_docs_are_built_from_the_code_change(
    make_task: MakeTask, output: Unwrap
) -> None:
    c, _ = change(make_task, "reading_time")
    run_input = {"feature": "reading_time", "version": "1.3.0"}
    entry = output(write_changelog(make_task("changelog", run_input, {"implement": c})))
    assert isinstance(entry, ChangelogEntry)
    assert entry.version == "1.3.0" and entry.summary == c.summary
    assert entry.changes == [
        "Added `reading_time(text: str, words_per_minute: int=200) -> int`.",
        "Changed `textkit/__init__.py` (+2/-1 lines).",
        "Added `textkit/reading.py` (+12/-0 lines).",
        "Tests: `tests/test_reading.py`.",
    ]
    page = output(write_docs(make_task("docs", run_input, {"implement": c, "changelog": entry})))
    assert isinstance(page, DocPage)
    assert page.title == "textkit.reading: reading_time()"
    assert page.sections == ["Overview", "API", "Examples", "How it works", "Testing", "Changelog"]
    assert "Minutes needed to read ``text`` at ``words_per_minute``, rounded up." in page.body
    assert ">>> reading_time('word ' * 450)\n3" in page.body
    assert "8 tests pass and 0 fail" in page.body


def test_usage_examples_come_from_assert_equal_calls() -> None:
    diff = (
        "diff --git a/tests/test_f.py b/tests/test_f.py\nnew file mode 100644\n--- /dev/null\n"
        "+++ b/tests/test_f.py\n@@ -0,0 +1,2 @@\n"
        "+self.assertEqual(f(1), 2)\n+self.assertEqual(g(1), 3)\n"
    )
    assert usage_examples(parse(diff), {"f"}) == [">>> f(1)\n2"]
