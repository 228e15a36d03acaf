"""The bench work (:mod:`bench.work`) as handoffs agents, and the pipeline config that runs it.

Agents are plain callables of a :class:`~handoffs.messages.Task`; the config names them by
import path (``bench.agents:research``), so a child process started from the repository root
imports them like any user's agents.
"""

from __future__ import annotations

from handoffs.messages import (
    Config,
    DocPage,
    Draft,
    LLMSpec,
    PipelineSpec,
    ResearchFindings,
    RoleSpec,
    StageSpec,
    Task,
    Verdict,
)

from bench import work

__all__ = [
    "PIPELINE",
    "bench_config",
    "publish",
    "research",
    "review",
    "set_reject_percent",
    "write",
]

PIPELINE = "bench"


def research(task: Task) -> ResearchFindings:
    """Stage 1."""
    return work.research(task.input["topic"])


def write(task: Task) -> Draft:
    """Stage 2 (a revision when the review sent the draft back)."""
    findings: ResearchFindings = task.inputs["research"]
    return work.write(findings, task.revision)


#: Percent of runs whose first draft the review rejects (scenario b); set before the runtime
#: starts, read by the review agents' threads.
_settings = {"reject_percent": 0}


def set_reject_percent(percent: int) -> None:
    """Make the review reject the first draft of ~``percent``% of runs (0: approve all)."""
    _settings["reject_percent"] = percent


def review(task: Task) -> Verdict:
    """Stage 3: rejects the first draft of ~``set_reject_percent``% of runs, once each."""
    percent = _settings["reject_percent"]
    reject = task.revision == 0 and work.rejects_first_draft(task.run_id, percent)
    return work.review(task.inputs["write"], reject)


def publish(task: Task) -> DocPage:
    """Stage 4."""
    return work.publish(task.inputs["write"])


def bench_config(
    *,
    concurrency: int = 1,
    max_revisions: int = 3,
    agents: str = "bench.agents",
    llm: LLMSpec | None = None,
) -> Config:
    """One pipeline, ``research -> write -> review -> publish``, one role per stage, whose
    agent is ``{agents}:{stage}`` (module ``agents`` names its agents after the stages), or
    the model ``llm`` when given."""
    roles = {
        stage: RoleSpec(agent=f"{agents}:{stage}", concurrency=concurrency)
        if llm is None
        else RoleSpec(llm=llm, concurrency=concurrency)
        for stage in work.STAGES
    }
    stages = {
        "research": StageSpec(role="research", output="ResearchFindings", next="write"),
        "write": StageSpec(role="write", output="Draft", next="review"),
        "review": StageSpec(
            role="review",
            output="Verdict",
            next="publish",
            on_reject="write",
            max_revisions=max_revisions,
        ),
        "publish": StageSpec(role="publish", output="DocPage"),
    }
    return Config(roles=roles, pipelines={PIPELINE: PipelineSpec(start="research", stages=stages)})
