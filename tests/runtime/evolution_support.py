"""Configs for the config evolution tests: the fake config, and the same with its support
pipeline's one stage renamed from ``support`` to ``answer`` (declared, or not)."""

from __future__ import annotations

import msgspec
from handoffs.messages import Config
from runtime_support import make_config


def renamed_config(*, declared: bool = True) -> Config:
    config = make_config()
    support = config.pipelines["support"]
    moved = msgspec.structs.replace(
        support,
        start="answer",
        stages={"answer": support.stages["support"]},
        renamed={"support": "answer"} if declared else {},
    )
    return msgspec.structs.replace(config, pipelines={**config.pipelines, "support": moved})
