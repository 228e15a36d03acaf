"""Roles on Ray, on a real local Ray cluster: the seed patterns with one role on Ray end as
they do locally; a Ray actor killed mid-task has its task run again at the same attempt; a
role whose Ray actors keep dying goes down and its runs escalate; a lease that expires on an
async agent cancels its task on Ray."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import msgspec
import pytest

ray = pytest.importorskip("ray")

from conftest import GateRef  # noqa: E402
from handoffs.examples.inputs import CYCLE  # noqa: E402
from handoffs.messages import Config, RaySpec, RoleSpec  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from runtime_support import make_config  # noqa: E402

from handoffs import Runtime  # noqa: E402

#: Small actors: two CPUs hold every Ray actor of a test.
ON_RAY = RaySpec(num_cpus=0.25)


def example(name: str) -> Config:
    """A bundled example config (from the installed package, not the checkout)."""
    text = files("handoffs.examples").joinpath(name).read_bytes()
    return msgspec.toml.decode(text, type=Config)


def on_ray(config: Config, role: str, **changes: Any) -> Config:
    spec = msgspec.structs.replace(config.roles[role], executor="ray", ray=ON_RAY, **changes)
    return msgspec.structs.replace(config, roles={**config.roles, role: spec})


def open_runtime(config: Config, path: Path) -> Runtime:
    return Runtime.open(config, path, registry=CollectorRegistry(), seed=1)


def outcomes(rt: Runtime, inputs: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Each run (submitted, then triggered) once settled: its pipeline, state, and the
    stages, revisions and outcomes of its handoffs."""
    for pipeline, run_input in inputs:
        rt.wait(rt.submit(pipeline, run_input)[0], timeout=60)
    settled: list[Any] = []
    while True:  # a settled run may have triggered another: until a pass finds no new one
        runs = rt.store.runs(limit=1000).items
        if len(runs) == len(settled):
            return settled
        settled = []
        for listed in runs:
            run = rt.wait(listed.run_id, timeout=60)
            trail = [(h.stage, h.revision, h.outcome) for h in rt.handoffs(run.run_id)]
            settled.append((run.pipeline, run.state, trail))


@pytest.mark.parametrize(
    ("name", "role"),
    [("content.toml", "writer"), ("support.toml", "kb_writer"), ("coding.toml", "coder")],
)
def test_a_seed_pattern_with_one_role_on_ray_ends_as_it_does_locally(
    ray_cluster: Any, tmp_path: Path, name: str, role: str
) -> None:
    config = example(name)
    inputs = [(p, i) for p, i in CYCLE if p in config.pipelines]
    with open_runtime(config, tmp_path / "local") as rt:
        expected = outcomes(rt, inputs)
    with open_runtime(on_ray(config, role), tmp_path / "ray") as rt:
        assert outcomes(rt, inputs) == expected
        health = {r.role: r for r in rt.statistics().supervisor.roles}
        assert health[role].up and health[role].restarts == 0
    assert {state for _, state, _ in expected} >= {"completed"}


def test_a_ray_actor_killed_mid_task_has_its_task_run_again_at_the_same_attempt(
    ray_cluster: Any, gate: GateRef, tmp_path: Path
) -> None:
    config = make_config()
    config = msgspec.structs.replace(
        config,
        roles={
            **config.roles,
            "write": RoleSpec(agent="ray_agents:hold_first", executor="ray", ray=ON_RAY),
        },
    )
    with open_runtime(config, tmp_path / "kb") as rt:
        run_id, _ = rt.submit("content", {"topic": "ray", "gate": gate.name})
        (actor,) = ray.get(gate.handle.wait_arrived.remote())  # the writer holds its first task
        ray.kill(actor)
        run = rt.wait(run_id, timeout=60)
        assert run.state == "completed", run
        write = [h for h in rt.handoffs(run_id) if h.stage == "write"]
        assert [(h.revision, h.attempt) for h in write] == [(0, 1)]
        calls, _ = ray.get(gate.handle.seen.remote())
        assert list(calls.values()) == [2]  # killed once, then run to the end
        health = {r.role: r for r in rt.statistics().supervisor.roles}
        assert health["write"].up and health["write"].restarts == 1
        assert (
            health["write"].last_exit is not None and "Ray actor died" in health["write"].last_exit
        )
