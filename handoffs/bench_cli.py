"""``handoffs bench``: run the benchmark suite (``python -m bench``) from a checkout.

The suite lives in the repository's ``bench/`` folder, not in the installed package: it
needs the optional peers and writes its results next to the code. This command finds the
checkout (the current directory or a parent of it, else the one an editable install points
at) and runs ``python -m bench`` there with the same interpreter, passing every argument on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

__all__ = ["bench", "find_checkout"]


def find_checkout(start: Path | None = None) -> Path | None:
    """The repository root holding ``bench/__main__.py``, or ``None``."""
    here = (start or Path.cwd()).resolve()
    candidates = [here, *here.parents, Path(__file__).resolve().parent.parent]
    for root in candidates:
        if (root / "bench" / "__main__.py").is_file() and (root / "pyproject.toml").is_file():
            return root
    return None


@click.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(args: tuple[str, ...]) -> None:
    """Run the benchmark suite (from a checkout).

    Every argument goes to python -m bench in the checkout; handoffs bench --help lists
    them, and handoffs bench --quick is the under-a-minute smoke run.
    """
    root = find_checkout()
    if root is None:
        raise click.ClickException(
            "handoffs bench runs from a checkout of the repository (it needs bench/); "
            "cd into one, or run `python -m bench` there"
        )
    code = subprocess.call([sys.executable, "-m", "bench", *_absolute_paths(args)], cwd=root)
    sys.exit(code)


def _absolute_paths(args: tuple[str, ...]) -> list[str]:
    """Path options made absolute: the suite runs in the checkout, not the caller's cwd."""
    out: list[str] = []
    expect_path = False
    for arg in args:
        if expect_path:
            out.append(str(Path(arg).resolve()))
            expect_path = False
        elif arg in _PATH_OPTIONS:
            out.append(arg)
            expect_path = True
        elif arg.split("=", 1)[0] in _PATH_OPTIONS and "=" in arg:
            name, value = arg.split("=", 1)
            out.append(f"{name}={Path(value).resolve()}")
        else:
            out.append(arg)
    return out


_PATH_OPTIONS = frozenset({"--out", "--data-root"})
