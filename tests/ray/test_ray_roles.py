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


def with_role(config: Config, role: str, spec: RoleSpec) -> Config:
    return msgspec.structs.replace(config, roles={**config.roles, role: spec})


def health(rt: Runtime, role: str) -> Any:
    return {r.role: r for r in rt.statistics().supervisor.roles}[role]


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
        assert health(rt, role).up and health(rt, role).restarts == 0
    assert {state for _, state, _ in expected} >= {"completed"}


def test_a_ray_actor_killed_mid_task_has_its_task_run_again_at_the_same_attempt(
    ray_cluster: Any, gate: GateRef, tmp_path: Path
) -> None:
    holding = RoleSpec(agent="ray_agents:hold_first", executor="ray", ray=ON_RAY)
    with open_runtime(with_role(make_config(), "write", holding), tmp_path / "kb") as rt:
        run_id, _ = rt.submit("content", {"topic": "ray", "gate": gate.name})
        (actor,) = ray.get(gate.handle.wait_arrived.remote())  # the writer holds its first task
        ray.kill(actor)
        run = rt.wait(run_id, timeout=60)
        assert run.state == "completed", run
        write = [h for h in rt.handoffs(run_id) if h.stage == "write"]
        assert [(h.revision, h.attempt) for h in write] == [(0, 1)]
        calls, _ = ray.get(gate.handle.seen.remote())
        assert list(calls.values()) == [2]  # killed once, then run to the end
        write_role = health(rt, "write")
        assert write_role.up and write_role.restarts == 1
        assert write_role.last_exit is not None
        assert "Ray actor died: ActorDiedError: " in write_role.last_exit


def test_a_role_whose_ray_actors_keep_dying_goes_down_and_its_runs_escalate(
    ray_cluster: Any, tmp_path: Path
) -> None:
    dying = RoleSpec(
        agent="ray_agents:die", executor="ray", ray=ON_RAY, max_restarts=1, period=60.0
    )
    with open_runtime(with_role(make_config(), "write", dying), tmp_path / "kb") as rt:
        run_id, _ = rt.submit("content", {"topic": "ray"})
        assert rt.wait(run_id, timeout=60).state == "escalated"
        (escalation,) = rt.escalations()
        assert (escalation.run_id, escalation.stage, escalation.reason) == (
            run_id,
            "write",
            "role_down",
        )
        write = health(rt, "write")
        assert not write.up and write.restarts == 1
        assert write.down_reason is not None
        assert write.down_reason.startswith("2 exits within 60s exceed max_restarts=1; last: ")
        assert "Ray actor died: ActorDiedError: " in write.down_reason


def test_a_lease_that_expires_on_ray_cancels_the_task_there_and_the_retry_completes(
    ray_cluster: Any, gate: GateRef, tmp_path: Path
) -> None:
    hanging = RoleSpec(agent="ray_agents:hang_first", executor="ray", ray=ON_RAY, concurrency=4)
    config = with_role(make_config(timeout=2.0), "write", hanging)
    with open_runtime(config, tmp_path / "kb") as rt:
        run_id, _ = rt.submit("content", {"topic": "ray", "gate": gate.name})
        assert rt.wait(run_id, timeout=60).state == "completed"
        # The first attempt's coroutine was cancelled on the Ray actor's loop (ray.cancel).
        task_ids = ray.get(gate.handle.wait_cancelled.remote())
        write = [h for h in rt.handoffs(run_id) if h.stage == "write"]
        assert [h.attempt for h in write] == [2]
        assert len(task_ids) == 1
        assert health(rt, "write").restarts == 0
