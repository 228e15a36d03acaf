"""A runtime process whose agent kills it on a poison task (run by test_poison).

Usage: python poison_child.py DATA_DIR. Submits three ordinary runs (idempotent keys) and
waits for them, then a poison run, and waits for it; prints ``done`` when everything settled.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from handoffs.messages import CodeChange, Config, PipelineSpec, RoleSpec, StageSpec

from handoffs import Runtime


def agent(task: Any) -> CodeChange:
    if task.input.get("poison"):
        os.kill(os.getpid(), signal.SIGKILL)  # a native crash, an OOM kill: the process dies
    return CodeChange(summary="s", files_changed=[], how_it_works="h", tests_passed=1)


def config() -> Config:
    stage = StageSpec(role="worker", output="CodeChange", max_attempts=3)
    return Config(
        roles={"worker": RoleSpec(agent="poison_child:agent")},
        pipelines={"p": PipelineSpec(start="work", stages={"work": stage})},
    )


def main(data: str) -> None:
    with Runtime.open(config(), data) as runtime:
        ordinary = [
            runtime.submit("p", {"n": n}, idempotency_key=f"ok-{n}").run_id for n in range(3)
        ]
        for run_id in ordinary:
            runtime.wait(run_id, timeout=60)
        poison = runtime.submit("p", {"poison": True}, idempotency_key="poison").run_id
        runtime.wait(poison, timeout=60)
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
