"""The coding agent: makes a feature change in the bundled project and reports it as a CodeChange.

It checks the project out in a temporary directory, commits the base with git, writes the
feature's implementation, takes the real ``git diff``, and runs the project's tests. When the
tests fail, the quality gate sends the task back and the next revision tries the feature's
next implementation (the last one is retried if there is none).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from handoffs.examples.coding.diffs import functions, parse
from handoffs.examples.coding.project import project
from handoffs.examples.coding.workspace import Workspace
from handoffs.examples.upstream import run_input
from handoffs.messages import CodeChange, QualityMarkers, Result, Task

__all__ = ["implement"]

DEFAULT_TIMEOUT = 60.0


def implement(task: Task) -> Result:
    """Implement ``task.input["feature"]``; quality markers carry whether the tests passed."""
    proj = project()
    name = run_input(task, "feature")
    feature = proj.feature(name)
    step = task.revision or (1 if task.feedback else 0)
    index = min(step, len(feature.implementations) - 1)
    chosen = feature.implementations[index]
    timeout = DEFAULT_TIMEOUT
    if task.deadline is not None:
        timeout = max(1.0, min(timeout, task.deadline - time.time()))
    with tempfile.TemporaryDirectory(prefix="handoffs-coding-") as tmp:
        ws = Workspace(Path(tmp), timeout=timeout)
        ws.commit_base(proj.base, f"{proj.name} {proj.version}")
        diff = ws.diff(chosen.files)
        tests = ws.run_tests()
    added = functions(parse(diff.text))
    how = [feature.how_it_works]
    if added:
        how.append(
            "New public API: " + "; ".join(f"{f.signature} in {f.path}" for f in added) + "."
        )
    if chosen.note:
        how.append(f"Implementation {index + 1} of {len(feature.implementations)}: {chosen.note}.")
    how.append(
        "Diff taken with git against the base commit."
        if diff.tool == "git"
        else "git was not found, so the diff was made with Python's difflib instead."
    )
    how.append(f"Tests (unittest): {tests.passed} passed, {tests.failed} failed.")
    if tests.failing:
        how.append("Failing: " + ", ".join(tests.failing) + ".")
    change = CodeChange(
        summary=feature.summary,
        files_changed=diff.files,
        how_it_works=" ".join(how),
        tests_passed=tests.passed,
        tests_failed=tests.failed,
        diff=diff.text,
    )
    passed = tests.failed == 0 and tests.passed > 0
    quality = QualityMarkers(
        completeness=1.0 if diff.files else 0.0,
        confidence=1.0 if passed else 0.3,
        tests_passed=passed,
        checks={"git_diff": diff.tool == "git", "tests_ran": tests.passed + tests.failed > 0},
        notes=f"{name}: {tests.passed} passed, {tests.failed} failed"
        + (f" ({', '.join(tests.failing)})" if tests.failing else ""),
    )
    return Result(change, quality=quality)
