"""Errors raised by ``handoffs.messages``.

The tree::

    MessagesError
    ├── ContractError      a contract is unknown, malformed, or does not import
    ├── ConfigError        a pipeline config is malformed (names the key and, if known, the line)
    └── DecodeError        bytes from outside or from the store do not decode (names the field)
"""

from __future__ import annotations

__all__ = ["ConfigError", "ContractError", "DecodeError", "MessagesError"]


class MessagesError(Exception):
    """Root of the errors raised by ``handoffs.messages``."""


class ContractError(MessagesError):
    """A contract is unknown, is not a msgspec Struct, or its import path does not import."""


class ConfigError(MessagesError):
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


class DecodeError(MessagesError):
    """Bytes did not decode into the expected type. ``field`` is the JSON path, if known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
