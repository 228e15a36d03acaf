"""The web console, mounted by the daemon under ``/console``: a Litestar router whose pages
are rendered on the server (``handoffs.console.pages``), whose forms POST back
(``handoffs.console.actions``), and whose one script (``static/console.js``) follows
``GET /v1/events/stream`` to refresh a page's live part.

Handlers that touch the runtime or the store run in worker threads, like the API's.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from litestar import Request, Response, Router, get
from litestar.connection import ASGIConnection
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.response import Redirect

from handoffs.console.security import (
    HEADERS,
    Csrf,
    CsrfRefused,
    LoginRequired,
    login_url,
)
from handoffs.console.templates import Templates, static_assets
from handoffs.daemon.host import Host, tail_of

__all__ = ["CONSOLE_PATH", "Console", "build_console"]

#: Where the console lives.
CONSOLE_PATH: Final = "/console"


class Console:
    """What every console handler shares: the runtime, the templates, the CSRF keeper."""

    def __init__(self, runtime: Host, stopping: threading.Event, token: str | None) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.tail = tail_of(runtime)
        self.stopping = stopping
        self.token = token
        self.templates = Templates()
        self.csrf = Csrf()

    def page(
        self, request: Request[Any, Any, Any], name: str, *, status: int = 200, **context: Any
    ) -> Response[str]:
        """Template ``name`` as an HTML response, with the CSRF field its forms need."""
        nonce, cookie = self.csrf.nonce(request)
        html = self.templates.render(
            name,
            csrf=self.csrf.field(nonce),
            has_token=self.token is not None,
            open_escalations=self.store.count_escalations().get("open", 0),
            last_seq=self.tail.end(),
            path=request.url.path,
            **context,
        )
        return Response(
            html,
            status_code=status,
            media_type=MediaType.HTML,
            cookies=[cookie] if cookie is not None else None,
        )

    def message(
        self, request: Request[Any, Any, Any], status: int, title: str, text: str
    ) -> Response[str]:
        """A page saying one thing (an error, a refusal)."""
        return self.page(request, "message.html", status=status, title=title, text=text)


def _require_login(connection: ASGIConnection[Any, Any, Any, Any], handler: Any) -> None:
    """Route guard: every console route but the login form and the assets needs the token."""
    if isinstance(handler, BaseRouteHandler) and handler.opt.get("public"):
        return
    if not connection.scope.get("state", {}).get("authorized", False):
        query = connection.scope.get("query_string", b"").decode("latin-1")
        raise LoginRequired(connection.url.path + (f"?{query}" if query else ""))


def build_console(runtime: Host, stopping: threading.Event, token: str | None) -> Router:
    """The console's router over ``runtime``; ``token`` is the daemon's (``None``: none)."""
    from handoffs.console.actions import build_actions
    from handoffs.console.pages import build_pages

    console = Console(runtime, stopping, token)
    assets = static_assets()

    @get("/static/{name:str}", opt={"public": True}, include_in_schema=False, sync_to_thread=False)
    def static(name: str) -> Response[bytes]:
        found = assets.get(name)
        if found is None:
            raise NotFoundException()
        body, media_type = found
        return Response(body, media_type=media_type)

    def login_required(request: Request[Any, Any, Any], exc: LoginRequired) -> Response[Any]:
        if request.method in ("GET", "HEAD"):
            return Redirect(login_url(exc.path), status_code=303)
        return console.message(
            request, 401, "Log in first", "This daemon needs its token: log in and try again."
        )

    def csrf_refused(request: Request[Any, Any, Any], exc: CsrfRefused) -> Response[str]:
        return console.message(
            request,
            403,
            "Form refused",
            "The form's CSRF token is missing or out of date: reload the page and try again.",
        )

    return Router(
        CONSOLE_PATH,
        route_handlers=[static, *build_pages(console), *build_actions(console)],
        guards=[_require_login],
        response_headers=HEADERS,
        exception_handlers={LoginRequired: login_required, CsrfRefused: csrf_refused},
        include_in_schema=False,
    )
