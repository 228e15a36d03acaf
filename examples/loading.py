"""One lock for the examples' bundled data files.

msgspec builds a type's decoding plan the first time the type is decoded, and two agent
threads doing that for the same type at once crashed the process (SIGSEGV inside
``msgspec.toml.decode``, seen under a loaded test suite). The examples decode their data
files under this lock; an application whose agents decode on threads may want the same, or
to decode each type once before its agents start.
"""

from __future__ import annotations

import threading

__all__ = ["LOADING"]

LOADING = threading.Lock()
