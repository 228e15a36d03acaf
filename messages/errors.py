"""Errors raised by ``handoffs.messages``, and the two roots every handoffs error has.

Every error the public API raises is a :class:`HandoffsError`, and also either a
:class:`CallerError` or a :class:`RuntimeFault`, named for whose fault it is (trio's rule:
``ClosedResourceError``, you closed it, vs ``BrokenResourceError``, something else broke it).
They live here, in the package that depends on nothing of ours, so every package can use them.

The tree::

    HandoffsError             every error of ours; nothing else leaves the public API
    ├── CallerError           the caller's fault: a call, argument, config or path that cannot
    │                         work as given; the same call fails the same way again
    ├── RuntimeFault          not the caller's fault: the runtime or what it runs on (the disk,
    │                         another process, a bug of ours) could not do it; the call was
    │                         valid, and may succeed later
    └── MessagesError         raised by ``handoffs.messages`` (all three are CallerErrors)
        ├── ContractError     a contract is unknown, malformed, or does not import
        ├── ConfigError       a pipeline config is malformed (names the key and, if known, the line)
        └── DecodeError       bytes from outside do not decode (names the field)
"""

from __future__ import annotations

__all__ = [
    "CallerError",
    "ConfigError",
    "ContractError",
    "DecodeError",
    "HandoffsError",
    "MessagesError",
    "RuntimeFault",
]


class HandoffsError(Exception):
    """Root of every error handoffs raises: ``except HandoffsError`` catches all of ours."""


class CallerError(HandoffsError):
    """The caller's fault: fix the call (its arguments, the config, the path); retrying it
    unchanged fails the same way."""


class RuntimeFault(HandoffsError):
    """Not the caller's fault: the runtime, its store, its disk or a bug of ours could not do
    what a valid call asked. The error says whether anything was done; a retry may succeed."""


class MessagesError(HandoffsError):
    """Root of the errors raised by ``handoffs.messages``."""


class ContractError(MessagesError, CallerError):
    """A contract is unknown, is not a msgspec Struct, or its import path does not import."""


class ConfigError(MessagesError, CallerError):
    """A pipeline configuration is invalid; the message names the key."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        where = ""
        if path:
            where += f" at `{path}`"
        if line is not None:
            where += f" (line {line})"
        super().__init__(f"{message}{where}")
        self.path = path
        self.line = line


class DecodeError(MessagesError, CallerError):
    """Bytes did not decode into the expected type. ``field`` is the JSON path, if known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
