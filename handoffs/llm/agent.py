"""The model agent: what a ``[roles.X.llm]`` role runs. An async agent like any other.

For each task it renders the prompt (``handoffs.llm.prompt``), asks the model for the stage's
contract as a strict JSON schema (``handoffs.llm.schema``), calls the endpoint with retries
(``handoffs.llm.client``) and returns the decoded output with quality markers: the contract's
own confidence and completeness when it has them (the runtime fills those in), and the model
and token usage in the markers' notes. Invalid output raises ``OutputRejected`` (the stage
runs again with validator feedback the next prompt carries); a refused request raises
``RequestRefused`` (the run escalates at once).
"""

from __future__ import annotations

from typing import Any

import msgspec

from handoffs.llm.client import ChatModel, Completion
from handoffs.llm.metrics import LLMMetrics
from handoffs.llm.prompt import render_messages
from handoffs.llm.schema import StrictSchema
from handoffs.messages import ContractRegistry, LLMSpec, QualityMarkers, Result, Task

__all__ = ["LLMAgent", "usage_notes"]


def usage_notes(completion: Completion) -> str:
    """The quality notes a model's handoff carries: model, tokens, requests."""
    return (
        f"model={completion.model} prompt_tokens={completion.prompt_tokens} "
        f"completion_tokens={completion.completion_tokens} requests={completion.requests}"
    )


class LLMAgent:
    """Calls one model for each task of a role. One instance per event loop (per actor)."""

    def __init__(
        self,
        spec: LLMSpec,
        *,
        role: str,
        contracts: dict[str, type[msgspec.Struct]],
        metrics: LLMMetrics | None = None,
    ) -> None:
        """``contracts`` maps each stage name this role runs (``pipeline/stage`` and bare
        ``stage``) to its output contract."""
        self.spec = spec
        self.role = role
        self._contracts = contracts
        self._metrics = metrics
        self._model: ChatModel | None = None

    @classmethod
    def for_role(
        cls,
        role: str,
        spec: LLMSpec,
        stages: dict[tuple[str, str], str],
        registry: ContractRegistry,
        metrics: LLMMetrics | None = None,
    ) -> LLMAgent:
        """The agent of ``role``, knowing the contract of each ``(pipeline, stage)`` it runs."""
        contracts = {f"{p}/{s}": registry.get(kind) for (p, s), kind in stages.items()}
        return cls(spec, role=role, contracts=contracts, metrics=metrics)

    async def setup(self) -> None:
        """Open the client (on the role's event loop)."""
        self._model = ChatModel(self.spec, role=self.role, metrics=self._metrics)

    async def teardown(self) -> None:
        """Close the client's connections."""
        if self._model is not None:
            await self._model.aclose()

    async def __call__(self, task: Task) -> Any:
        model = self._model
        if model is None:
            raise RuntimeError(f"the model agent of role {self.role} is not set up")
        schema = StrictSchema.for_contract(self._contracts[f"{task.pipeline}/{task.stage}"])
        messages = render_messages(task, schema, system=self.spec.system, prompt=self.spec.prompt)
        completion = await model.complete(messages, schema)
        return Result(completion.output, quality=QualityMarkers(notes=usage_notes(completion)))
