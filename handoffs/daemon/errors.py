"""Errors of the daemon and its client.

The tree::

    DaemonError
    ├── ApiError        a request the daemon refuses: becomes a 4xx (or 5xx) JSON error body
    ├── ServeError      the daemon cannot start (token file, address, store locked, config)
    └── ClientError     the CLI client got an error response, or no response at all
"""

from __future__ import annotations

__all__ = ["ApiError", "ClientError", "DaemonError", "ServeError"]


class DaemonError(Exception):
    """Root of the errors of ``handoffs.daemon``."""


class ApiError(DaemonError):
    """A request the API refuses. The caller's fault when ``status`` is 4xx.

    Attributes:
        status: the HTTP status code.
        code: a stable, machine-readable error code (``invalid_json``, ``run_not_found``...).
        field: the offending field: a JSON path for body fields, else the parameter name.
        state: the run's state, for ``run_finished`` (a cancel of a run that already ended).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        state: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.state = state


class ServeError(DaemonError):
    """``handoffs serve`` cannot start; the message says why and what to do."""


class ClientError(DaemonError):
    """The daemon answered with an error, or could not be reached (``status`` is ``None``)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
