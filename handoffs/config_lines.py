"""Where a key is in a TOML config: a line-by-line scan of the source, since ``tomllib``
gives no positions. It reads table headers (``[a."b.c"]``) and ``key =`` lines (dotted and
quoted keys too), and skips comments, multi-line strings and multi-line arrays, so text
inside an instruction cannot pass for a key. It also notes a key set twice: ``tomllib``
refuses the file but does not name the key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

__all__ = ["KeyLines", "dotted"]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_QUOTED = {'"': re.compile(r'"(?:[^"\\]|\\.)*"'), "'": re.compile(r"'[^']*'")}


def dotted(parts: Sequence[str]) -> str:
    """A key path as TOML writes it: ``pipelines.p.stages."a.b"``."""
    return ".".join(p if _BARE.fullmatch(p) else json.dumps(p) for p in parts)


class KeyLines:
    """The line (1-based) of every table header and key of a TOML source."""

    def __init__(self, text: str) -> None:
        self._explicit: dict[tuple[str, ...], int] = {}
        # Tables a header or dotted key opens without naming them: `[a.b]` opens `a`.
        self._implicit: dict[tuple[str, ...], int] = {}
        self._values: set[tuple[str, ...]] = set()
        #: What is defined twice: (key, first line, second line, a table header?), in file
        #: order. The keys of a table declared twice are not listed again.
        self.duplicates: list[tuple[tuple[str, ...], int, int, bool]] = []
        self._again = False  # in a table declared twice
        self._scan(text)

    def line(self, parts: Sequence[str]) -> int | None:
        """The line of ``parts``, else of its longest prefix the file writes; ``None`` if none."""
        for end in range(len(parts), 0, -1):
            prefix = tuple(parts[:end])
            found = self._explicit.get(prefix) or self._implicit.get(prefix)
            if found is not None:
                return found
        return None

    def _scan(self, text: str) -> None:
        table: tuple[str, ...] = ()
        closing = ""  # the delimiter of the multi-line string being skipped
        depth = 0  # open brackets of a multi-line array being skipped
        arrays = 0  # each [[array]] element gets its own path, so its keys never clash
        for number, line in enumerate(text.splitlines(), 1):
            if closing:
                if closing in line:
                    closing = ""
                continue
            if depth:
                depth += _brackets(line)
                continue
            stripped = line.lstrip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith("["):
                array = stripped.startswith("[[")
                parsed = _key(stripped, 2 if array else 1)
                if parsed is None:
                    continue
                table = tuple(parsed[0])
                if array:
                    arrays += 1
                    table += (f"[{arrays}]",)
                self._again = False
                self._define(table, number, value=False)
                continue
            parsed = _key(stripped, 0)
            if parsed is None or not stripped[parsed[1] :].startswith("="):
                continue
            self._define(table + tuple(parsed[0]), number, value=True)
            value = stripped[parsed[1] + 1 :].lstrip()
            for quotes in ('"""', "'''"):
                if value.startswith(quotes) and quotes not in value[3:]:
                    closing = quotes
            if not closing and value.startswith("["):
                depth = max(_brackets(value), 0)

    def _define(self, key: tuple[str, ...], number: int, *, value: bool) -> None:
        first = self._explicit.get(key)
        if first is None:
            # A key below a value (`a.b = 1` then `a.b.c = 2`) sets that value again.
            above = (key[:n] for n in range(1, len(key)) if key[:n] in self._values)
            first = next((self._explicit[k] for k in above), None)
        if first is not None and not self._again:
            self.duplicates.append((key, first, number, not value))
            self._again = not value
        self._explicit.setdefault(key, number)
        if value:
            self._values.add(key)
        for end in range(1, len(key)):
            self._implicit.setdefault(key[:end], number)


def _key(line: str, start: int) -> tuple[list[str], int] | None:
    """The dotted key at ``line[start:]`` and where it ends (past a header's ``]``), or
    ``None`` if none is there."""
    parts: list[str] = []
    at = start
    while True:
        while at < len(line) and line[at] in " \t":
            at += 1
        quote = line[at : at + 1]
        if quote in _QUOTED:
            m = _QUOTED[quote].match(line, at)
            if m is None:
                return None
            raw = m.group()
            try:
                parts.append(json.loads(raw) if quote == '"' else raw[1:-1])
            except ValueError:
                parts.append(raw[1:-1])
        else:
            m = _BARE.match(line, at)
            if m is None:
                return None
            parts.append(m.group())
        at = m.end()
        while at < len(line) and line[at] in " \t":
            at += 1
        if line[at : at + 1] != ".":
            break
        at += 1
    if start:  # a header: `]` or `]]` must follow
        closing = "]" * start
        if not line.startswith(closing, at):
            return None
        at += len(closing)
    return parts, at


def _brackets(text: str) -> int:
    """Opened minus closed brackets on a line of an array, outside strings and comments."""
    count, at = 0, 0
    while at < len(text):
        char = text[at]
        if char in _QUOTED:
            m = _QUOTED[char].match(text, at)
            at = m.end() if m else len(text)
            continue
        if char == "#":
            break
        count += (char == "[") - (char == "]")
        at += 1
    return count
