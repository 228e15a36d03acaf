"""(h) Fan-out and fan-in: research, then four branches at once, then a join.

``research -> (blog, faq, changelog, summary) -> publish`` (``join = "all"``): six handoffs a
run, the four branch tasks dispatched in the commit that accepts the research, the join
started in the commit that records the last branch. The work is :mod:`bench.work`'s: each
branch writes a draft from the findings, the join publishes one. One role per stage, as in
the chain (:func:`bench.agents.bench_config`). LangGraph runs the same shape with parallel
edges (:func:`bench.langgraph_peer.fan_graph`).
"""

from __future__ import annotations

from typing import Any

from handoffs.messages import (
    Config,
    DocPage,
    Draft,
    PipelineSpec,
    ResearchFindings,
    RoleSpec,
    StageSpec,
    Task,
)

from bench import work
from bench.agents import PIPELINE
from bench.ours import measure
from bench.timing import Window

__all__ = ["BRANCHES", "branch", "fan_config", "publish", "research", "run_saturated"]

#: The four stages the research fans out to.
BRANCHES = ("blog", "faq", "changelog", "summary")


def research(task: Task) -> ResearchFindings:
    """The fan-out's source."""
    return work.research(task.input["topic"])


def branch(task: Task) -> Draft:
    """Each branch: a draft from the findings."""
    findings: ResearchFindings = task.inputs["research"]
    return work.write(findings)


def publish(task: Task) -> DocPage:
    """The join: it receives every branch's draft and publishes the first."""
    drafts: list[Draft] = [task.inputs[name] for name in BRANCHES]
    return work.publish(drafts[0])


def fan_config(*, concurrency: int = 1) -> Config:
    """``research -> (blog, faq, changelog, summary) -> publish``, one role per stage."""
    agents = {"research": "research", "publish": "publish"} | {b: "branch" for b in BRANCHES}
    roles = {
        stage: RoleSpec(agent=f"bench.fanout:{agent}", concurrency=concurrency)
        for stage, agent in agents.items()
    }
    stages = {
        "research": StageSpec(role="research", output="ResearchFindings", next=list(BRANCHES)),
        **{b: StageSpec(role=b, output="Draft", next="publish") for b in BRANCHES},
        "publish": StageSpec(role="publish", output="DocPage", join="all"),
    }
    return Config(roles=roles, pipelines={PIPELINE: PipelineSpec(start="research", stages=stages)})


def run_saturated(params: dict[str, Any]) -> dict[str, Any]:
    """(h): keep ``window`` fan-out runs in flight for ``duration`` seconds."""
    config = fan_config(concurrency=params["concurrency"])
    return measure(
        params,
        lambda start: Window(start, window=params["window"], submitters=params["submitters"]),
        config,
    )
