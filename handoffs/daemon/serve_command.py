"""``handoffs serve``: its options, and tracing switched on from the environment. The server
itself is :mod:`handoffs.daemon.server`, imported when the command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from handoffs.app_dir import app_dir_option, import_hint, on_sys_path
from handoffs.daemon.errors import ServeError

if TYPE_CHECKING:
    from handoffs.tracing import EnvironmentTracing

__all__ = ["serve"]


@click.command()
@click.option(
    "--config",
    "config",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The pipelines config (TOML).",
)
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("handoffs-data"),
    show_default=True,
    help="Knowledge base directory (created 0700 if missing).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. Anything but loopback needs --token-file.",
)
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to bind (0: any free port; the log says which).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A 0600 file holding the bearer token every request but /healthz needs.",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="Another name clients may use in the Host header (repeatable).",
)
@click.option(
    "--shutdown-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to drain work on SIGTERM/SIGINT.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Least severe log events to write (JSON lines on stderr).",
)
@click.option(
    "--compact-on-start",
    is_flag=True,
    help="Compact the store (rewrite it without free pages) before opening it.",
)
@click.option(
    "--shards",
    type=click.IntRange(1, 256),
    default=None,
    help="Run N orchestrator shards, each a process with its own store under DATA/shard-K "
    "(more than one core of orchestration); a run lives on one shard.",
)
@click.option(
    "--tracing",
    is_flag=True,
    envvar="HANDOFFS_TRACING",
    help="Export OpenTelemetry traces (the otel extra) as the OTEL_* variables say: OTLP "
    "with opentelemetry-exporter-otlp installed, else to stdout. Also $HANDOFFS_TRACING=1.",
)
@app_dir_option()
def serve(
    config: Path,
    data: Path,
    host: str,
    port: int,
    token_file: Path | None,
    allow_hosts: tuple[str, ...],
    shutdown_timeout: float,
    log_level: str,
    compact_on_start: bool,
    shards: int | None,
    tracing: bool,
    app_dir: Path | None,
) -> None:
    """Host a runtime behind the HTTP API until SIGTERM or SIGINT.

    Agents import from the config file's directory (or --app-dir) and the installed packages.
    """
    from handoffs.daemon.logs import configure_logging
    from handoffs.daemon.server import ServeOptions
    from handoffs.daemon.server import serve as run_server

    configure_logging(log_level)
    options = ServeOptions(
        config=config,
        data=data,
        host=host,
        port=port,
        token_file=token_file,
        allow_hosts=allow_hosts,
        shutdown_timeout=shutdown_timeout,
        compact_on_start=compact_on_start,
        shards=shards,
        log_level=log_level,
        tracing=tracing,
    )
    traced = _start_tracing() if tracing else None
    try:
        with on_sys_path(app_dir if app_dir is not None else config.parent) as directory:
            try:
                status = run_server(options)
            except ServeError as exc:
                click.echo(f"error: {import_hint(str(exc), directory)}", err=True)
                sys.exit(1)
    finally:
        if traced is not None:
            traced.stop()  # exports the spans still buffered
    sys.exit(status)


def _start_tracing() -> EnvironmentTracing:
    """``--tracing``: tracing on, from the OTEL_* variables; a clear error without the extra."""
    import logging

    from handoffs.daemon.logs import log_event
    from handoffs.tracing import TracingUnavailable, enable_from_environment

    try:
        traced = enable_from_environment()
    except TracingUnavailable as exc:
        click.echo(f"error: --tracing: {exc}", err=True)
        sys.exit(1)
    log_event(
        logging.getLogger("handoffs.daemon"),
        logging.INFO,
        "tracing",
        f"tracing on, exporting to {traced.exporter}",
        exporter=traced.exporter,
    )
    return traced
