"""The console's Jinja environment: templates and static assets shipped in the package,
read through ``importlib.resources`` (so they work from a wheel as from a checkout).

Autoescaping is on for every template, whatever its name: agent output is untrusted, and a
payload holding ``<script>`` must show as text. No template marks anything ``safe``.
"""

from __future__ import annotations

import datetime
from importlib import resources
from typing import Any, Final

import jinja2

__all__ = ["STATIC_TYPES", "Templates", "static_assets"]

#: The media type of each static asset, by suffix; nothing else is served.
STATIC_TYPES: Final = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


def _when(timestamp: float) -> str:
    """A store timestamp as UTC, to the second."""
    if not timestamp:
        return ""
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class _PackageLoader(jinja2.BaseLoader):
    """Loads ``templates/<name>`` from this package's resources (zip-safe)."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, None]:
        path = resources.files(__package__).joinpath("templates", template)
        if "/" in template or not path.is_file():
            raise jinja2.TemplateNotFound(template)
        return path.read_text(encoding="utf-8"), None, None


class Templates:
    """Renders the console's pages."""

    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=_PackageLoader(),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["when"] = _when

    def render(self, name: str, **context: Any) -> str:
        """Template ``name`` rendered with ``context``."""
        return self._env.get_template(name).render(**context)


def static_assets() -> dict[str, tuple[bytes, str]]:
    """Every static asset by file name: its bytes and media type (read once, at startup)."""
    found: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files(__package__).joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in STATIC_TYPES:
            found[entry.name] = (entry.read_bytes(), STATIC_TYPES[suffix])
    return found
