"""Store maintenance from the command line: ``prune``, ``compact``, ``backup``, ``restore``.

``backup`` works while the daemon runs (a hot copy); ``prune``, ``compact`` and ``restore``
need the store to themselves and say so when a daemon holds it (the daemon applies the
``[store]`` retention itself, and ``serve --compact-on-start`` compacts before it opens).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from handoffs.messages import ConfigError
from handoffs.store import Store, StoreError, parse_duration

__all__ = ["MAINTENANCE_COMMANDS"]

_data_option = click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The daemon's data directory (the store).",
)


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    """A store error or a bad duration: ``error: ...`` on stderr, exit status 1."""
    try:
        yield
    except (StoreError, ConfigError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _age(option: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


@click.command()
@_data_option
@click.option("--completed-older-than", help="Delete completed runs that ended before (30d).")
@click.option(
    "--failed-older-than", help="Delete failed and cancelled runs that ended before (90d)."
)
@click.option(
    "--journal-older-than",
    help="Trim journal entries older than this (default: the shortest age given).",
)
def prune(
    data: Path,
    completed_older_than: str | None,
    failed_older_than: str | None,
    journal_older_than: str | None,
) -> None:
    """Delete finished runs older than an age, with their handoffs, tasks, escalations,
    idempotency keys, index entries and old journal entries.

    Ages are a number and a unit: 45s, 30m, 12h, 30d. Running and escalated runs are
    never deleted. The file does not shrink (LMDB reuses the pages): run compact for that.
    """
    from handoffs.store.retention import RetentionPolicy
    from handoffs.store.retention import prune as prune_store

    with _reported():
        policy = RetentionPolicy(
            completed=_age("--completed-older-than", completed_older_than),
            failed=_age("--failed-older-than", failed_older_than),
            journal=_age("--journal-older-than", journal_older_than),
        )
        if not policy.active:
            raise ConfigError("prune: give at least one --...-older-than age")
        _require_store(data)
        with Store.open(data) as store:
            report = prune_store(store, policy)
    click.echo(
        f"pruned {report.runs} runs, {report.handoffs} handoffs, {report.tasks} tasks, "
        f"{report.escalations} escalations, {report.idempotency_keys} idempotency keys, "
        f"{report.journal} journal entries in {report.transactions} transactions "
        f"(longest {report.longest_transaction * 1000:.1f} ms)"
    )


@click.command()
@_data_option
def compact(data: Path) -> None:
    """Rewrite the store without its free pages, so the file shrinks to its data.

    Safe to interrupt: the compacted copy replaces the store by a rename once it is
    written and synced. Refused while the daemon has the store open.
    """
    from handoffs.store.maintenance import compact as compact_store

    with _reported():
        before, after = compact_store(data)
    click.echo(f"compacted {data}: {_size(before)} -> {_size(after)}")


@click.command()
@_data_option
@click.argument("out", type=click.Path(path_type=Path))
def backup(data: Path, out: Path) -> None:
    """Copy the store to the new directory OUT, consistent, while the daemon runs.

    OUT can be served as a data directory as it is, or put back with handoffs restore.
    """
    from handoffs.store.maintenance import backup as backup_store

    with _reported():
        backup_store(data, out)
    click.echo(f"backed up {data} to {out} ({_size((out / 'data.mdb').stat().st_size)})")


@click.command()
@click.argument("backup_dir", metavar="BACKUP", type=click.Path(path_type=Path))
@_data_option
def restore(backup_dir: Path, data: Path) -> None:
    """Put the backup in BACKUP in place as the store of --data, which must hold none.

    The backup is checked (every record and index) before it is put in place.
    """
    from handoffs.store.maintenance import restore as restore_store

    with _reported():
        restore_store(backup_dir, data)
    click.echo(f"restored {backup_dir} into {data}")


def _require_store(data: Path) -> None:
    if not (data / "data.mdb").is_file():
        from handoffs.store import StorePathError

        raise StorePathError(str(data), "no store there (no data.mdb)")


MAINTENANCE_COMMANDS = (prune, compact, backup, restore)
