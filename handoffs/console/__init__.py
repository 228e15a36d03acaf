"""The web console for people, served by ``handoffs serve`` under ``/console``: runs with
filters, a run's handoff timeline, the escalation inbox (Approve, Revise, Cancel, Edit and
approve), health at a glance; live over ``GET /v1/events/stream``. See ``docs/console.md``.
"""

from __future__ import annotations

from handoffs.console.app import CONSOLE_PATH, Console, build_console

__all__ = ["CONSOLE_PATH", "Console", "build_console"]
