"""Decoding a config file's TOML into a ``Config``, with every problem it has at once.

Each role, pipeline and stage table is converted on its own, so one bad table does not hide
the next, and every problem carries the key it is about, for its line (``KeyLines``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from typing import Any, NamedTuple

import msgspec

from handoffs.config_lines import KeyLines, dotted
from handoffs.messages import (
    NAME_PATTERN,
    Config,
    PipelineSpec,
    RoleSpec,
    StageSpec,
    field_of,
)

__all__ = ["Key", "Problem", "decode_config", "json_path"]

#: A key of the config as TOML parts: ``("pipelines", "p", "stages", "write", "next")``.
Key = tuple[str, ...]


class Problem(NamedTuple):
    """One problem of a config: what is wrong, naming the key it is about."""

    message: str
    #: The key, for its line; ``None``: the whole file.
    key: Key | None = None
    #: Known outright (a TOML syntax error); else looked up from ``key``.
    line: int | None = None


def json_path(key: Key) -> str:
    """``$.roles.writer.concurrency``: how messages name a key."""
    return "$" + "".join(f".{part}" for part in key)


def decode_config(text: str, lines: KeyLines) -> tuple[Config | None, list[Problem]]:
    """The config ``text`` holds, or ``None`` and every problem that stops it decoding."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, _toml_problems(exc, lines)
    problems: list[Problem] = []
    for key, raw, tp in _named_tables(data, problems):
        problems.extend(_invalid(raw, tp, key))
    problems.extend(_invalid(_hollow(data, ("roles", "pipelines", "contracts")), Config, ()))
    if problems:
        return None, problems
    return msgspec.convert(data, Config), []


def _toml_problems(exc: tomllib.TOMLDecodeError, lines: KeyLines) -> list[Problem]:
    """tomllib says "Cannot overwrite a value" without the key, often "at end of document":
    the scan names each key set twice, and both its lines."""
    if lines.duplicates:
        return [
            Problem(
                f"not valid TOML: table [{dotted(key)}] is declared twice (first at line {first})"
                if header
                else f"not valid TOML: `{dotted(key)}` is set twice (first at line {first})",
                line=line,
            )
            for key, first, line, header in lines.duplicates
        ]
    message = str(exc)
    at = re.search(r" \(at line (\d+), column \d+\)$", message)
    line = int(at.group(1)) if at else None
    return [Problem(f"not valid TOML: {message[: at.start()] if at else message}", line=line)]


def _named_tables(
    data: dict[str, Any], problems: list[Problem]
) -> Iterator[tuple[Key, object, type[Any]]]:
    """Each role, pipeline and stage table with its key; a bad name goes to ``problems``."""
    for name in _table(data.get("contracts")):
        _good_name("contract", ("contracts", name), problems)
    for name, raw in _table(data.get("roles")).items():
        if _good_name("role", ("roles", name), problems):
            yield ("roles", name), raw, RoleSpec
    for pname, pipeline in _table(data.get("pipelines")).items():
        if not _good_name("pipeline", ("pipelines", pname), problems):
            continue
        for sname, stage in _table(_table(pipeline).get("stages")).items():
            key = ("pipelines", pname, "stages", sname)
            if _good_name("stage", key, problems):
                yield key, stage, StageSpec
        yield ("pipelines", pname), _hollow(pipeline, ("stages",)), PipelineSpec


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _hollow(table: object, keys: tuple[str, ...]) -> object:
    """``table`` with its sub-tables at ``keys`` emptied: they are checked on their own."""
    if not isinstance(table, dict):
        return table
    return {k: {} if k in keys and isinstance(v, dict) else v for k, v in table.items()}


def _good_name(what: str, key: Key, problems: list[Problem]) -> bool:
    if re.match(NAME_PATTERN, key[-1]):
        return True
    problems.append(Problem(f"{what} name {key[-1]!r} must match {NAME_PATTERN}", key))
    return False


def _invalid(raw: object, tp: type[Any], key: Key) -> list[Problem]:
    try:
        msgspec.convert(raw, tp)
    except msgspec.ValidationError as exc:
        inner = (field_of(exc) or "$").removeprefix("$")
        message = str(exc).split(" - at `")[0]
        where = key + tuple(p for p in re.split(r"\.|\[[^\]]*\]", inner) if p)
        unknown = re.search(r"unknown field `([^`]+)`", message)
        if unknown:
            where += (unknown.group(1),)
        return [Problem(f"{message} at `{json_path(key)}{inner}`", where)]
    return []
