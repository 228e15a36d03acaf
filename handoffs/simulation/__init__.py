"""``handoffs simulate``: check a config's pipelines under faults before deploying them.

The real decider runs in a simulated world (:mod:`handoffs.simulation.world`): simulated
agents answer, fail, hang, return invalid output; the process crashes and recovers from the
simulated store; the store refuses commits; roles go down and come back; a person resolves
escalations. Everything is drawn from one seed on one thread, so a seed replays exactly, and
the invariants (:mod:`handoffs.simulation.invariants`) are checked after every step (the
approach of FoundationDB's simulation and TigerBeetle's VOPR).
"""

from __future__ import annotations

import time
from pathlib import Path

import msgspec

from handoffs.config import LoadedConfig, load_config
from handoffs.messages import Config
from handoffs.simulation.agents import Outputs, Profile, SimulationError
from handoffs.simulation.invariants import Invariants
from handoffs.simulation.world import Violation, World

__all__ = [
    "Profile",
    "SimulationError",
    "SimulationReport",
    "SimulationViolation",
    "simulate",
    "simulate_seed",
]


class SimulationViolation(msgspec.Struct, frozen=True, kw_only=True):
    """An invariant that broke: how to replay it, and the events that led there."""

    seed: int
    step: int
    steps: int
    message: str
    trace: list[str]


class SimulationReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the seeds explored, and the first violation (``None``: every invariant held)."""

    seeds: int
    runs: int
    steps: int
    agent_calls: int
    crashes: int
    failed_commits: int
    completed: int
    failed: int
    cancelled: int
    seconds: float
    violation: SimulationViolation | None = None


def simulate_seed(
    loaded: LoadedConfig,
    seed: int,
    *,
    steps: int,
    runs: int,
    profile: Profile | None = None,
    trace: bool = False,
) -> World:
    """Run one seed; raises :class:`~handoffs.simulation.world.Violation`."""
    world = _world(loaded, seed, steps, runs, profile, trace)
    world.run()
    return world


def _world(
    loaded: LoadedConfig,
    seed: int,
    steps: int,
    runs: int,
    profile: Profile | None,
    trace: bool,
) -> World:
    pipelines = loaded.pipelines
    return World(
        pipelines,
        Outputs(loaded.registry, seed),
        seed,
        runs=runs,
        steps=steps,
        profile=profile or Profile(),
        invariants=Invariants(pipelines),
        trace=trace,
    )


def simulate(
    config: str | Path | Config | LoadedConfig,
    *,
    seeds: int = 100,
    first_seed: int = 0,
    steps: int = 2_000,
    runs: int = 20,
    profile: Profile | None = None,
) -> SimulationReport:
    """Simulate ``seeds`` worlds (seeds ``first_seed``, ``first_seed + 1``, ...), each with
    ``runs`` runs and ``steps`` faulty steps followed by a quiet phase. Stops at the first
    violation, which is replayed with a trace of its last events.

    Raises:
        ConfigError: the config is invalid.
        SimulationError: the simulation cannot make outputs for a contract.
    """
    loaded = config if isinstance(config, LoadedConfig) else load_config(config)
    started = time.perf_counter()
    totals = dict.fromkeys(("runs", "steps", "calls", "crashes", "full"), 0)
    states = dict.fromkeys(("completed", "failed", "cancelled"), 0)
    violation = None
    done = 0
    for seed in range(first_seed, first_seed + seeds):
        try:
            world = simulate_seed(loaded, seed, steps=steps, runs=runs, profile=profile)
        except Violation as exc:
            violation = _replay(loaded, seed, steps, runs, profile, str(exc))
            break
        done += 1
        totals["runs"] += len(world.store.runs)
        totals["steps"] += world.step
        totals["calls"] += world.calls
        totals["crashes"] += world.crashes
        totals["full"] += world.full
        for run in world.store.runs.values():
            states[run.state] = states.get(run.state, 0) + 1
    return SimulationReport(
        seeds=done,
        runs=totals["runs"],
        steps=totals["steps"],
        agent_calls=totals["calls"],
        crashes=totals["crashes"],
        failed_commits=totals["full"],
        completed=states["completed"],
        failed=states["failed"],
        cancelled=states["cancelled"],
        seconds=time.perf_counter() - started,
        violation=violation,
    )


def _replay(
    loaded: LoadedConfig,
    seed: int,
    steps: int,
    runs: int,
    profile: Profile | None,
    message: str,
) -> SimulationViolation:
    """The same seed again, tracing, to show the events up to the violation."""
    world = _world(loaded, seed, steps, runs, profile, trace=True)
    try:
        world.run()
    except Violation as exc:
        message = str(exc)
    return SimulationViolation(
        seed=seed, step=world.step, steps=steps, message=message, trace=list(world.trace)
    )
