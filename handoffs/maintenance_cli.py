"""Store maintenance from the command line: ``prune``, ``compact``, ``backup``, ``restore``,
and ``versions`` (the pipeline versions a store recorded).

``backup`` and ``versions`` work while the daemon runs (they only read); ``prune``,
``compact`` and ``restore`` need the store to themselves and say so when a daemon holds it
(the daemon applies the ``[store]`` retention itself, and ``serve --compact-on-start``
compacts before it opens).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click

from handoffs.messages import ConfigError
from handoffs.store import PipelineVersion, Store, StoreError, parse_duration

__all__ = ["MAINTENANCE_COMMANDS", "graph_line"]

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


@click.command()
@_data_option
@click.option("--pipeline", default=None, help="Only this pipeline's versions.")
def versions(data: Path, pipeline: str | None) -> None:
    """List the versions of each pipeline the store has seen: hash, when first recorded,
    the stage graph, and how many runs in flight (running or escalated) are at it.

    A run keeps the version its pipeline had when it started; "current" marks the version
    the store was last opened with. Runs at a version the store has no definition of (made
    before versions were recorded) say "(definition not recorded)". Works while the daemon
    runs.
    """
    from handoffs.store import read_live_versions

    with _reported():
        found = read_live_versions(data, pipeline)
    if not found.versions and not found.live:
        click.echo(f"no pipeline versions recorded in {data}")
        return
    stored = {(v.pipeline, v.version) for v in found.versions}
    rows: list[tuple[str, str | None, PipelineVersion | None]] = [
        (v.pipeline, v.version, v) for v in found.versions
    ]
    rows += [(p, v, None) for p, v in sorted(found.live, key=str) if (p, v) not in stored]
    rows.sort(key=lambda r: (r[0], r[2] is None, r[2].recorded_at if r[2] else 0.0))
    for name, version, record in rows:
        parts = [f"{name} {version or '(no version)'}"]
        if record is None:
            parts.append("(definition not recorded)")
        else:
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.recorded_at))
            parts.append(f"recorded {at}")
            if found.current.get(name) == version:
                parts.append("current")
        parts.append(f"runs in flight: {found.live.get((name, version), 0)}")
        click.echo("  ".join(parts))
        if record is not None:
            click.echo(f"  {graph_line(record)}")


def graph_line(version: PipelineVersion) -> str:
    """A version's stage graph on one line, from its start stage along its edges:
    ``stage [role, Output] -> next, other; review [...] -> publish, rejects to write``."""
    stages = {s.name: s for s in version.stages}
    order: list[str] = []
    frontier = [version.start]
    while frontier:
        name = frontier.pop(0)
        if name in order or name not in stages:
            continue
        order.append(name)
        stage = stages[name]
        nexts = [stage.next] if isinstance(stage.next, str) else list(stage.next or [])
        frontier += nexts + ([stage.on_reject] if stage.on_reject else [])
    order += sorted(set(stages) - set(order))
    shown = []
    for name in order:
        stage = stages[name]
        nexts = [stage.next] if isinstance(stage.next, str) else list(stage.next or [])
        text = f"{name} [{stage.role}, {stage.output}]"
        if nexts:
            text += " -> " + ", ".join(nexts)
        if stage.on_reject:
            text += f", rejects to {stage.on_reject}"
        shown.append(text)
    return "; ".join(shown)


def _require_store(data: Path) -> None:
    if not (data / "data.mdb").is_file():
        from handoffs.store.errors import no_store_at

        raise no_store_at(data)


MAINTENANCE_COMMANDS = (prune, compact, backup, restore, versions)
