"""The daemon: ``handoffs serve`` hosts a Runtime behind an HTTP API with Prometheus metrics;
the client and the CLI commands talk to it.

Modules: ``wire`` (the API's msgspec types), ``decode`` (strict request decoding), ``routes``
and ``app`` (the Litestar application), ``guard`` (Host and token checks, access log),
``server`` (process lifecycle), ``client`` (HTTP client), ``commands`` and ``render`` (CLI).

Names are imported on first use, so the command line does not pay for the web stack unless a
command needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handoffs.daemon.app import build_app
    from handoffs.daemon.client import Client
    from handoffs.daemon.errors import ApiError, ClientError, DaemonError, ServeError
    from handoffs.daemon.server import ServeOptions, serve

__all__ = [
    "ApiError",
    "Client",
    "ClientError",
    "DaemonError",
    "ServeError",
    "ServeOptions",
    "build_app",
    "serve",
]

_HOMES = {
    "ApiError": "errors",
    "Client": "client",
    "ClientError": "errors",
    "DaemonError": "errors",
    "ServeError": "errors",
    "ServeOptions": "server",
    "build_app": "app",
    "serve": "server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'handoffs.daemon' has no attribute {name!r}")
    return getattr(importlib.import_module(f"handoffs.daemon.{home}"), name)
