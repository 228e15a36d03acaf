"""What can be known about a model role before any request: said by ``handoffs check`` and
``Runtime.open``, each problem naming the role and the key."""

from __future__ import annotations

import os
from collections.abc import Iterable

from handoffs.llm.errors import SchemaUnsupported
from handoffs.llm.prompt import check_template
from handoffs.llm.schema import StrictSchema
from handoffs.messages import ContractError, ContractRegistry, LLMSpec, StageSpec

__all__ = ["llm_role_problems"]


def llm_role_problems(
    role: str, spec: LLMSpec, stages: Iterable[StageSpec], registry: ContractRegistry
) -> list[str]:
    """Every problem of the model role ``role``: its key variable is unset or empty, its
    prompt template does not render, a contract of one of its stages cannot be sent as a
    strict JSON schema. (An unreachable endpoint or an unknown model only a request can tell:
    the run escalates with the server's message.)"""
    at = f"$.roles.{role}.llm"
    problems: list[str] = []
    if not os.environ.get(spec.api_key_env):
        problems.append(
            f"role {role!r}: the API key variable {spec.api_key_env} is not set "
            f"(export it, or name another with api_key_env) at `{at}.api_key_env`"
        )
    if spec.prompt is not None:
        problems.extend(
            f"role {role!r}: prompt template: {problem} at `{at}.prompt`"
            for problem in check_template(spec.prompt)
        )
    seen: set[str] = set()
    for stage in stages:
        if stage.output in seen:
            continue
        seen.add(stage.output)
        try:
            StrictSchema.for_contract(registry.get(stage.output))
        except ContractError:
            continue  # reported by the pipeline checks
        except SchemaUnsupported as exc:
            problems.append(
                f"role {role!r}: contract {stage.output} cannot be a strict JSON schema: {exc}"
            )
    return problems
