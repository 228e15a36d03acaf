"""Runtime test helpers: a config of fake agents (see ``fakes``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from handoffs.messages import (
    Config,
    GateSpec,
    PipelineSpec,
    RoleSpec,
    StageSpec,
    TriggerSpec,
)

from handoffs import Runtime


def make_config(
    *,
    max_revisions: int = 2,
    max_attempts: int = 3,
    timeout: float | None = None,
    concurrency: int = 1,
    agents: str = "fakes",
    **role_options: Any,
) -> Config:
    """research -> write -> review -> publish, plus support -> (trigger) faq, plus code.

    ``agents`` names the module of fake agents: ``fakes`` (sync) or ``async_fakes``.
    """
    roles = {
        name: RoleSpec(agent=f"{agents}:{name}", concurrency=concurrency, **role_options)
        for name in ("research", "write", "review", "publish", "support", "faq", "code")
    }

    def stage(role: str, output: str, **kw: Any) -> StageSpec:
        return StageSpec(
            role=role,
            output=output,
            max_attempts=max_attempts,
            retry_backoff=0.001,
            timeout=timeout,
            **kw,
        )

    content = PipelineSpec(
        start="research",
        stages={
            "research": stage(
                "research",
                "ResearchFindings",
                instruction="Research {topic}: key findings with sources.",
                next="write",
                gates=GateSpec(min_confidence=0.6, min_sources=2),
                max_revisions=max_revisions,
            ),
            "write": stage("write", "Draft", instruction="Write about {topic}.", next="review"),
            "review": stage(
                "review",
                "Verdict",
                on_reject="write",
                max_revisions=max_revisions,
                next="publish",
            ),
            "publish": stage("publish", "DocPage", instruction="Publish {topic} at {missing}."),
        },
    )
    support = PipelineSpec(
        start="support", stages={"support": stage("support", "SupportResolution")}
    )
    kb = PipelineSpec(
        start="faq",
        stages={"faq": stage("faq", "DocPage")},
        trigger=TriggerSpec(kind="SupportResolution", when="doc_gap"),
    )
    coding = PipelineSpec(
        start="code",
        stages={
            "code": stage(
                "code",
                "CodeChange",
                gates=GateSpec(require_tests_passed=True),
                max_revisions=max_revisions,
            )
        },
    )
    return Config(
        roles=roles,
        pipelines={"content": content, "support": support, "kb": kb, "coding": coding},
    )


def approval_config() -> Config:
    """content, with a person approving the draft between write and publish."""
    config = make_config()
    content = config.pipelines["content"]
    stages = dict(content.stages)
    stages["write"] = msgspec.structs.replace(stages["write"], next="approve")
    stages["approve"] = StageSpec(
        role="human",
        output="Verdict",
        on_reject="write",
        next="publish",
        instruction="Check the draft about {topic}.",
    )
    stages.pop("review")
    pipelines = {**config.pipelines, "content": msgspec.structs.replace(content, stages=stages)}
    return msgspec.structs.replace(config, pipelines=pipelines)


OpenRuntime = Callable[..., Runtime]
