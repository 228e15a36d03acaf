"""An OpenAI-compatible model server on loopback, for offline tests and benchmarks.

It speaks enough of the API for the official ``openai`` SDK: ``POST /v1/chat/completions``
(not streaming), ``GET /v1/models``, ``GET /v1/models/{id}``, with OpenAI-shaped errors
(``{"error": {"message", "type", "param", "code"}}``). How a chat completion request is
refused or answered (deterministic answers that follow its schema, reviews approved from a
revision on) is written in :mod:`handoffs.testing.llm_wire`. Faults
(:mod:`handoffs.testing.faults`) are queued with :meth:`LLMServer.inject` or ``POST /_faults``
(``DELETE /_faults`` empties the queue).

Threads: uvicorn serves on a thread of its own, one asyncio loop, no thread per request
(waits are asyncio waits, so thousands of slow requests cost no threads). The Python API is
thread-safe.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import signal
import socket
import threading
from collections import deque
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar, Request, Response, delete, get, post
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from handoffs.testing import llm_wire as wire
from handoffs.testing.faults import Delay, Drop, Fault, FaultQueue, FaultRequest, Status

__all__ = ["DEFAULT_MODEL", "LLMServer", "ReceivedRequest", "RequestCounts", "main"]

#: What ``GET /v1/models`` lists when the server has no model list (then any name is served).
DEFAULT_MODEL = "handoffs-test"
_MAX_RECORDS = 10_000
# A response header by which a handler asks the front to close the connection unanswered.
_DROP = b"x-handoffs-drop"


class ReceivedRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A chat completion request as received: ``messages`` as ``(role, text)``, the headers
    without ``Authorization``, ``response_format`` one of text, json_schema, json_object,
    tools, and the ``kind`` of the fault it consumed."""

    model: str
    response_format: str
    messages: tuple[tuple[str, str], ...]
    headers: dict[str, str]
    fault: str | None = None


class RequestCounts(msgspec.Struct, frozen=True, kw_only=True):
    """HTTP requests to ``/v1``: in total, answered by status, and dropped unanswered."""

    requests: int = 0
    by_status: dict[int, int] = {}
    dropped: int = 0


