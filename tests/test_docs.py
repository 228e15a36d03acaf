"""The README and the docs run as printed, and every --help reads as plain text.

The README's tour and the Python API page's example are run from their code blocks, the way
a reader copies them: the tour in an empty directory, the API example from the checkout.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from handoffs.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PYTHON_API = ROOT / "docs" / "python-api.md"
# Docs are read from the checkout (the wheel ships no README); a bare wheel skips them.
needs_checkout = pytest.mark.skipif(not README.is_file(), reason="no checkout beside the tests")


def blocks(path: Path, language: str) -> list[str]:
    """The fenced code blocks of ``language`` in ``path``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", path.read_text(), re.MULTILINE | re.DOTALL)


def run_python(script: Path, cwd: Path) -> str:
    """Run ``script`` as a reader would (``python script.py``): its directory on sys.path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


@needs_checkout
def test_the_readme_starts_with_the_two_commands() -> None:
    # .ci/run extracts these two blocks and runs them verbatim on a fresh clone.
    assert blocks(README, "sh")[:2] == [
        "pip install -e '.[dev]' && handoffs demo\n",
        "python -m pytest -q\n",
    ]


@needs_checkout
def test_the_readme_tour_runs_as_printed(tmp_path: Path) -> None:
    agents, tour = blocks(README, "python")
    (config,) = blocks(README, "toml")
    (expected,) = blocks(README, "text")
    (tmp_path / "agents.py").write_text(agents)
    (tmp_path / "hello.toml").write_text(config)
    (tmp_path / "tour.py").write_text(tour)
    assert run_python(tmp_path / "tour.py", tmp_path) == expected


@needs_checkout
def test_the_readme_tour_config_checks_from_another_directory(tmp_path: Path) -> None:
    agents, _ = blocks(README, "python")
    (config,) = blocks(README, "toml")
    (tmp_path / "agents.py").write_text(agents)
    (tmp_path / "hello.toml").write_text(config)
    result = subprocess.run(
        [sys.executable, "-m", "handoffs", "check", str(tmp_path / "hello.toml")],
        cwd=ROOT.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{tmp_path / 'hello.toml'}: ok, 1 pipeline, 2 roles\n")


@needs_checkout
def test_the_python_api_example_runs_on_the_bundled_examples(tmp_path: Path) -> None:
    example = blocks(PYTHON_API, "python")[0]
    assert 'Runtime.open("examples/content.toml", "data/")' in example
    script = tmp_path / "example.py"
    script.write_text(example.replace('"data/"', repr(str(tmp_path / "data"))))
    lines = run_python(script, ROOT).splitlines()
    assert lines[0] == "completed"
    assert lines[-3] == "publish 0 accepted complete the run"
    assert lines[-2] == "Solar Panels: How Much Power Rooftop Arrays Still Produce"


def command_names() -> list[str]:
    # bench hands --help to the suite's own parser (below).
    return sorted(name for name in main.commands if name != "bench")


@pytest.mark.parametrize("name", ["", *command_names()])
def test_help_is_plain_text(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--help"] if name else ["--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: main {name}".rstrip())
    for markup in ("``", ":class:", ":meth:", ":func:", ":data:", ":mod:"):
        assert markup not in result.output


def test_every_option_says_what_it_does() -> None:
    for name in command_names():
        for param in main.commands[name].params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.help, f"handoffs {name} {param.opts[0]} has no help text"


def test_bench_help_names_handoffs_bench(capsys: pytest.CaptureFixture[str]) -> None:
    runner = pytest.importorskip("bench.runner", reason="the suite lives in the checkout")
    with pytest.raises(SystemExit) as exit_info:
        runner.main(["--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: handoffs bench [-h] [--quick]")
