"""The ``handoffs`` command line: the demo, config checks, the daemon and its client."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from handoffs.bench_cli import bench
from handoffs.config import inspect_config
from handoffs.config_summary import summarize
from handoffs.daemon.commands import DAEMON_COMMANDS
from handoffs.tables import format_table

__all__ = ["format_table", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="handoffs")
def main() -> None:
    """handoffs: AI agents hand work to each other through durable, validated handoffs.

    \b
    Start here:
      handoffs demo                     the bundled example pipelines, end to end
      handoffs check CONFIG             validate a pipelines config
      handoffs serve --config CONFIG    the daemon: HTTP API and /metrics

    submit, runs, show, cancel, escalations, resolve and tail talk to a running
    daemon. Documentation: README.md and docs/ in the repository.
    """


@main.command()
@click.option(
    "--runs",
    "-n",
    default=24,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Runs to submit, spread over the four patterns.",
)
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Knowledge base directory (default: a temporary one).",
)
def demo(runs: int, data: Path | None) -> None:
    """Run the seed's four handoff patterns and print a table per pipeline."""
    from handoffs.demo import run_demo

    def go(directory: Path) -> None:
        with click.progressbar(length=runs, label="runs", file=sys.stderr) as bar:
            rows = run_demo(directory, runs, progress=bar.update)
        headers = (
            "pipeline",
            "runs",
            "completed",
            "escalated",
            "failed",
            "revisions",
            "handoffs",
            "wall s",
        )
        table: list[tuple[object, ...]] = [
            (
                r.pipeline,
                r.runs,
                r.completed,
                r.escalated,
                r.failed,
                r.revisions,
                r.handoffs,
                f"{r.wall_seconds:.2f}",
            )
            for r in rows
        ]
        click.echo(format_table(headers, table))

    if data is not None:
        go(data)
        click.echo(f"knowledge base: {data} (inspect it with `handoffs serve --data {data}`)")
    else:
        with tempfile.TemporaryDirectory(prefix="handoffs-demo-") as tmp:
            go(Path(tmp) / "kb")


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check(config: Path) -> None:
    """Validate CONFIG and summarize it.

    Agents import, contracts exist, stages connect, loops are bounded, instructions
    render. Every problem is printed as FILE:LINE: message (exit 1); a sound config gets
    a summary of its pipelines, loops and roles.
    """
    loaded, problems = inspect_config(config)
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if loaded is None:
        sys.exit(1)
    for line in summarize(loaded, str(config)):
        click.echo(line)


for _command in DAEMON_COMMANDS:
    main.add_command(_command)

main.add_command(bench)
