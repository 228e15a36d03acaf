"""One local Ray cluster for the Ray tests (two CPUs, no dashboard), started once and shut
down after them. Its workers get this folder as their working directory, so the test agents
(``ray_agents``) import there; and only it: the checkout's own folders must not shadow the
installed package in a worker, which a worker's default path (the driver's cwd) would do."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        runtime_env={"working_dir": str(HERE), "excludes": ["__pycache__"]},
    )
    try:
        yield ray
    finally:
        ray.shutdown()


class GateRef(NamedTuple):
    handle: Any
    name: str


@pytest.fixture
def gate(ray_cluster: Any) -> Iterator[GateRef]:
    """A fresh meeting point for agents and the test; agents find it by the name in their
    run's input (``{"gate": gate.name}``)."""
    from ray_agents import Gate

    name = f"gate-{uuid.uuid4().hex}"
    handle = Gate.options(name=name).remote()
    ray_cluster.get(handle.seen.remote())  # started
    try:
        yield GateRef(handle, name)
    finally:
        ray_cluster.kill(handle)
