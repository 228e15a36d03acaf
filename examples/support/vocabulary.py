"""The knowledge-base review vocabulary: the aspects the reviewer writes and the writer reads."""

from __future__ import annotations

from typing import Final

__all__ = ["ANSWER", "FAQ", "PERSONAL_DATA", "TITLE_LENGTH", "UNRESOLVED_MARKERS"]

PERSONAL_DATA: Final = "personal_data"
ANSWER: Final = "answer"
TITLE_LENGTH: Final = "title_length"
FAQ: Final = "faq"

#: Phrases that show an answer only defers the question instead of answering it.
UNRESOLVED_MARKERS: Final = ("no documented answer", "forwarded to", "will reply within")
