"""Reading a unified diff: which files it adds, changes or deletes, and what it adds to them.

The changelog and documentation agents work from the CodeChange alone, so everything they say
about the code comes from here: the diff is the handoff's technical detail.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["FileDiff", "Function", "functions", "parse", "usage_examples"]

Status = Literal["added", "modified", "deleted"]


@dataclass
class FileDiff:
    """One file's part of a diff."""

    path: str
    status: Status = "modified"
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def new_source(self) -> str | None:
        """The whole new content, for an added file (a diff only shows all of those)."""
        return "\n".join(self.added) + "\n" if self.status == "added" else None


@dataclass(frozen=True)
class Function:
    """A public function a change adds."""

    name: str
    signature: str
    doc: str
    path: str


_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$")
_DEF = re.compile(r"^def ([a-z]\w*)(\(.*\)(?: -> [^:]+)?):")


def parse(diff: str) -> list[FileDiff]:
    """The files of a unified diff (as ``git diff`` or this package's difflib fallback write it)."""
    files: list[FileDiff] = []
    current: FileDiff | None = None
    in_hunk = False
    for line in diff.splitlines():
        if m := _HEADER.match(line):
            current = FileDiff(path=m.group(2))
            files.append(current)
            in_hunk = False
        elif current is None:
            continue
        elif line.startswith("@@"):
            in_hunk = True
        elif not in_hunk:
            if line.startswith("new file mode") or line == "--- /dev/null":
                current.status = "added"
            elif line.startswith("deleted file mode") or line == "+++ /dev/null":
                current.status = "deleted"
        elif line.startswith("+"):
            current.added.append(line[1:])
        elif line.startswith("-"):
            current.removed.append(line[1:])
    return files


def functions(files: list[FileDiff]) -> list[Function]:
    """Public top-level functions the diff adds: from the source of added files, and from the
    added ``def`` lines of modified ones (whose docstring the diff may not show)."""
    found: list[Function] = []
    for f in files:
        if not f.path.endswith(".py") or f.path.startswith("tests/"):
            continue
        source = f.new_source if f.status == "added" else None
        if source is not None:
            for node in ast.parse(source).body:
                if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                    sig = f"{node.name}({ast.unparse(node.args)})"
                    if node.returns is not None:
                        sig += f" -> {ast.unparse(node.returns)}"
                    found.append(Function(node.name, sig, ast.get_docstring(node) or "", f.path))
        else:
            defs = (_DEF.match(line) for line in f.added)
            found.extend(Function(m[1], m[1] + m[2], "", f.path) for m in defs if m)
    return found


def usage_examples(files: list[FileDiff], names: set[str]) -> list[str]:
    """Usage examples from the tests a diff adds, as doctest lines (``>>> f(x)`` then ``y``),
    one for each ``assertEqual(f(x), y)`` whose ``f`` is one of ``names``."""
    examples: list[str] = []
    for f in files:
        if f.status != "added" or not f.path.startswith("tests/") or f.new_source is None:
            continue
        for node in ast.walk(ast.parse(f.new_source)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "assertEqual" or len(node.args) != 2:
                continue
            call, expected = node.args
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id in names
            ):
                examples.append(f">>> {ast.unparse(call)}\n{ast.unparse(expected)}")
    return examples
