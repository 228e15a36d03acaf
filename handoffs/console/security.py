"""The console's defences, beyond the daemon's Guard (Host, Origin, Sec-Fetch-Site, the token
from the header or the cookie):

- login: with a token, a page without it leads to the login form, which sets the token in an
  ``HttpOnly``, ``SameSite=Strict`` cookie (scripts cannot read it, other sites cannot send
  it);
- CSRF: every form carries ``csrf``, an HMAC (with a secret made when the daemon starts) of
  a random nonce kept in a second cookie; a POST whose field does not match its cookie is
  refused. A site that can plant a cookie still cannot compute the field;
- headers: a strict Content-Security-Policy (scripts, styles and images from the daemon
  only, no inline script or style, no framing), ``nosniff``, no referrer.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any, Final
from urllib.parse import quote

from litestar import Request
from litestar.datastructures import Cookie, ResponseHeader

from handoffs.daemon.guard import TOKEN_COOKIE

__all__ = [
    "CSRF_COOKIE",
    "HEADERS",
    "Csrf",
    "CsrfRefused",
    "LoginRequired",
    "authorized",
    "login_url",
    "safe_next",
    "token_cookie",
]

CSRF_COOKIE: Final = "handoffs_csrf"
_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: Sent with every console response.
HEADERS: Final = [
    ResponseHeader(name="Content-Security-Policy", value=_CSP),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on the
    # console's own form POSTs, which the Guard refuses.
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
    ResponseHeader(name="X-Frame-Options", value="DENY"),
    ResponseHeader(name="Cache-Control", value="no-store"),
]


class LoginRequired(Exception):
    """A console page was asked for without the token; the answer leads to the login form."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class CsrfRefused(Exception):
    """A form POST without a matching CSRF token."""


def authorized(request: Request[Any, Any, Any]) -> bool:
    """Whether the Guard found the token on this request (or the daemon has none)."""
    return bool(request.scope.get("state", {}).get("authorized", False))


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a console path only (never another site)."""
    if (
        target
        and target.startswith("/console")
        and "\\" not in target
        and all(c.isprintable() for c in target)
    ):
        return target
    return "/console/runs"


def token_cookie(token: str | None) -> Cookie:
    """The cookie carrying the token (``None``: the one that clears it)."""
    return Cookie(
        key=TOKEN_COOKIE,
        value=token or "",
        path="/",
        httponly=True,
        samesite="strict",
        max_age=None if token else 0,
    )


class Csrf:
    """Makes and checks the CSRF field of the console's forms."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def field(self, nonce: str) -> str:
        """The ``csrf`` field value for the cookie ``nonce``."""
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()

    def nonce(self, request: Request[Any, Any, Any]) -> tuple[str, Cookie | None]:
        """The request's nonce, and the cookie to set when it had none."""
        current = request.cookies.get(CSRF_COOKIE)
        if current and len(current) == 43 and current.isascii():
            return current, None
        fresh = secrets.token_urlsafe(32)
        cookie = Cookie(
            key=CSRF_COOKIE, value=fresh, path="/console", httponly=True, samesite="strict"
        )
        return fresh, cookie

    def check(self, request: Request[Any, Any, Any], given: str | None) -> None:
        """Refuse the POST unless ``given`` matches the request's nonce cookie.

        Raises:
            CsrfRefused: it does not.
        """
        nonce = request.cookies.get(CSRF_COOKIE)
        if not nonce or not given or not hmac.compare_digest(self.field(nonce), given):
            raise CsrfRefused()


def login_url(path: str) -> str:
    """The login form, coming back to ``path`` after."""
    return "/console/login?next=" + quote(safe_next(path), safe="/")
