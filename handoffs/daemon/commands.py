"""The daemon's client commands (``submit``, ``runs``, ``show``, ``cancel``,
``escalations``, ``resolve``, ``tail``), and with ``handoffs serve``
(:mod:`handoffs.daemon.serve_command`) the daemon's command line.

Client commands print tables for people and, with ``--json``, the API's JSON for scripts.
They find the daemon at ``--url`` (or ``$HANDOFFS_URL``) and read the token from
``--token-file`` (or ``$HANDOFFS_TOKEN_FILE``, or ``$HANDOFFS_TOKEN``). The server and the
HTTP client are imported when a command runs, so the rest of the CLI starts fast.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import msgspec

from handoffs.daemon.errors import ClientError
from handoffs.daemon.serve_command import serve

if TYPE_CHECKING:
    from handoffs.daemon.client import Client
    from handoffs.daemon.wire import EscalationList, RunList
    from handoffs.messages import ResolutionAction

__all__ = ["DAEMON_COMMANDS"]

F = TypeVar("F", bound=Callable[..., Any])

_pretty = msgspec.json.Encoder()


def _echo_json(value: object) -> None:
    click.echo(msgspec.json.format(_pretty.encode(value), indent=2).decode())


def _echo_page(page: RunList | EscalationList, table: Callable[[Any], str], as_json: bool) -> None:
    """One page of a listing: its JSON, or its table and the cursor of the next page."""
    if as_json:
        _echo_json(page)
        return
    click.echo(table(page.items))
    if page.cursor:
        click.echo(f"more: --cursor {page.cursor}")


class _BadArgument(Exception):
    """An argument the command itself refuses (click's parser refuses the rest)."""


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    """Turn a client error or a bad argument into ``error: ...`` on stderr and exit status 1,
    like every other error of the command line (no usage text, no traceback)."""
    try:
        yield
    except (ClientError, _BadArgument) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def client_options(command: F) -> F:
    """The options every client command takes: where the daemon is, the token, --json."""
    for option in reversed(
        (
            click.option(
                "--url",
                envvar="HANDOFFS_URL",
                default="http://127.0.0.1:8765",
                show_default=True,
                help="The daemon (env HANDOFFS_URL).",
            ),
            click.option(
                "--token-file",
                envvar="HANDOFFS_TOKEN_FILE",
                default=None,
                type=click.Path(dir_okay=False, path_type=Path),
                help="File holding the daemon's token (env HANDOFFS_TOKEN_FILE; "
                "or put the token itself in HANDOFFS_TOKEN).",
            ),
            click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts."),
            click.option(
                "--timeout",
                default=30.0,
                show_default=True,
                type=click.FloatRange(min=0.1),
                help="Seconds to wait for a reply.",
            ),
        )
    ):
        command = option(command)
    return command


def _client(url: str, token_file: Path | None, timeout: float) -> Client:
    from handoffs.daemon.client import Client, load_client_token

    return Client(url, token=load_client_token(token_file), timeout=timeout)


def _read_input(text: str) -> dict[str, Any]:
    """``--input``: inline JSON, ``@file``, or ``@-`` for stdin; must be a JSON object.

    Raises:
        _BadArgument: the file cannot be read, or the text is not a JSON object.
    """
    if text.startswith("@"):
        name = text[1:]
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            reason = exc.strerror or exc
            raise _BadArgument(f"--input: cannot read {name}: {reason}") from None
    else:
        data = text.encode()
    try:
        value: dict[str, Any] = msgspec.json.decode(data, type=dict[str, Any])
    except msgspec.MsgspecError as exc:
        raise _BadArgument(f"--input: not a JSON object: {exc}") from None
    return value


# ----------------------------------------------------------------- client


@click.command()
@click.argument("pipeline")
@click.option(
    "--input",
    "input_",
    default="{}",
    metavar="JSON|@FILE",
    help="The run's input: a JSON object, @file, or @- for stdin.",
)
@click.option("--idempotency-key", default=None, help="Submitting again with it is safe.")
@click.option(
    "--wait",
    default=None,
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Wait up to SECONDS for the run to settle, then print it.",
)
@client_options
def submit(
    pipeline: str,
    input_: str,
    idempotency_key: str | None,
    wait: float | None,
    url: str,
    token_file: Path | None,
    as_json: bool,
    timeout: float,
) -> None:
    """Start a run of PIPELINE.

    Prints the run id and its state (with --wait, the state it settled in).
    """
    with _reported():
        payload = _read_input(input_)
    with _reported(), _client(url, token_file, timeout) as client:
        response, created = client.submit(pipeline, payload, idempotency_key=idempotency_key)
        state = response.state
        if wait is not None:
            deadline = time.monotonic() + wait
            while state == "running" and time.monotonic() < deadline:
                time.sleep(0.1)
                state = client.run(response.run_id).state
        if as_json:
            _echo_json({"run_id": response.run_id, "state": state, "created": created})
        else:
            click.echo(f"{response.run_id}  {state}" + ("" if created else "  (existing run)"))


@click.command()
@click.option(
    "--state",
    type=click.Choice(["running", "completed", "escalated", "failed", "cancelled"]),
    default=None,
    help="Only runs in this state.",
)
@click.option("--pipeline", default=None, help="Only runs of this pipeline.")
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(1, 1000), help="Runs per page."
)
@click.option("--cursor", default=None, help="The cursor a previous page printed.")
@client_options
def runs(
    state: str | None,
    pipeline: str | None,
    limit: int,
    cursor: str | None,
    url: str,
    token_file: Path | None,
    as_json: bool,
    timeout: float,
) -> None:
    """List runs, oldest first."""
    from handoffs.daemon.render import run_table

    with _reported(), _client(url, token_file, timeout) as client:
        page = client.runs(state=state, pipeline=pipeline, limit=limit, cursor=cursor)
    _echo_page(page, run_table, as_json)


