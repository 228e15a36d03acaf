"""``GET /v1/events/stream``: the journal as Server-Sent Events, for tailing from a browser
(``EventSource``) or any HTTP client; the long poll (``GET /v1/events``) stays.

Each event is one ``data:`` line holding the journal event as JSON, with ``id:`` its ``seq``,
so a reconnecting ``EventSource`` resumes after the last one it saw (``Last-Event-ID``;
``after=`` says where to start on the first connection). A comment line every
``KEEPALIVE_SECONDS`` keeps proxies from closing an idle stream. The stream ends when the
daemon stops (``stopping``), so a graceful shutdown does not wait for it.

Waiting is the long poll's: a coroutine on the server's loop watches ``store.last_seq``
(holds no worker thread); reading the journal runs on a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Final

from litestar import get
from litestar.handlers import HTTPRouteHandler
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from handoffs.daemon.errors import ApiError
from handoffs.daemon.wire import MAX_SEQ
from handoffs.messages import encode_json
from handoffs.store_view import StoreView

__all__ = ["KEEPALIVE_SECONDS", "POLL_SECONDS", "build_stream", "wait_for_events"]

#: How often the store's last ``seq`` is looked at while nothing is new.
POLL_SECONDS: Final = 0.05
#: How long a stream stays silent before a keep-alive comment.
KEEPALIVE_SECONDS: Final = 15.0
#: Events read from the journal per batch.
_BATCH: Final = 200


async def wait_for_events(
    store: StoreView, after: int, deadline: float, stopping: threading.Event
) -> bool:
    """Wait on the loop until the journal has an event after ``after``, ``deadline``
    (monotonic) passes, or the daemon stops; return whether there is one."""
    while store.last_seq <= after and not stopping.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
    return store.last_seq > after


def _last_event_id(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or len(text) > 19 or int(text) > MAX_SEQ:
        raise ApiError(
            400,
            "invalid_parameter",
            "Last-Event-ID: must be a journal seq (a whole number)",
            "Last-Event-ID",
        )
    return int(text)


async def _events(
    store: StoreView, after: int, stopping: threading.Event
) -> AsyncIterator[ServerSentEventMessage]:
    # The first message tells the client where the journal is, even when nothing happens.
    yield ServerSentEventMessage(data=None, comment=f"last_seq {store.last_seq}", retry=1000)
    while not stopping.is_set():
        deadline = time.monotonic() + KEEPALIVE_SECONDS
        if not await wait_for_events(store, after, deadline, stopping):
            if not stopping.is_set():
                yield ServerSentEventMessage(data=None, comment="keep-alive")
            continue
        events = await asyncio.to_thread(functools.partial(store.journal, after, _BATCH))
        for event in events:
            after = event.seq
            yield ServerSentEventMessage(data=encode_json(event).decode(), id=event.seq)


def build_stream(store: StoreView, stopping: threading.Event) -> HTTPRouteHandler:
    """The route handler of ``GET /v1/events/stream`` over ``store``."""

    @get(
        "/v1/events/stream",
        operation_id="streamEvents",
        summary="The journal as Server-Sent Events",
        description="A text/event-stream of journal events with seq > after (or > the "
        "Last-Event-ID header, which a reconnecting EventSource sends): each event's data is "
        "the event as JSON and its id is the seq. Ends when the daemon stops. A browser "
        "may authenticate with the console's cookie instead of the Authorization header.",
        tags=["events"],
        media_type="text/event-stream",
    )
    async def stream_events(
        after: Annotated[
            int, Parameter(ge=0, le=MAX_SEQ, description="Stream events after this seq.")
        ] = 0,
        last_event_id: Annotated[
            str | None,
            Parameter(header="Last-Event-ID", description="Resume after this seq."),
        ] = None,
    ) -> ServerSentEvent:
        resume = _last_event_id(last_event_id)
        start = max(after, resume) if resume is not None else after
        return ServerSentEvent(
            _events(store, start, stopping),
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return stream_events
