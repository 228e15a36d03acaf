"""(g) The I/O-bound case: every stage waits 0.5 s, with N runs in flight.

The agents are ``async def``: each stage awaits ``asyncio.sleep`` and returns the contract
of :mod:`bench.agents`; a role runs its agent on one event loop with ``concurrency`` = N
tasks in flight, and the store is durable (sync on) as in (a). A closed loop keeps N runs in
flight (:class:`~bench.timing.Window`; the first N start spread over one ideal run, so they
do not move through the stages as one cohort), each followed from the journal as in
:mod:`bench.ours`. The ideal is N / (4 x 0.5 s) runs/s: runs that do nothing but wait.

The model variant makes each stage a ``[roles.X.llm]`` role calling
:mod:`handoffs.testing.llm_server` (0.5 s latency, every draft approved) through the
``openai`` SDK; the server runs in a process of its own, so its CPU is not counted as ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import IO, Any, TypeVar

import msgspec
from handoffs.actors.ray_agent import connect
from handoffs.messages import LLMSpec, RaySpec, Task

from bench import agents
from bench.agents import bench_config
from bench.child import interrupt
from bench.footprint import in_flight_figures
from bench.ours import measure
from bench.timing import Window

__all__ = ["publish", "research", "review", "run", "run_llm", "run_ray", "write"]

T = TypeVar("T")
#: The variable that tells a Ray worker's agents how long to wait (the row's setting).
_STAGE_SECONDS_ENV = "HANDOFFS_BENCH_STAGE_SECONDS"
#: Seconds each stage waits; set from the row's params before the runtime starts (and, in a
#: Ray worker, from the environment the row gives it).
_settings = {"stage_seconds": float(os.environ.get(_STAGE_SECONDS_ENV, "0.5"))}
#: The variable the model roles read their (unchecked) key from.
_KEY_ENV = "HANDOFFS_BENCH_LLM_KEY"
_MODEL = "handoffs-test"
#: Seconds the model server has to print its URL.
_SERVER_START_TIMEOUT = 30.0


def _waiting(stage: Callable[[Task], T]) -> Callable[[Task], Coroutine[Any, Any, T]]:
    """The :mod:`bench.agents` agent ``stage`` as an async agent that waits first."""

    async def agent(task: Task) -> T:
        await asyncio.sleep(_settings["stage_seconds"])
        return stage(task)

    agent.__name__ = agent.__qualname__ = stage.__name__
    agent.__doc__ = f"{stage.__doc__} After the wait."
    return agent


research = _waiting(agents.research)
write = _waiting(agents.write)
review = _waiting(agents.review)
publish = _waiting(agents.publish)


def _driver(params: dict[str, Any]) -> Callable[[Callable[[int], None]], Window]:
    n: int = params["in_flight"]
    ramp = 4 * params["stage_seconds"]
    return lambda start: Window(start, window=n, ramp=ramp, footprint=True)


def run(params: dict[str, Any]) -> dict[str, Any]:
    """``in_flight`` runs of async agents awaiting ``asyncio.sleep(stage_seconds)``."""
    _settings["stage_seconds"] = params["stage_seconds"]
    config = bench_config(concurrency=params["in_flight"], agents="bench.io_bound")
    result = measure(params, _driver(params), config)
    return in_flight_figures(result, params["in_flight"], params["stage_seconds"])


def run_ray(params: dict[str, Any]) -> dict[str, Any]:
    """As :func:`run`, with the write role's agents on a local Ray cluster started in this
    process: one Ray actor running ``in_flight`` tasks on its event loop."""
    _settings["stage_seconds"] = params["stage_seconds"]
    config = bench_config(concurrency=params["in_flight"], agents="bench.io_bound")
    env = {"env_vars": {_STAGE_SECONDS_ENV: str(params["stage_seconds"])}}
    spec = RaySpec(address="local", num_cpus=0, runtime_env=env)
    write_role = msgspec.structs.replace(config.roles["write"], executor="ray", ray=spec)
    config = msgspec.structs.replace(config, roles={**config.roles, "write": write_role})
    # Ray itself starts first (seconds on a busy machine), not inside the measured window.
    connect(spec)
    result = measure(params, _driver(params), config)
    return in_flight_figures(result, params["in_flight"], params["stage_seconds"])


def run_llm(params: dict[str, Any]) -> dict[str, Any]:
    """``in_flight`` runs whose every stage is a model call with ``stage_seconds`` latency."""
    with _model_server(params["stage_seconds"]) as base_url:
        os.environ.setdefault(_KEY_ENV, "bench")
        spec = LLMSpec(model=_MODEL, base_url=base_url, api_key_env=_KEY_ENV)
        config = bench_config(concurrency=params["in_flight"], llm=spec)
        result = measure(params, _driver(params), config)
    result["extra"]["model_server"] = base_url
    return in_flight_figures(result, params["in_flight"], params["stage_seconds"])


@contextlib.contextmanager
def _model_server(latency: float) -> Iterator[str]:
    """Serve :mod:`handoffs.testing.llm_server` in a child process; yield its base URL."""
    cmd = [
        sys.executable, "-m", "handoffs.testing.llm_server", "--port", "0",
        "--latency", str(latency), "--approve-from", "0", "--model", _MODEL,
    ]  # fmt: skip
    # Its log goes to a file: a full pipe would block the server.
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            yield _read_url(proc, log)
        finally:
            interrupt(proc, timeout=10)


def _read_url(proc: subprocess.Popen[str], log: IO[str]) -> str:
    """The first line the server prints: its base URL."""
    lines: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    assert stdout is not None
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        url = lines.get(timeout=_SERVER_START_TIMEOUT).strip()
    except queue.Empty:
        url = ""
    if not url.startswith("http"):
        proc.kill()
        proc.wait()
        log.seek(0)
        raise RuntimeError(f"the model server did not start: {url or log.read()[-2000:]}")
    return url
