"""The versions of a config's pipelines, recorded in the store when a runtime opens it.

A run records the version (``pipeline_version``: a content hash of the stage graph) its
pipeline had when it started. :func:`record_config_versions` stores the graph behind each
version once, so ``handoffs versions`` can show what a run's version looked like after
the config changed (and ``handoffs check --data`` which version a stranded run is at).
"""

from __future__ import annotations

import hashlib
import time

import msgspec

from handoffs.actors.pipelines import pipeline_version
from handoffs.messages import Config, PipelineSpec
from handoffs.store import PipelineVersion, Store, VersionStage, record_versions

__all__ = ["graph_version", "record_config_versions", "version_of"]


def version_of(name: str, spec: PipelineSpec, recorded_at: float) -> PipelineVersion:
    """Pipeline ``name``'s stage graph as its version hash covers it (start; each stage's
    role, output, next and on_reject)."""
    return PipelineVersion(
        pipeline=name,
        version=pipeline_version(spec),
        recorded_at=recorded_at,
        start=spec.start,
        stages=[
            VersionStage(
                name=stage,
                role=s.role,
                output=s.output,
                next=s.next,
                on_reject=s.on_reject,
            )
            for stage, s in sorted(spec.stages.items())
        ],
    )


def graph_version(version: PipelineVersion) -> str:
    """The hash of a stored graph, computed as ``pipeline_version`` computes a spec's: equal
    to ``version.version`` for a record that describes its version faithfully."""
    graph = {
        "start": version.start,
        "stages": {s.name: [s.role, s.output, s.next, s.on_reject] for s in version.stages},
    }
    return hashlib.sha256(msgspec.json.encode(graph)).hexdigest()[:16]


def record_config_versions(store: Store, config: Config, now: float | None = None) -> int:
    """Store every pipeline version of ``config`` the store lacks and mark them as the ones
    it was last opened with: one small write transaction, none when nothing is new. Returns
    how many versions were new.

    Raises:
        StoreFull, StoreIOError: the store refused the write.
    """
    at = time.time() if now is None else now
    return record_versions(
        store, [version_of(name, spec, at) for name, spec in sorted(config.pipelines.items())]
    )
