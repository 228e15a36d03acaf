"""What simulated agents answer: how often each fault happens, and valid outputs for any
contract (sampled from its strict JSON schema, as the fake model server does).
"""

from __future__ import annotations

import json
import random

import msgspec

from handoffs.actors.checks import ValidOutput
from handoffs.actors.events import TaskDone, TaskFailed
from handoffs.actors.pipelines import Stage
from handoffs.llm.errors import LLMError
from handoffs.llm.schema import StrictSchema
from handoffs.messages import ContractRegistry, Feedback, QualityMarkers, Verdict, encode_msgpack
from handoffs.messages.errors import HandoffsError
from handoffs.testing.sample import sample_instance

__all__ = ["Outputs", "Profile", "SimulationError"]

#: Who the simulated agents say they are.
AGENT = "sim/agent"
#: Different valid outputs kept per contract (sampling is the slow part).
_POOL = 6
_GOOD = QualityMarkers(completeness=1.0, confidence=1.0, sources_verified=True, tests_passed=True)
_POOR = QualityMarkers(completeness=0.0, confidence=0.0, sources_verified=False, tests_passed=False)


class SimulationError(HandoffsError):
    """The simulation cannot run (a contract it cannot make outputs for)."""


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    """Per-step and per-answer probabilities of each fault."""

    crash: float = 0.004
    store_full: float = 0.02
    role_down: float = 0.01
    #: Per submitted run: a caller cancels it a little later.
    cancel: float = 0.05
    hang: float = 0.03
    slow: float = 0.03
    exception: float = 0.08
    unrecoverable: float = 0.01
    invalid: float = 0.06
    reject: float = 0.3
    low_quality: float = 0.1

    def quiet(self) -> Profile:
        """After the faulty steps: agents that do their job, reviewers that mostly approve."""
        return Profile(
            crash=0,
            store_full=0,
            role_down=0,
            cancel=0,
            hang=0,
            slow=0,
            exception=0,
            unrecoverable=0,
            invalid=0,
            reject=0.1,
            low_quality=0.05,
        )


class Outputs:
    """Valid outputs per contract, sampled once from the seed, then drawn from a pool."""

    def __init__(self, registry: ContractRegistry, seed: int) -> None:
        self._registry = registry
        self._rng = random.Random(seed)
        self._pools: dict[str, list[ValidOutput]] = {}

    def answer(
        self,
        stage: Stage,
        key: tuple[str, int],
        seconds: float,
        profile: Profile,
        rng: random.Random,
    ) -> tuple[TaskDone | TaskFailed, str]:
        """What an agent of ``stage`` answers for ``key``, drawn from ``profile``, and what
        it did in words (for the trace)."""
        task_id, attempt = key
        draw = rng.random()
        if draw < profile.exception:
            return TaskFailed(task_id, attempt, AGENT, "boom", seconds), "raises"
        draw -= profile.exception
        if draw < profile.unrecoverable:
            failed = TaskFailed(task_id, attempt, AGENT, "no", seconds, unrecoverable=True)
            return failed, "gives up"
        draw -= profile.unrecoverable
        if draw < profile.invalid:
            feedback = Feedback(source="validator", issue="missing field `summary`")
            return TaskDone(task_id, attempt, AGENT, feedback, [], seconds), "answers invalid"
        if stage.is_review:
            approved = rng.random() >= profile.reject
            extra = [] if approved else [Feedback(source="reviewer", issue="too vague")]
            checked = self.valid(Verdict(approved=approved, feedback=extra))
        else:
            checked = self.sample(stage.spec.output, rng, good=rng.random() >= profile.low_quality)
        return TaskDone(task_id, attempt, AGENT, checked, [], seconds), "answers"

    def valid(self, value: msgspec.Struct, good: bool = True) -> ValidOutput:
        return ValidOutput(value, encode_msgpack(value), _GOOD if good else _POOR)

    def sample(self, contract: str, rng: random.Random, *, good: bool) -> ValidOutput:
        pool = self._pools.get(contract)
        if pool is None:
            pool = self._pools[contract] = self._fill(contract)
        value = rng.choice(pool).value
        return self.valid(value, good)

    def _fill(self, name: str) -> list[ValidOutput]:
        contract = self._registry.get(name)
        try:
            schema = StrictSchema.for_contract(contract)
        except LLMError as exc:
            raise SimulationError(f"cannot make outputs of contract {name}: {exc}") from None
        pool: list[ValidOutput] = []
        last = ""
        for _ in range(_POOL * 20):
            instance = sample_instance(schema.schema, self._rng)
            try:
                value = schema.decode(json.dumps(instance))
            except LLMError as exc:  # a constraint the sampler does not meet: draw again
                last = str(exc)
                continue
            pool.append(self.valid(value))
            if len(pool) == _POOL:
                return pool
        if pool:
            return pool
        raise SimulationError(f"cannot make a valid output of contract {name}: {last}")
