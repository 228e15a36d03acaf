"""A scratch checkout: write files, commit a base, diff a change with git, run the tests.

Everything runs in subprocesses inside a temporary directory. Git is run with a fixed
identity and without the user's or system's git config, so results do not depend on the host;
without a ``git`` executable the diff falls back to difflib's unified diff.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

__all__ = ["Diff", "TestRun", "Workspace"]

_GIT_IDENTITY = ["-c", "user.name=handoffs coding agent", "-c", "user.email=agent@handoffs.invalid"]
# Run the project's unittest suite and print one machine-readable summary line at the end.
_RUNNER = """
import sys, unittest
result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2).run(
    unittest.defaultTestLoader.discover("tests", top_level_dir="."))
bad = [t.id() for t, _ in result.failures + result.errors]
print("RESULT", result.testsRun, len(result.failures), len(result.errors), len(result.skipped),
      *bad)
"""


class Diff(NamedTuple):
    """A change as a unified diff, the paths it touches, and the tool that made it."""

    text: str
    files: list[str]
    tool: str


class TestRun(NamedTuple):
    """How a test suite went."""

    passed: int
    failed: int
    failing: list[str]
    output: str


class Workspace:
    """A project checkout in ``root`` (which the caller creates and removes)."""

    def __init__(self, root: Path, *, timeout: float = 60.0) -> None:
        self.root = root
        self.timeout = timeout
        self.git = shutil.which("git")
        self._base: dict[str, str] = {}

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.pop("PYTHONPATH", None)
        return subprocess.run(
            args,
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )

    def _git(self, *args: str) -> str:
        done = self._run(self.git or "git", *_GIT_IDENTITY, *args)
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def write(self, files: dict[str, str]) -> None:
        """Write ``files`` (relative path -> content) into the checkout."""
        for rel, content in files.items():
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")

    def commit_base(self, files: dict[str, str], message: str) -> None:
        """Write the base files and commit them (with git: ``git init`` and one commit)."""
        self.write(files)
        self._base = dict(files)
        if self.git:
            self._git("-c", "init.defaultBranch=main", "init", "-q")
            self._git("add", "-A")
            self._git("commit", "-q", "--no-gpg-sign", "-m", message)

    def diff(self, change: dict[str, str]) -> Diff:
        """Apply ``change`` on top of the base and return its diff against the base commit."""
        self.write(change)
        if self.git:
            self._git("add", "-A")
            text = self._git("diff", "--cached", "--no-color", "--no-ext-diff")
            files = self._git("diff", "--cached", "--name-only").split()
            return Diff(text, files, "git")
        return self._difflib(change)

    def _difflib(self, change: dict[str, str]) -> Diff:
        chunks, files = [], []
        for rel in sorted(change):
            old = self._base.get(rel)
            if old == change[rel]:
                continue
            files.append(rel)
            lines = difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                change[rel].splitlines(keepends=True),
                fromfile=f"a/{rel}" if old is not None else "/dev/null",
                tofile=f"b/{rel}",
            )
            header = f"diff --git a/{rel} b/{rel}\n" + (
                "new file mode 100644\n" if old is None else ""
            )
            chunks.append(header + "".join(lines))
        return Diff("".join(chunks), files, "difflib")

    def run_tests(self) -> TestRun:
        """Run the checkout's ``tests/`` with unittest in a fresh interpreter."""
        done = self._run(sys.executable, "-c", _RUNNER)
        last = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if not last:
            output = (done.stdout + done.stderr)[-4000:]
            return TestRun(0, 1, ["<test run did not complete>"], output)
        _, ran, failures, errors, skipped, *failing = last[-1].split()
        failed = int(failures) + int(errors)
        passed = int(ran) - failed - int(skipped)
        return TestRun(passed, failed, failing, done.stderr[-4000:])
