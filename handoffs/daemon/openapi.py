"""``/openapi.json``: Litestar lays out paths, operations and parameters; every body schema
comes from msgspec itself (``msgspec.json.schema_components``), which knows the Structs'
constraints exactly.

Litestar's own Struct schemas are bypassed: a schema plugin registers every Struct as an
empty, marked component, and :func:`complete_schema` swaps each marked component for the
msgspec-generated one (Litestar 2.x also fails on Struct fields whose default is ``[]`` or
``{}``). Request bodies, which the handlers decode by hand, and the
error body of every 4xx and 5xx are added from the route table.
"""

from __future__ import annotations

import threading
from typing import Any

import msgspec
from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from handoffs.daemon.wire import ErrorBody

__all__ = ["ApiSchema", "StructReferences", "complete_schema"]

_REF_PREFIX = "#/components/schemas/"
_MARKER = "msgspec:"


class StructReferences(OpenAPISchemaPlugin):
    """Registers each msgspec Struct as an empty component marked with its identity."""

    def __init__(self) -> None:
        self.seen: set[type[msgspec.Struct]] = set()

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        """Every Struct type (not unions of them)."""
        return not field_definition.is_union and field_definition.is_subclass_of(msgspec.Struct)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        """A marked placeholder component (filled in by :func:`complete_schema`)."""
        tp: type[msgspec.Struct] = field_definition.type_
        self.seen.add(tp)
        schema: Schema = schema_creator.create_component_schema(
            field_definition, required=[], property_fields={}, title=_marker(tp)
        )
        return schema


def _marker(tp: type[msgspec.Struct]) -> str:
    return f"{_MARKER}{tp.__module__}.{tp.__qualname__}"


def complete_schema(
    document: dict[str, Any],
    structs: set[type[msgspec.Struct]],
    request_bodies: dict[tuple[str, str], type[msgspec.Struct]],
    optional_bodies: frozenset[tuple[str, str]] = frozenset(),
) -> dict[str, Any]:
    """Fill Litestar's OpenAPI ``document``: the components of ``structs`` and of the request
    and error bodies, the request body of each route in ``request_bodies`` (required unless
    the route is in ``optional_bodies``), and the error responses of every operation."""
    wanted: set[type[msgspec.Struct]] = {*structs, *request_bodies.values(), ErrorBody}
    types = sorted(wanted, key=_marker)
    refs, components = msgspec.json.schema_components(types, ref_template=_REF_PREFIX + "{name}")
    ref_of = {tp: ref["$ref"] for tp, ref in zip(types, refs, strict=True)}
    by_marker = {_marker(tp): ref_of[tp] for tp in types}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    renames: dict[str, str] = {}
    for name, schema in list(schemas.items()):
        target = by_marker.get(schema.get("title", "")) if isinstance(schema, dict) else None
        if target is not None:
            renames[_REF_PREFIX + name] = target
            del schemas[name]
    document = _rewrite(document, renames)
    document["components"]["schemas"].update(components)
    error = {"content": {"application/json": {"schema": {"$ref": ref_of[ErrorBody]}}}}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            body = request_bodies.get((path, method))
            if body is not None:
                operation["requestBody"] = {
                    "required": (path, method) not in optional_bodies,
                    "content": {"application/json": {"schema": {"$ref": ref_of[body]}}},
                }
            responses = operation["responses"]
            for status in [s for s in responses if s.startswith(("4", "5"))]:
                del responses[status]
            responses["4XX"] = {"description": "The request was refused.", **error}
            responses["5XX"] = {"description": "The daemon failed or is stopping.", **error}
    return document


def _rewrite(value: Any, renames: dict[str, str]) -> Any:
    """``value`` with every ``$ref`` in ``renames`` replaced."""
    if isinstance(value, dict):
        return {
            k: renames.get(v, v) if k == "$ref" and isinstance(v, str) else _rewrite(v, renames)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, renames) for v in value]
    return value


class ApiSchema(JsonRenderPlugin):
    """Serves the completed document as JSON (built on first request, then cached)."""

    def __init__(
        self,
        structs: StructReferences,
        request_bodies: dict[tuple[str, str], type[msgspec.Struct]],
        optional_bodies: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        # Mounted under a router at /openapi.json (see build_app): "/" is /openapi.json.
        super().__init__(path="/")
        self._structs = structs
        self._request_bodies = request_bodies
        self._optional_bodies = optional_bodies
        self._rendered: bytes | None = None
        self._lock = threading.Lock()

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The document as JSON."""
        with self._lock:
            if self._rendered is None:
                document = complete_schema(
                    openapi_schema,
                    self._structs.seen,
                    self._request_bodies,
                    self._optional_bodies,
                )
                self._rendered = self.render_json(request, document)
            return self._rendered
