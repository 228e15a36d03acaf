""" "Edit and approve": a form generated from a contract, and the form read back into the
plain data ``Runtime.resolve(..., output=...)`` checks against that contract.

Each field gets the control its type suggests: a short text (200 characters or fewer) a
one-line input, longer text a text area, whole and decimal numbers a number input, a yes/no
a checkbox, a list of texts a text area with one item per line; anything else (nested
records, lists of them) is edited as JSON. Reading the form converts what a control can
hold; the contract itself (lengths, ranges, required fields) is the runtime's to check.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

__all__ = ["FormField", "FormProblem", "form_fields", "read_form"]

_SHORT: Final = 200


class FormProblem(Exception):
    """A control holds something its type cannot be read from (``field`` names it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class FormField(msgspec.Struct, frozen=True, kw_only=True):
    """One control of the form: ``control`` is line, text, integer, number, bool, lines or
    json; ``value`` is what the control shows."""

    name: str
    control: str
    value: str
    required: bool
    checked: bool = False


def _control(tp: msgspec.inspect.Type) -> str:
    match tp:
        case msgspec.inspect.StrType(max_length=limit):
            return "line" if limit is not None and limit <= _SHORT else "text"
        case msgspec.inspect.BoolType():
            return "bool"
        case msgspec.inspect.IntType():
            return "integer"
        case msgspec.inspect.FloatType():
            return "number"
        case msgspec.inspect.ListType(item_type=msgspec.inspect.StrType()):
            return "lines"
        case _:
            return "json"


def _shown(control: str, value: Any) -> str:
    if value is None:
        return ""
    if control == "lines" and isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if control in ("line", "text") and isinstance(value, str):
        return value
    if control in ("integer", "number") and isinstance(value, int | float):
        return str(value)
    return msgspec.json.encode(value).decode()


def form_fields(contract: type[msgspec.Struct], current: Any) -> list[FormField]:
    """The controls for ``contract``, filled from ``current`` (the output being corrected)."""
    values = current if isinstance(current, dict) else {}
    info = msgspec.inspect.type_info(contract)
    assert isinstance(info, msgspec.inspect.StructType)
    fields = []
    for field in info.fields:
        control = _control(field.type)
        value = values.get(field.encode_name)
        if value is None and field.default is not msgspec.NODEFAULT:
            value = field.default
        fields.append(
            FormField(
                name=field.encode_name,
                control=control,
                value="" if control == "bool" else _shown(control, value),
                required=field.required,
                checked=control == "bool" and value is True,
            )
        )
    return fields


def read_form(fields: list[FormField], form: dict[str, list[str]]) -> dict[str, Any]:
    """The output the form describes, as plain data.

    Raises:
        FormProblem: a number, or JSON, that does not read as one.
    """
    output: dict[str, Any] = {}
    for field in fields:
        given = form.get(field.name, [""])[0].replace("\r\n", "\n")
        if field.control == "bool":
            output[field.name] = field.name in form
        elif field.control == "lines":
            output[field.name] = [line.strip() for line in given.split("\n") if line.strip()]
        elif not given.strip() and field.control not in ("text", "line"):
            if field.required:
                output[field.name] = None  # the contract names the missing value
        elif field.control == "integer":
            try:
                output[field.name] = int(given.strip())
            except ValueError:
                raise FormProblem(field.name, "enter a whole number") from None
        elif field.control == "number":
            try:
                output[field.name] = float(given.strip())
            except ValueError:
                raise FormProblem(field.name, "enter a number") from None
        elif field.control == "json":
            try:
                output[field.name] = msgspec.json.decode(given)
            except msgspec.DecodeError as exc:
                raise FormProblem(field.name, f"not valid JSON ({exc})") from None
        else:
            output[field.name] = given
    return output
