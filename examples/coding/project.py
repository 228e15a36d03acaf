"""The bundled project the coding agent changes: base files and feature implementations."""

from __future__ import annotations

import functools
from importlib import resources

import msgspec
from handoffs.examples.loading import LOADING

__all__ = ["Feature", "Implementation", "Project", "project"]


class Implementation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One attempt at a feature: the files it writes (path -> full new content)."""

    files: dict[str, str]
    note: str = ""


class Feature(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A change to make, and the implementations to try in order."""

    summary: str
    how_it_works: str
    implementations: list[Implementation]


class Project(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A tiny project: its files at the base commit, and the features that can be added."""

    name: str
    version: str
    base: dict[str, str]
    features: dict[str, Feature]

    def feature(self, name: str) -> Feature:
        """The feature called ``name``.

        Raises:
            ValueError: no such feature; the message lists the known ones.
        """
        try:
            return self.features[name]
        except KeyError:
            known = ", ".join(sorted(self.features))
            raise ValueError(f"unknown feature {name!r} (known: {known})") from None


@functools.cache
def project() -> Project:
    """The bundled project, decoded (and validated) once per process."""
    data = resources.files("handoffs.examples.coding").joinpath("project.toml").read_bytes()
    with LOADING:
        return msgspec.toml.decode(data, type=Project)
