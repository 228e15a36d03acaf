"""The example configs decode, name importable agents and contracts, and hang together."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from handoffs.actors.topology import targets
from handoffs.examples.inputs import CYCLE, demo_inputs
from handoffs.messages import BUNDLED_CONTRACTS, Config, ContractRegistry, import_object

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIGS = ["content.toml", "support.toml", "coding.toml", "demo.toml", "fanout.toml"]


def load(name: str) -> Config:
    return msgspec.toml.decode((EXAMPLES / name).read_bytes(), type=Config)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_decodes_and_its_agents_and_contracts_import(name: str) -> None:
    config = load(name)
    for role in config.roles.values():
        agent = import_object(role.agent)
        assert callable(agent), role.agent
    registry = ContractRegistry()
    for contract_name, path in config.contracts.items():
        registry.register(path, name=contract_name)
    for pipeline in config.pipelines.values():
        assert pipeline.start in pipeline.stages
        for stage in pipeline.stages.values():
            assert stage.role in config.roles
            assert stage.output in registry
            assert set(targets(stage)) <= set(pipeline.stages)
            assert stage.on_reject is None or stage.on_reject in pipeline.stages
            assert (stage.on_reject is not None) == (stage.output == "Verdict")
        if pipeline.trigger is not None:
            kind = registry.get(pipeline.trigger.kind)
            assert pipeline.trigger.when in kind.__struct_fields__


def test_demo_config_is_the_three_pattern_configs_together() -> None:
    demo = load("demo.toml")
    parts = [load(n) for n in ("content.toml", "support.toml", "coding.toml")]
    assert demo.roles == {k: v for p in parts for k, v in p.roles.items()}
    assert demo.pipelines == {k: v for p in parts for k, v in p.pipelines.items()}
    assert demo.contracts == {k: v for p in parts for k, v in p.contracts.items()}
    assert sorted(demo.pipelines) == ["coding", "content", "knowledge_base", "support"]


def test_gates_of_the_seed_patterns() -> None:
    demo = load("demo.toml")
    assert demo.pipelines["content"].stages["research"].gates.min_sources == 2
    assert demo.pipelines["coding"].stages["implement"].gates.require_tests_passed
    trigger = demo.pipelines["knowledge_base"].trigger
    assert trigger is not None and (trigger.kind, trigger.when) == ("SupportResolution", "doc_gap")
    assert "Publication" not in BUNDLED_CONTRACTS and "Publication" in demo.contracts


def test_demo_inputs_cycle_over_every_pipeline_that_takes_input() -> None:
    assert demo_inputs(0) == []
    runs = demo_inputs(len(CYCLE) * 2 + 3)
    assert runs[: len(CYCLE)] == list(CYCLE) == runs[len(CYCLE) : 2 * len(CYCLE)]
    assert {p for p, _ in runs} == {"content", "support", "coding"}
    assert demo_inputs(5) == demo_inputs(5)
    first, second = demo_inputs(2)
    assert first == ("content", {"topic": "solar panels"})  # revisions
    assert second == ("content", {"topic": "electric bikes"})  # escalation
    runs[0][1]["topic"] = "changed"
    assert CYCLE[0][1]["topic"] == "solar panels"


def test_demo_inputs_rejects_a_negative_count() -> None:
    with pytest.raises(ValueError, match=r"^runs must be >= 0, got -1$"):
        demo_inputs(-1)
