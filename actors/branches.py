"""Where an accepted output goes: the next stage, several (fan-out), one per item of a list
(map fan-out), a join that waits for its branches, or the end of the run.

A join with ``join = "all"`` starts once every inbound branch has arrived (for a map branch:
every item), ``"any"`` once one has, ``{ quorum = N }`` once N have; the branches it no
longer needs are withdrawn (their tasks dropped, late answers counted stale, their open
escalations closed). A branch that reaches a join that already started ends there. The run
completes when its last branch ends with nothing left to do: no task, no open escalation.

Pure: no pykka, no lmdb, no clock, no threads.
"""

from __future__ import annotations

from typing import Any

import msgspec
from handoffs.actors.decision import Decision
from handoffs.actors.ledger import Ledger
from handoffs.actors.topology import item_key
from handoffs.messages import Run, decode_msgpack

__all__ = ["Branches"]


class Branches:
    """Fan-out, map fan-out, joins and the end of a run, over the ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def advance(self, run: Run, stage: str, d: Decision, *, item: int | None = None) -> Run:
        """``stage``'s output (for ``item``) is accepted: start what comes next. ``run`` may
        hold changes not stored yet; return the run as stored."""
        ledger = self._ledger
        nexts = ledger.pipelines.stage(run.pipeline, stage).targets
        if not nexts:
            return self.branch_end(run, d)
        started = False  # whether a target took over (else this branch ends here)
        for target in nexts:
            spec = ledger.pipelines.stage(run.pipeline, target)
            if spec.spec.join is not None:
                run, fired = self._arrive(run, item_key(stage, item), target, d)
            elif spec.spec.for_each is not None:
                run, fired = self._start_map(run, target, d)
            elif spec.mapped is not None:
                value = self.item_value(run, spec.mapped, item)
                run, fired = ledger.new_task(run, target, d, item=item, item_value=value), True
            else:
                run, fired = ledger.new_task(run, target, d), True
            if run.state not in ("running", "escalated"):
                return run  # it ended (a list over max_items)
            started = started or fired
        return run if started else self.branch_end(run, d)

    def branch_end(self, run: Run, d: Decision) -> Run:
        """A branch has nothing more to do: the run completes when no other has either."""
        ledger = self._ledger
        if ledger.run_tasks.get(run.run_id) or ledger.run_escalations.get(run.run_id):
            return ledger.settle(run, d)
        waiting = run.arrived and sorted(
            j for j, got in run.arrived.items() if got and j not in run.joined
        )
        if waiting:  # unreachable for a config check_config accepts; never wait unseen
            reason = f"join {waiting[0]} waits for branches that ended without reaching it"
            return ledger.end_run(run, "failed", d, reason=reason)
        return ledger.end_run(run, "completed", d)

    def item_value(self, run: Run, mapped: str, item: int | None) -> Any:
        """Item ``item`` of the list the map stage ``mapped`` runs over."""
        if item is None:
            return None
        items = self._items(run, mapped)
        return items[item] if item < len(items) else None

    # ----------------------------------------------------------------- map fan-out

    def _items(self, run: Run, mapped: str) -> list[Any]:
        ledger = self._ledger
        spec = ledger.pipelines.stage(run.pipeline, mapped).spec
        assert spec.for_each is not None
        source, _, field = spec.for_each.rpartition(".")
        artifact_id = run.latest.get(source)
        if artifact_id is None:
            return []
        known = ledger.payloads.get(artifact_id)
        if known is None:
            handoff = ledger.reader.get_artifact(artifact_id)
            if handoff is None:  # corrupt data: the run fails with this, never a silent []
                raise LookupError(f"artifact {artifact_id} ({source}) is missing from the store")
            value = decode_msgpack(handoff.payload, ledger.pipelines.registry.get(handoff.kind))
            known = ledger.payloads[artifact_id] = (value, handoff.quality)
        return list(getattr(known[0], field, None) or [])

    def _start_map(self, run: Run, stage: str, d: Decision) -> tuple[Run, bool]:
        """One task of ``stage`` per item of its ``for_each`` list (none: its branch arrives
        at its join at once); whether something started."""
        ledger = self._ledger
        spec = ledger.pipelines.stage(run.pipeline, stage).spec
        items = self._items(run, stage)
        if len(items) > spec.max_items:
            reason = f"{stage}: {len(items)} items in {spec.for_each}, over max_items"
            return ledger.end_run(run, "failed", d, reason=f"{reason} {spec.max_items}"), False
        run = ledger.put_run(run, d, items={**run.items, stage: len(items)})
        for i, value in enumerate(items):
            run = ledger.new_task(run, stage, d, item=i, item_value=value)
        if items:
            return run, True
        join = ledger.pipelines.shapes[run.pipeline].joins.get(stage)
        return (run, False) if join is None else self._check_join(run, join, d)

    # ----------------------------------------------------------------- joins

    def _arrive(self, run: Run, key: str, join: str, d: Decision) -> tuple[Run, bool]:
        """A branch reaches ``join``; whether the join started."""
        if join in run.joined:  # it started without this branch, which ends here
            return run, False
        got = run.arrived.get(join, [])
        if key not in got:
            got = [*got, key]
        run = msgspec.structs.replace(run, arrived={**run.arrived, join: got})
        return self._check_join(run, join, d)

    def _expected(self, run: Run, join: str) -> list[str] | None:
        """The keys that reach ``join`` when every branch does (``None``: a map branch has
        not started yet, so how many is not known)."""
        ledger = self._ledger
        keys: list[str] = []
        for stage in ledger.pipelines.shapes[run.pipeline].inbound.get(join, []):
            mapped = ledger.pipelines.stage(run.pipeline, stage).mapped
            if mapped is None:
                keys.append(stage)
                continue
            count = run.items.get(mapped)
            if count is None:
                return None
            keys.extend(item_key(stage, i) for i in range(count))
        return keys

    def _check_join(self, run: Run, join: str, d: Decision) -> tuple[Run, bool]:
        ledger = self._ledger
        expected = self._expected(run, join)
        rule = ledger.pipelines.stage(run.pipeline, join).spec.join
        got = set(run.arrived.get(join, ()))
        if expected is None:
            ready = False
        elif rule == "all":
            ready = got >= set(expected)
        else:
            need = 1 if rule == "any" else getattr(rule, "quorum", 1)
            ready = len(got & set(expected)) >= min(need, len(expected))
        if not ready:
            return run, False
        arrived = {j: keys for j, keys in run.arrived.items() if j != join}
        run = msgspec.structs.replace(run, arrived=arrived, joined=[*run.joined, join])
        if rule != "all":
            self._withdraw_branches(run, join, d)
        return ledger.new_task(run, join, d), True

    def _withdraw_branches(self, run: Run, join: str, d: Decision) -> None:
        """``join`` started without some of its branches: they stop (tasks withdrawn, open
        escalations closed)."""
        ledger = self._ledger
        pipelines = ledger.pipelines
        inbound = pipelines.shapes[run.pipeline].inbound.get(join, [])
        branches = {pipelines.stage(run.pipeline, s).branch for s in inbound} - {None}
        why = f"join {join} went on without this branch"
        ledger.stop(
            run.run_id,
            d,
            error=why,
            feedback=why,
            only=lambda stage: pipelines.stage(run.pipeline, stage).branch in branches,
        )