@click.command()
@click.argument("run_id")
@click.option("--payload", is_flag=True, help="Print each handoff's payload too.")
@client_options
def show(
    run_id: str, payload: bool, url: str, token_file: Path | None, as_json: bool, timeout: float
) -> None:
    """Show a run's handoff timeline.

    RUN_ID's state, then each handoff: stage, revision, attempt, outcome, quality markers,
    feedback and the next action.
    """
    from handoffs.daemon.render import timeline

    with _reported(), _client(url, token_file, timeout) as client:
        detail = client.run(run_id, payload=payload)
        escalation = client.escalation(detail.escalation_id) if detail.escalation_id else None
    if as_json:
        _echo_json(detail)
    else:
        click.echo(timeline(detail, escalation))


@click.command()
@click.argument("run_id")
@click.option("--reason", default=None, metavar="TEXT", help="Why (default: cancelled).")
@client_options
def cancel(
    run_id: str,
    reason: str | None,
    url: str,
    token_file: Path | None,
    as_json: bool,
    timeout: float,
) -> None:
    """Cancel a running or escalated run.

    Its tasks are withdrawn; prints RUN_ID as show does. A run that already ended is an
    error (exit 1).
    """
    from handoffs.daemon.render import timeline

    with _reported(), _client(url, token_file, timeout) as client:
        detail = client.cancel(run_id, reason)
        escalation = client.escalation(detail.escalation_id) if detail.escalation_id else None
    if as_json:
        _echo_json(detail)
    else:
        click.echo(timeline(detail, escalation))


@click.command()
@click.option(
    "--state",
    type=click.Choice(["open", "resolved", "all"]),
    default="open",
    show_default=True,
    help="Open ones wait for a person.",
)
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Escalations per page.",
)
@click.option("--cursor", default=None, help="The cursor a previous page printed.")
@client_options
def escalations(
    state: str,
    limit: int,
    cursor: str | None,
    url: str,
    token_file: Path | None,
    as_json: bool,
    timeout: float,
) -> None:
    """List escalations: runs waiting for a person."""
    from handoffs.daemon.render import escalation_table

    with _reported(), _client(url, token_file, timeout) as client:
        page = client.escalations(state=state, limit=limit, cursor=cursor)
    _echo_page(page, escalation_table, as_json)


@click.command()
@click.argument("escalation_id")
@click.option("--approve", is_flag=True, help="Accept the last output; the run goes on.")
@click.option(
    "--revise", default=None, metavar="TEXT", help="Send the stage back with TEXT as feedback."
)
@click.option("--cancel", is_flag=True, help="Cancel the run.")
@click.option("--feedback", default=None, help="A note with --approve or --cancel.")
@client_options
def resolve(
    escalation_id: str,
    approve: bool,
    revise: str | None,
    cancel: bool,
    feedback: str | None,
    url: str,
    token_file: Path | None,
    as_json: bool,
    timeout: float,
) -> None:
    """Decide an escalation: approve, revise or cancel.

    Give exactly one of --approve, --revise TEXT, --cancel for ESCALATION_ID.
    """
    with _reported():
        if approve + cancel + (revise is not None) != 1:
            raise _BadArgument("give exactly one of --approve, --revise TEXT, --cancel")
        if revise is not None and feedback is not None:
            raise _BadArgument("--revise takes its feedback as its own value")
    action: ResolutionAction = "approve" if approve else "cancel" if cancel else "revise"
    note = revise if revise is not None else feedback
    with _reported(), _client(url, token_file, timeout) as client:
        escalation = client.resolve(escalation_id, action, note)
    if as_json:
        _echo_json(escalation)
    else:
        click.echo(f"{escalation.id}  {escalation.state}  ({action})  run {escalation.run_id}")


@click.command()
@click.option(
    "--after",
    default=None,
    metavar="POSITION",
    help="Start after this journal position: a seq, or on a sharded daemon one seq per "
    "shard joined by dots (default: the last 10 events).",
)
@click.option("--once", is_flag=True, help="Print what is there and exit; do not follow.")
@client_options
def tail(
    after: str | None,
    once: bool,
    url: str,
    token_file: Path | None,
    as_json: bool,
    timeout: float,
) -> None:
    """Follow the journal, one line per event.

    Prints the last 10 events (or those after --after), then follows; one JSON object per
    line with --json.
    """
    from handoffs.daemon.render import event_line

    encoder = msgspec.json.Encoder()
    with _reported(), _client(url, token_file, timeout) as client:
        if after is None:
            end = client.events(after="0", limit=0).end
            after = ".".join(str(max(int(seq) - 10, 0)) for seq in end.split("."))
        try:
            while True:
                page = client.events(after=after, limit=1000, wait=0.0 if once else 10.0)
                for event in page.events:
                    click.echo(encoder.encode(event).decode() if as_json else event_line(event))
                after = page.position
                if once and len(page.events) < 1000:
                    return
        except KeyboardInterrupt:
            return


DAEMON_COMMANDS: tuple[click.Command, ...] = (
    serve,
    submit,
    runs,
    show,
    cancel,
    escalations,
    resolve,
    tail,
)