class LLMServer:
    """The server; ``with LLMServer() as server:`` starts and stops it.

    Args:
        seed: seeds every answer (with the request's messages).
        approve_from: the first revision a review approves.
        api_key: if set, requests must carry ``Authorization: Bearer <api_key>`` (else 401).
        models: if set, the only model names served (others: 404 ``model_not_found``).
        latency: seconds every chat answer waits (an asyncio wait).
        host, port: where to listen (port 0: a free port; see ``base_url``).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        approve_from: int = 1,
        api_key: str | None = None,
        models: list[str] | tuple[str, ...] | None = None,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.seed = seed
        self.approve_from = approve_from
        self.models = tuple(models) if models is not None else None
        self.latency = latency
        self.host = host
        self.port = port
        self.faults = FaultQueue()
        self._key = None if api_key is None else b"bearer " + api_key.encode()
        self._lock = threading.Lock()
        self._records: deque[ReceivedRequest] = deque(maxlen=_MAX_RECORDS)
        self._counts = RequestCounts()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = asyncio.Event()
        self._started = threading.Event()

    @property
    def base_url(self) -> str:
        """The API root for ``AsyncOpenAI(base_url=...)``: ``http://127.0.0.1:PORT/v1``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def requests(self) -> tuple[ReceivedRequest, ...]:
        """The last 10,000 chat completion requests, oldest first."""
        with self._lock:
            return tuple(self._records)

    @property
    def counts(self) -> RequestCounts:
        """How many ``/v1`` requests came, by the status they got."""
        with self._lock:
            return self._counts

    def inject(self, *faults: Fault, model: str | None = None) -> None:
        """Queue ``faults`` for the next requests (to ``model`` only, if given)."""
        self.faults.push(faults, model)

    def clear(self) -> None:
        """Forget queued faults, received requests and counts."""
        self.faults.clear()
        with self._lock:
            self._records.clear()
            self._counts = RequestCounts()

    def start(self) -> LLMServer:
        """Bind, serve on a thread of its own, and return once requests are served.

        Raises:
            OSError: the address cannot be bound.
            RuntimeError: already started, or the server did not come up.
        """
        if self._thread is not None:
            raise RuntimeError("the server is already started")
        app = _Front(_build_app(self), self)
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(4096)  # clients may connect (and queue) before uvicorn accepts
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            http="h11",
            ws="none",
            loop="asyncio",
            lifespan="on",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            backlog=4096,
            timeout_graceful_shutdown=2,
        )
        self._server = server = uvicorn.Server(config)
        self._thread = thread = threading.Thread(
            target=self._serve, args=(server, sock), name=f"llm-server-{self.port}", daemon=True
        )
        thread.start()
        while not self._started.wait(0.05):
            if not thread.is_alive():
                self._server = self._thread = None
                raise RuntimeError("the test model server did not start")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Wake waiting answers, stop serving, join the server's thread. Idempotent."""
        server, thread, loop = self._server, self._thread, self._loop
        if server is None or thread is None:
            return
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._closing.set)  # the event belongs to that loop
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        self._server = self._thread = self._loop = None
        self._started.clear()

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()

    async def _on_startup(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closing = asyncio.Event()
        self._started.set()

    def _count(self, status: int | None) -> None:
        with self._lock:
            c = self._counts
            by_status = dict(c.by_status)
            if status is not None:
                by_status[status] = by_status.get(status, 0) + 1
            dropped = c.dropped + (status is None)
            self._counts = RequestCounts(
                requests=c.requests + 1, by_status=by_status, dropped=dropped
            )

    async def _chat(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        try:
            body = wire.CHAT_DECODER.decode(await request.body())
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return _error(400, f"Invalid request body: {exc}")
        plan: wire.Plan | Response[bytes]
        if body.stream:
            plan = _error(400, "Streaming is not supported by this test server.", "stream")
        elif self.models is not None and body.model not in self.models:
            plan = _model_not_found(body.model)
        else:
            try:
                plan = wire.plan(body)
            except wire.BadRequest as exc:
                plan = _error(400, exc.message, exc.param, exc.code)
        fault = self.faults.pop(body.model) if isinstance(plan, wire.Plan) else None
        messages = tuple((m.role, wire.text_of(m)) for m in body.messages)
        kind = body.response_format.type if body.response_format is not None else "text"
        tag = type(fault).__struct_config__.tag if fault is not None else None
        received = ReceivedRequest(
            model=body.model,
            response_format="tools" if body.tools else kind,
            messages=messages,
            headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
            fault=tag if isinstance(tag, str) else None,
        )
        with self._lock:
            self._records.append(received)
        if not isinstance(plan, wire.Plan):
            return plan
        wait = self.latency + (fault.seconds if isinstance(fault, Delay) else 0.0)
        if wait > 0:
            with contextlib.suppress(TimeoutError):  # a stopping server answers at once
                async with asyncio.timeout(wait):
                    await self._closing.wait()
        match fault:
            case Status(status=status, message=message, retry_after=retry_after):
                extra = {} if retry_after is None else {"retry-after": format(retry_after, "g")}
                return _error(status, message or wire.REASONS.get(status, "Error."), headers=extra)
            case Drop():
                return Response(b"", status_code=500, headers={_DROP.decode(): "1"})
        answer = wire.completion(
            body.model, plan, messages, fault, seed=self.seed, approve_from=self.approve_from
        )
        return _json(200, answer)


def _json(status: int, content: Any, headers: dict[str, str] | None = None) -> Response[bytes]:
    body = msgspec.json.encode(content)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _error(
    status: int,
    message: str,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    return _json(status, wire.error_body(message, status, param, code), headers)


def _model_not_found(model: str) -> Response[bytes]:
    message = f"The model `{model}` does not exist or you do not have access to it."
    return _error(404, message, "model", "model_not_found")


def _build_app(server: LLMServer) -> Litestar:
    @post("/v1/chat/completions", status_code=200)
    async def chat(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await server._chat(request)

    @get("/v1/models")
    async def models() -> Response[bytes]:
        names = server.models if server.models is not None else (DEFAULT_MODEL,)
        cards = [{"id": m, "object": "model", "created": 0, "owned_by": "handoffs"} for m in names]
        return _json(200, {"object": "list", "data": cards})

    @get("/v1/models/{model_id:str}")
    async def model(request: Request[Any, Any, Any]) -> Response[bytes]:
        model_id = str(request.path_params["model_id"])
        if server.models is not None and model_id not in server.models:
            return _model_not_found(model_id)
        return _json(200, {"id": model_id, "object": "model", "created": 0, "owned_by": "handoffs"})

    @post("/_faults", status_code=200)
    async def add_faults(request: Request[Any, Any, Any]) -> Response[bytes]:
        try:
            batch = msgspec.json.decode(await request.body(), type=FaultRequest)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return _error(400, f"Invalid faults: {exc}")
        server.inject(*batch.faults, model=batch.model)
        return _json(200, {"queued": len(server.faults)})

    @delete("/_faults", status_code=200)
    async def clear_faults() -> Response[bytes]:
        server.faults.clear()
        return _json(200, {"queued": 0})

    def on_error(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
        if isinstance(exc, HTTPException):
            return _error(exc.status_code, str(exc.detail))
        return _error(500, "The test server failed: see its log.")

    return Litestar(
        route_handlers=[chat, models, model, add_faults, clear_faults],
        on_startup=[server._on_startup],
        exception_handlers={Exception: on_error},
        openapi_config=None,
        logging_config=None,
        debug=False,
    )


class _Front:
    """The ASGI entry: checks the key, counts statuses, closes dropped connections."""

    def __init__(self, app: ASGIApp, server: LLMServer) -> None:
        self._app = app
        self._server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:  # lifespan too, whatever the type says
            await self._app(scope, receive, send)
            return
        server = self._server
        counted = not scope["path"].startswith("/_")
        if server._key is not None:
            given = next((v for k, v in scope["headers"] if k.lower() == b"authorization"), b"")
            # The scheme is case-insensitive; the key is compared in constant time.
            if not hmac.compare_digest(given[:7].lower() + given[7:], server._key):
                if counted:
                    server._count(401)
                body = wire.error_body(wire.REASONS[401], 401, None, "invalid_api_key")
                await _send_json(send, 401, body)
                return
        dropped = False

        async def forward(message: Message) -> None:
            nonlocal dropped
            if message["type"] == "http.response.start":
                dropped = any(k == _DROP for k, _ in message.get("headers", ()))
                if counted:  # before the client can see the answer
                    server._count(None if dropped else message["status"])
            if not dropped:
                await send(message)

        await self._app(scope, receive, forward)
        if dropped:
            await self._drop(scope, receive)

    async def _drop(self, scope: Scope, receive: Receive) -> None:
        uv = self._server._server
        for connection in list(uv.server_state.connections) if uv is not None else ():
            cycle = getattr(connection, "cycle", None)
            if cycle is not None and getattr(cycle, "scope", None) is scope:
                connection.transport.close()
                # Wait until uvicorn has seen the close, or it would answer a 500 for us.
                while (await receive())["type"] != "http.disconnect":
                    pass
                return


async def _send_json(send: Send, status: int, content: Any) -> None:
    body = msgspec.json.encode(content)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def main(argv: list[str] | None = None) -> None:
    """``python -m handoffs.testing.llm_server``: serve until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m handoffs.testing.llm_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--approve-from", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--model", action="append", dest="models", help="serve only these")
    args = parser.parse_args(argv)
    server = LLMServer(
        seed=args.seed,
        approve_from=args.approve_from,
        api_key=args.api_key,
        models=args.models,
        latency=args.latency,
        host=args.host,
        port=args.port,
    )
    stop = threading.Event()
    # This is the application's main: it owns the signals. A shell starts a background job
    # with SIGINT ignored, so both are installed rather than relying on KeyboardInterrupt.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with server:
        print(server.base_url, flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
