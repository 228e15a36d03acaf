"""Personal data in support text: what a public help article must never carry."""

from __future__ import annotations

import re

from handoffs.examples.text import sentences

__all__ = ["drop_personal", "personal_data", "redact"]

_PATTERNS = {
    "email address": re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    "order number": re.compile(r"#\d{4,}\b|\border (?:number |no\. )?\d{4,}\b", re.IGNORECASE),
    "phone number": re.compile(r"\+?\d[\d ()-]{8,}\d"),
}
_GENERIC = {
    "email address": "your email address",
    "order number": "your order",
    "phone number": "your phone number",
}


def personal_data(text: str) -> list[tuple[str, str]]:
    """Every (kind, value) of personal data in ``text``, in order of kind."""
    return [(kind, m.group(0)) for kind, rx in _PATTERNS.items() for m in rx.finditer(text)]


def redact(text: str) -> str:
    """``text`` with each piece of personal data replaced by ``[its kind]``."""
    for kind, rx in _PATTERNS.items():
        text = rx.sub(f"[{kind}]", text)
    return text


def drop_personal(text: str) -> str:
    """``text`` without the sentences that carry personal data (they address one customer)."""
    return " ".join(s for s in sentences(text) if not personal_data(s))
