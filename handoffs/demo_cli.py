"""``handoffs demo``: the bundled example pipelines, end to end, told for people."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from handoffs.demo import DEFAULT_DIR, DemoReport, demo_config_path, prepare_directory, run_demo
from handoffs.demo_text import report_text
from handoffs.messages import HandoffsError

__all__ = ["demo"]

#: Seconds the demo waits for its runs: a floor, and more for each run asked for.
TIMEOUT_FLOOR = 120.0
TIMEOUT_PER_RUN = 0.1


@click.command()
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
    default=DEFAULT_DIR,
    show_default=True,
    help="Directory of the demo's store, kept afterwards for handoffs serve. A store an "
    "earlier demo left there is removed first; any other non-empty directory is refused.",
)
@click.option(
    "--keep", is_flag=True, help="Add to the demo store in --data instead of starting fresh."
)
def demo(runs: int, data: Path, keep: bool) -> None:
    """Run the four bundled example pipelines and print what happened.

    The seed's four handoff patterns (research to content, content to review, customer
    service to knowledge base, coding to documentation), on a store in --data. Prints a
    run of each with its handoffs, the run a trigger started, an escalation and its
    resolution, then a table per pipeline.
    """
    try:
        done = prepare_directory(data, keep=keep)
        if done is not None:
            click.echo(done)
        report = _run(data, runs)
    except HandoffsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(report_text(report, demo_config_path()))


def _run(data: Path, runs: int) -> DemoReport:
    """The demo, with a progress bar on stderr when it is a terminal (none otherwise: a log
    or a pipe gets no progress lines)."""
    timeout = TIMEOUT_FLOOR + TIMEOUT_PER_RUN * runs
    if not sys.stderr.isatty():
        return run_demo(data, runs, timeout=timeout)
    # The ETA is click's: the time per run settled so far, times the runs left.
    with click.progressbar(
        length=runs, label="runs settled", file=sys.stderr, show_pos=True, show_eta=True
    ) as bar:
        return run_demo(data, runs, progress=bar.update, timeout=timeout)
