"""``GET /v1/events/stream``: the journal as Server-Sent Events, for tailing from a browser
(``EventSource``) or any HTTP client; the long poll (``GET /v1/events``) stays.

Each event is one ``data:`` line holding the journal event as JSON, with ``id:`` the journal
position just after it (its ``seq``; on a sharded daemon one seq per shard, ``"12.40.7"``),
so a reconnecting ``EventSource`` resumes after the last one it saw (``Last-Event-ID``;
``after=`` says where to start on the first connection). A comment line every
``KEEPALIVE_SECONDS`` keeps proxies from closing an idle stream. The stream ends when the
daemon stops (``stopping``), so a graceful shutdown does not wait for it.

Waiting is the long poll's: a coroutine on the server's loop watches where the journal ends
(holds no worker thread); reading the journal runs on a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Final

from litestar import get
from litestar.handlers import HTTPRouteHandler
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from handoffs.daemon.errors import ApiError
from handoffs.daemon.host import POSITION_PATTERN, Tail, checked
from handoffs.messages import encode_json

__all__ = ["KEEPALIVE_SECONDS", "POLL_SECONDS", "build_stream", "wait_for_events"]

#: How often the store's last ``seq`` is looked at while nothing is new.
POLL_SECONDS: Final = 0.05
#: How long a stream stays silent before a keep-alive comment.
KEEPALIVE_SECONDS: Final = 15.0
#: Events read from the journal per batch.
_BATCH: Final = 200


async def wait_for_events(
    tail: Tail, after: str, deadline: float, stopping: threading.Event
) -> bool:
    """Wait on the loop until the journal has an event after ``after``, ``deadline``
    (monotonic) passes, or the daemon stops; return whether there is one."""
    while not tail.has_after(after) and not stopping.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
    return tail.has_after(after)


def _position(value: str, where: str) -> str:
    text = value.strip()
    if re.fullmatch(POSITION_PATTERN, text) is None:
        raise ApiError(
            400,
            "invalid_parameter",
            f"{where}: must be a journal position (a seq, or one per shard joined by dots)",
            where,
        )
    return text


async def _events(
    tail: Tail, after: str, stopping: threading.Event
) -> AsyncIterator[ServerSentEventMessage]:
    # The first message tells the client where the journal is, even when nothing happens.
    yield ServerSentEventMessage(data=None, comment=f"last_seq {tail.end()}", retry=1000)
    while not stopping.is_set():
        deadline = time.monotonic() + KEEPALIVE_SECONDS
        if not await wait_for_events(tail, after, deadline, stopping):
            if not stopping.is_set():
                yield ServerSentEventMessage(data=None, comment="keep-alive")
            continue
        found = await asyncio.to_thread(functools.partial(tail.read, after, _BATCH))
        for event, position in found:
            after = position
            yield ServerSentEventMessage(data=encode_json(event).decode(), id=position)


def build_stream(tail: Tail, stopping: threading.Event) -> HTTPRouteHandler:
    """The route handler of ``GET /v1/events/stream`` over ``tail``."""

    @get(
        "/v1/events/stream",
        operation_id="streamEvents",
        summary="The journal as Server-Sent Events",
        description="A text/event-stream of journal events after the position `after` (or "
        "the Last-Event-ID header, which a reconnecting EventSource sends): each event's data "
        "is the event as JSON and its id is the position after it (its seq, or on a sharded "
        "daemon one seq per shard joined by dots). Ends when the daemon stops. A browser "
        "may authenticate with the console's cookie instead of the Authorization header.",
        tags=["events"],
        media_type="text/event-stream",
    )
    async def stream_events(
        after: Annotated[
            str,
            Parameter(pattern=POSITION_PATTERN, description="Stream events after this position."),
        ] = "0",
        last_event_id: Annotated[
            str | None,
            Parameter(header="Last-Event-ID", description="Resume after this position."),
        ] = None,
    ) -> ServerSentEvent:
        if last_event_id is not None:
            start = checked(tail, _position(last_event_id, "Last-Event-ID"), "Last-Event-ID")
        else:
            start = checked(tail, after, "after")
        return ServerSentEvent(
            _events(tail, start, stopping),
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return stream_events
