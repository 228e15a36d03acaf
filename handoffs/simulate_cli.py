"""``handoffs simulate``: the deterministic simulator, from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from handoffs.messages.errors import HandoffsError

__all__ = ["simulate"]


@click.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--seeds", default=200, show_default=True, type=click.IntRange(1, 10_000_000),
    help="Worlds to simulate, one per seed.",
)  # fmt: skip
@click.option(
    "--seed", "first_seed", default=0, show_default=True, type=click.IntRange(0),
    help="The first seed (replay a violation with --seed S --seeds 1).",
)  # fmt: skip
@click.option(
    "--steps", default=2_000, show_default=True, type=click.IntRange(1, 10_000_000),
    help="Steps with faults per world; a quiet phase follows, in which every run must end.",
)  # fmt: skip
@click.option(
    "--runs", default=30, show_default=True, type=click.IntRange(1, 100_000),
    help="Runs submitted per world.",
)  # fmt: skip
def simulate(config: Path, seeds: int, first_seed: int, steps: int, runs: int) -> None:
    """Check CONFIG's pipelines under faults before deploying them.

    \b
    The real decider runs with simulated agents (accept, reject, gate
    failures, invalid output, exceptions, hangs), crashes of the whole
    process followed by recovery, a store that refuses commits, roles going
    down, and a person resolving escalations: all drawn from the seed, on a
    simulated clock, with no threads. After every step it checks that no
    accepted handoff is duplicated, no attempt or revision count passes its
    limit, nothing acknowledged is lost, and no task is left without an
    owner; at the end, that every run ended. A violation prints the seed,
    the step and the events that led to it, and exits 1.
    """
    from handoffs.simulation import simulate as run_simulation

    try:
        report = run_simulation(config, seeds=seeds, first_seed=first_seed, steps=steps, runs=runs)
    except HandoffsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    rate = report.runs / report.seconds if report.seconds else 0.0
    click.echo(
        f"{config}: {report.seeds} seeds, {report.runs:,} runs ({report.completed:,} completed, "
        f"{report.failed:,} failed, {report.cancelled:,} cancelled), {report.steps:,} steps, "
        f"{report.agent_calls:,} agent calls, {report.crashes:,} crashes, "
        f"{report.failed_commits:,} failed commits in {report.seconds:.1f}s ({rate:,.0f} runs/s)"
    )
    violation = report.violation
    if violation is None:
        click.echo("every invariant held")
        return
    click.echo(f"violation at seed {violation.seed}, step {violation.step}: {violation.message}")
    click.echo("the last events before it:")
    for line in violation.trace:
        click.echo(f"  {line}")
    click.echo(
        f"replay: handoffs simulate {config} --seed {violation.seed} --seeds 1 "
        f"--steps {violation.steps} --runs {runs}"
    )
    sys.exit(1)
