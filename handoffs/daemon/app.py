"""The API application: Litestar with the routes, every error as a JSON error body, the
OpenAPI document (``handoffs.daemon.openapi``), all behind the Host and token check
(:class:`~handoffs.daemon.guard.Guard`).

Error mapping (``{"error": {"code", "message", "field"}}``): the caller's faults are 4xx,
named by ``code``; a 5xx means the daemon failed (and is logged with its traceback), is
shutting down (503), or has a store that cannot take writes now (507, with the reason).
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import version
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, Router
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi import OpenAPIConfig
from litestar.types import ASGIApp, Receive, Scope, Send

from handoffs.actors import (
    EscalationNotFound,
    EscalationResolved,
    IdempotencyConflict,
    RunFinished,
    RunNotFound,
    RuntimeClosed,
    RuntimeStopped,
    StoreUnavailable,
    UnknownPipeline,
)
from handoffs.actors.errors import RuntimeTimeout
from handoffs.console import CONSOLE_PATH, build_console
from handoffs.daemon.errors import ApiError
from handoffs.daemon.guard import Guard
from handoffs.daemon.host import Host, tail_of
from handoffs.daemon.logs import log_event
from handoffs.daemon.openapi import ApiSchema, StructReferences
from handoffs.daemon.routes import (
    OPTIONAL_BODIES,
    PARAMETER_NAMES,
    REQUEST_BODIES,
    build_routes,
)
from handoffs.daemon.stream import build_stream
from handoffs.daemon.wire import MAX_BODY_BYTES, ErrorBody, ErrorDetail
from handoffs.shards import ShardUnavailable
from handoffs.store import InvalidKey, StoreClosed, StoreError, StoreFull

__all__ = ["build_app", "to_api_error"]

log = logging.getLogger("handoffs.daemon")

_DOCUMENT_PATH = "/openapi.json"


def to_api_error(exc: Exception) -> ApiError:
    """The API error an exception raised while handling a request stands for."""
    match exc:
        case ApiError():
            return exc
        case ValidationException():
            problems = exc.extra if isinstance(exc.extra, list) else []
            first = problems[0] if problems and isinstance(problems[0], dict) else {}
            key = first.get("key")
            field = PARAMETER_NAMES.get(key, key) if isinstance(key, str) else None
            message = str(first.get("message") or exc.detail)
            if field:
                message = f"{field}: {message}"
            return ApiError(400, "invalid_parameter", message, field)
        case RequestEntityTooLarge():
            return ApiError(
                413, "body_too_large", f"the request body is larger than {MAX_BODY_BYTES} bytes"
            )
        case NotFoundException():
            return ApiError(404, "not_found", "no such route")
        case MethodNotAllowedException():
            return ApiError(405, "method_not_allowed", "the route does not take this method")
        case HTTPException() if exc.detail == "client disconnected prematurely":
            return ApiError(400, "client_disconnected", "the client went away mid-request")
        case HTTPException() if 400 <= exc.status_code < 500:
            return ApiError(exc.status_code, "bad_request", exc.detail)
        case UnknownPipeline():
            return ApiError(422, "unknown_pipeline", str(exc), "$.pipeline")
        case IdempotencyConflict():
            return ApiError(409, "idempotency_conflict", str(exc), "Idempotency-Key")
        case EscalationNotFound():
            return ApiError(404, "escalation_not_found", str(exc), "escalation_id")
        case EscalationResolved():
            return ApiError(409, "escalation_resolved", str(exc), "escalation_id")
        case RunNotFound():
            return ApiError(404, "run_not_found", f"no run {exc.run_id}", "run_id")
        case RunFinished():
            return ApiError(409, "run_finished", str(exc), "run_id", state=exc.state)
        case InvalidKey():
            return ApiError(400, "invalid_parameter", str(exc))
        case RuntimeStopped():
            return ApiError(
                503, "runtime_stopped", "the runtime stopped (see /healthz); restart the daemon"
            )
        case RuntimeClosed() | StoreClosed():
            return ApiError(503, "shutting_down", "the daemon is shutting down")
        case ShardUnavailable():
            return ApiError(503, "shard_unavailable", f"{exc}; retry")
        case RuntimeTimeout():
            return ApiError(503, "busy", "the runtime did not answer in time; retry")
        case StoreFull():
            return ApiError(507, "store_full", str(exc))
        case StoreUnavailable():
            return ApiError(507, "store_unavailable", str(exc))
        case StoreError():
            return ApiError(500, "store_error", str(exc))
        case _:
            return ApiError(500, "internal", "internal error; see the daemon's log")


def _on_error(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    error = to_api_error(exc)
    if error.status >= 500 and error.status != 503:
        log_event(
            log,
            logging.ERROR,
            "request.failed",
            f"{request.method} {request.url.path}: {type(exc).__name__}",
            exc_info=exc,
            path=request.url.path,
        )
    headers = getattr(exc, "headers", None)
    return Response(
        ErrorBody(
            error=ErrorDetail(
                code=error.code,
                message=error.message,
                field=error.field,
                state=msgspec.UNSET if error.state is None else error.state,
            )
        ),
        status_code=error.status,
        headers=headers if isinstance(headers, dict) else None,
    )


def _document_only(app: ASGIApp) -> ASGIApp:
    """Middleware of the schema router: only ``/openapi.json`` itself is served there."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].rstrip("/") != _DOCUMENT_PATH:
            raise NotFoundException()
        await app(scope, receive, send)

    return middleware


def build_app(
    runtime: Host,
    *,
    stopping: threading.Event,
    hosts: frozenset[str],
    token: str | None,
) -> Guard:
    """The ASGI application serving ``runtime``: Host and token checks, then the API and
    the web console (``handoffs.console``), which may take the token from its cookie."""
    structs = StructReferences()
    stream = build_stream(tail_of(runtime), stopping)
    app = Litestar(
        route_handlers=[
            *build_routes(runtime, stopping),
            stream,
            build_console(runtime, stopping, token),
        ],
        plugins=[structs],
        exception_handlers={HTTPException: _on_error, Exception: _on_error},
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=OpenAPIConfig(
            title="handoffs",
            version=version("handoffs"),
            description="Submit runs, follow their handoffs, resolve escalations.",
            # Its own router, so Litestar's catch-all for unknown schema paths stays under
            # /openapi.json/ and cannot answer for unknown API paths; and that catch-all
            # (an HTML page) never answers: the router's middleware refuses every path but
            # the document's own with the API's JSON 404.
            openapi_router=Router(
                _DOCUMENT_PATH,
                route_handlers=[],
                include_in_schema=False,
                middleware=[_document_only],
            ),
            render_plugins=[ApiSchema(structs, REQUEST_BODIES, OPTIONAL_BODIES)],
        ),
        logging_config=None,
        debug=False,
    )
    return Guard(
        app,
        hosts=hosts,
        token=token,
        console=CONSOLE_PATH,
        cookie_paths=frozenset({"/v1/events/stream"}),
    )
