"""The ``handoffs`` command line: the demo, config checks, the daemon and its client."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from handoffs.app_dir import with_app_dir
from handoffs.bench_cli import bench
from handoffs.config import inspect_config
from handoffs.config_summary import summarize
from handoffs.daemon.commands import DAEMON_COMMANDS
from handoffs.demo_cli import demo
from handoffs.simulate_cli import simulate
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
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A data directory: also list the runs in flight there the config would strand.",
)
@with_app_dir
def check(config: Path, data: Path | None) -> None:
    """Validate CONFIG and summarize it.

    Agents import, contracts exist, stages connect, loops are bounded, instructions
    render. Every problem is printed as FILE:LINE: message (exit 1); a sound config gets
    a summary of its pipelines, loops and roles. With --data, runs in flight that would
    lose their stage are listed (exit 1), as handoffs serve would refuse them (in every
    shard of a sharded data directory).
    """
    loaded, problems = inspect_config(config)
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if loaded is None:
        sys.exit(1)
    if data is not None:
        from handoffs.evolution import stranded_in, stranded_message
        from handoffs.messages import HandoffsError

        # A sharded data directory (serve --shards) is checked shard by shard.
        shards = sorted(
            (p for p in data.glob("shard-*") if p.name[6:].isdigit() and p.is_dir()),
            key=lambda p: int(p.name[6:]),
        )
        stores = shards if shards and not (data / "data.mdb").exists() else [data]
        try:
            found = [run for store in stores for run in stranded_in(loaded.config, store)]
        except HandoffsError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        if found:
            click.echo(f"error: {stranded_message(found)}", err=True)
            sys.exit(1)
    for line in summarize(loaded, str(config)):
        click.echo(line)


main.add_command(demo)
for _command in DAEMON_COMMANDS:
    main.add_command(_command)

main.add_command(bench)
main.add_command(simulate)

from handoffs.maintenance_cli import MAINTENANCE_COMMANDS  # noqa: E402

for _command in MAINTENANCE_COMMANDS:
    main.add_command(_command)
