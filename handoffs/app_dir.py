"""Agents next to the config import: ``--app-dir`` for the commands that load a config.

A config names its agents by import path (``agent = "my_agents:triage"``). Like uvicorn's
``--app-dir``, ``handoffs check`` and ``handoffs serve`` put a directory first on
``sys.path`` while they run: the config file's own directory unless ``--app-dir`` names
another, so ``my_agents.py`` beside ``pipelines.toml`` imports from any working directory.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import click

__all__ = ["app_dir_option", "import_hint", "on_sys_path", "with_app_dir"]

F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def on_sys_path(directory: Path) -> Iterator[Path]:
    """Put ``directory`` (made absolute) first on ``sys.path`` until the block ends.

    Only the entry it added is taken out again, so a command run in-process (a test's
    ``CliRunner``) leaves ``sys.path`` as it found it.
    """
    entry = str(directory.resolve())
    sys.path.insert(0, entry)
    try:
        yield Path(entry)
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def import_hint(message: str, directory: Path) -> str:
    """``message`` with where agents were looked for, when it says a module was not found."""
    if "No module named" not in message:
        return message
    return (
        f"{message} (agents import from {directory} and the installed packages; "
        "--app-dir DIR imports them from DIR instead)"
    )


def app_dir_option() -> Callable[[F], F]:
    """The ``--app-dir DIR`` option (``None`` when not given)."""
    return click.option(
        "--app-dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help="Import agents from DIR, put first on sys.path (default: the config file's "
        "directory).",
    )


def with_app_dir(command: F) -> F:
    """Give a command that takes ``config`` the ``--app-dir`` option, and run it with that
    directory (default: the config file's directory) first on ``sys.path``."""

    @functools.wraps(command)
    def run(*args: Any, app_dir: Path | None, **kwargs: Any) -> Any:
        config: Path = kwargs["config"]
        with on_sys_path(app_dir if app_dir is not None else config.parent):
            return command(*args, **kwargs)

    # The wrapper takes what the command takes, plus ``app_dir``, which it consumes.
    return cast("F", app_dir_option()(run))
