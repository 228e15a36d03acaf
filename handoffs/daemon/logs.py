"""Structured logs: one JSON object per line, one line per event.

Every record carries ``ts``, ``level``, ``logger`` and ``msg``; :func:`log_event` adds an
``event`` name and fields. A line about a run carries ``run_id`` and ``trace_id`` (the run's
trace, see :mod:`handoffs.tracing`): from its fields, or, for a line an agent writes while
it works on a task (its own logging, the model client's), from that task, with ``task_id``
and ``stage``. A traceback goes in the ``exc`` field, escaped, so even an error
stays on one line. Request headers are never logged, so the token never is.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

import msgspec

from handoffs.actors.tracehooks import CURRENT_TASK, trace_id_hex

__all__ = ["JsonFormatter", "configure_logging", "log_event"]

LEVELS = ("debug", "info", "warning", "error")

_encoder = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object; fields from :func:`log_event` follow the fixed keys."""
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        event = getattr(record, "event", None)
        if event is not None:
            entry["event"] = event
        entry["msg"] = record.getMessage()
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(key, value)
        run_id = entry.get("run_id")
        if run_id is None:
            task = CURRENT_TASK.get()  # the thread's (or coroutine's) task, if it has one
            if task is not None:
                run_id = entry["run_id"] = task.run_id
                entry.setdefault("task_id", task.task_id)
                entry.setdefault("stage", task.stage)
        if isinstance(run_id, str) and "trace_id" not in entry:
            entry["trace_id"] = trace_id_hex(run_id)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        try:
            return _encoder.encode(entry).decode()
        except (TypeError, msgspec.EncodeError):
            entry = {
                k: v if isinstance(v, (str, int, float, bool)) else repr(v)
                for k, v in entry.items()
            }
            return _encoder.encode(entry).decode()


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Send every logger's records, as JSON lines, to ``stream`` (stderr) at ``level``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The server's own access log is replaced by ours (see ``handoffs.daemon.guard``).
    logging.getLogger("uvicorn.access").disabled = True


def log_event(
    logger: logging.Logger,
    level: int,
    event: str,
    message: str = "",
    *,
    exc_info: BaseException | None = None,
    **fields: Any,
) -> None:
    """Log one event: ``event`` names it, ``fields`` are its data (never secrets)."""
    if logger.isEnabledFor(level):
        logger.log(
            level, message or event, exc_info=exc_info, extra={"event": event, "fields": fields}
        )
