"""The shell's agent side: which agent actor gets which task, and when.

A task goes to an agent only once its write as ``running`` is committed (its attempt is
durable first). The router answers the decider's :class:`~handoffs.actors.decision.Capacity`
(room per role, held for tasks being written running), sends tasks to agent actors, moves
waiting tasks along as room appears, withdraws tasks no longer wanted, and gives what a dead
or stuck actor held to another. Owned by the orchestrator and used only on its thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pykka
from handoffs.actors.decision import LiveTask, render_instruction
from handoffs.actors.dispatch import Dispatcher, Slot
from handoffs.actors.ledger import Ledger
from handoffs.actors.metrics import RuntimeMetrics
from handoffs.actors.pipelines import Pipelines
from handoffs.actors.protocol import ActorExited, Perform, QueueExpired, Redispatch
from handoffs.actors.stall import Stall
from handoffs.actors.timers import Timers
from handoffs.actors.topology import split_key
from handoffs.messages import QualityMarkers, Task, TaskRecord, decode_msgpack
from handoffs.store import Store, StoreError

__all__ = ["STARTING", "Router"]

#: ``LiveTask.slot`` of a task whose write as ``running`` is not committed yet: no agent may
#: have it before that, however else it is reached (a waiting queue may name it twice, a
#: stale entry may name a retried task).
STARTING: Any = object()


class Router:
    """Agent actors by role, their room, and the tasks waiting for it."""

    #: The decider's memory (set by the orchestrator: the router is the decider's Capacity,
    #: so it exists first).
    ledger: Ledger

    def __init__(
        self,
        pipelines: Pipelines,
        store: Store,
        metrics: RuntimeMetrics,
        timers: Timers,
        ref: pykka.ActorRef[Any],
        stall: Stall,
        start: Callable[[LiveTask], None],
        *,
        paused: bool,
    ) -> None:
        self._pipelines = pipelines
        self._store = store
        self._metrics = metrics
        self._timers = timers
        self._ref = ref
        self._stall = stall
        #: Writes a waiting task running (a decision of its own), then ``Start`` follows.
        self._start = start
        self.dispatcher = Dispatcher()
        self.slots_by_name: dict[str, Slot] = {}
        #: Per role: tasks written ``running`` whose dispatch waits for that commit.
        self._marking: dict[str, int] = {}
        #: Opened paused (``Resume`` ends it): recovered work waits, nothing is dispatched.
        self.paused = paused
        #: Closing: nothing more is dispatched.
        self.draining = False
        #: The stages with a ``queue_timeout``, by (pipeline, stage).
        self._queue_limits = {
            key: stage.spec.queue_timeout
            for key, stage in pipelines.stages.items()
            if stage.spec.queue_timeout is not None
        }

    # ----------------------------------------------------------------- capacity

    def reserve(self, role: str) -> bool:
        """The decider's ``Capacity``: whether ``role`` has room for one more task beyond
        those being written running; if so, hold it."""
        if self.paused or self._stall.reason is not None:
            return False
        marking = self._marking.get(role, 0)
        if not self.dispatcher.has_room(role, marking):
            return False
        self._marking[role] = marking + 1
        return True

    def release(self, role: str) -> None:
        self._marking[role] = max(0, self._marking.get(role, 0) - 1)

    def started(self, live: LiveTask) -> None:
        """``live``'s write as running is committed (the ``Start`` effect): dispatch it."""
        self.release(live.record.role)
        if live.slot is STARTING:
            live.slot = None
        self.dispatch(live)

    # ----------------------------------------------------------------- memory

    def forget(self, *, soft: bool) -> dict[tuple[str, int], Slot]:
        """Memory is reloaded: nothing is being written running or waits any more. Return
        which agent holds which task (``soft``: the agents still work on them), or drop
        what agents held (a fresh start)."""
        self._marking = {}
        held = {key: s for s in self.slots_by_name.values() for key in s.inflight} if soft else {}
        if not soft:
            for slot in self.slots_by_name.values():
                self._metrics.inflight(slot.role, -len(slot.inflight))
                slot.inflight.clear()
        for role in list(self.dispatcher.roles()):
            self.dispatcher.waiting(role).clear()
        return held

    def hold(self, actor: str, key: tuple[str, int]) -> None:
        """``actor`` still counts as holding ``key`` (its answer is held, to be decided
        again): the answer is awaited, the task not dispatched again."""
        slot = self.slots_by_name.get(actor)
        if slot is not None and key not in slot.inflight:
            slot.inflight.add(key)
            self._metrics.inflight(slot.role, 1)

    # ----------------------------------------------------------------- dispatch

    def dispatch_later(self, live: LiveTask, delay: float) -> None:
        if delay <= 0:
            self.dispatch(live)
            return
        message = Redispatch(live.record.task_id, live.record.attempt)
        ref = self._ref
        self._timers.call_later(delay, lambda: ref.tell(message))

    def dispatch(self, live: LiveTask) -> None:
        rec = live.record
        # Already sent (through the waiting queue, say), or being written running.
        if self.draining or live.slot is not None or rec.task_id not in self.ledger.tasks:
            return
        if live.queued_at == 0.0:
            live.queued_at = time.monotonic()
            limits = self._queue_limits
            limit = limits.get((rec.pipeline, rec.stage)) if limits else None
            if limit is not None:
                expired = QueueExpired(rec.task_id, rec.attempt)
                ref = self._ref
                self._timers.call_later(limit, lambda: ref.tell(expired))
        if self._stall.reason is not None or self.paused:
            # No agent works while nothing can be stored (or before the runtime resumes).
            self.dispatcher.enqueue(rec.role, rec.task_id)
            return
        if rec.state != "running":
            if self.reserve(rec.role):
                self._start(live)
            else:
                self.dispatcher.enqueue(rec.role, rec.task_id)
            return
        slot = self.dispatcher.pick(rec.role, avoid=live.avoid)
        if slot is None:
            self.dispatcher.enqueue(rec.role, rec.task_id)
        else:
            self._send(live, slot)

    def pump(self, role: str) -> None:
        """Room appeared for ``role``: move its waiting tasks along."""
        if self.draining or self._stall.reason is not None or self.paused:
            return
        queue = self.dispatcher.waiting(role)
        tasks = self.ledger.tasks
        while queue:
            live = tasks.get(queue[0])
            if live is None or live.slot is not None:
                queue.popleft()
                continue
            if live.record.state != "running":
                if not self.reserve(role):
                    return
                queue.popleft()
                self._start(live)
                continue
            slot = self.dispatcher.pick(role)
            if slot is None:
                return
            queue.popleft()
            self._send(live, slot)

    def pump_all(self) -> None:
        for role in list(self.dispatcher.roles()):
            self.pump(role)

    def _send(self, live: LiveTask, slot: Slot) -> None:
        rec = live.record
        task = self._build_task(rec)
        stage = self._pipelines.stage(rec.pipeline, rec.stage)
        spec = stage.spec
        perform = Perform(
            task, stage.contract, spec.output, spec.timeout, live.queued_at, spec.max_output_bytes
        )
        try:
            slot.handle.send(perform)
        except pykka.ActorDeadError:
            # Died, and its ActorExited (told after its last result) is on the way: send it
            # nothing more, give this task to another, and leave what it held to on_exit.
            self.dispatcher.remove(slot.role, slot.index, slot.name)
            self.dispatch(live)
            return
        slot.inflight.add((rec.task_id, rec.attempt))
        live.slot = slot
        self._metrics.inflight(slot.role, 1)

    def _build_task(self, rec: TaskRecord) -> Task:
        run = self.ledger.runs[rec.run_id]
        spec = self._pipelines.stage(rec.pipeline, rec.stage).spec
        inputs: dict[str, Any] = {}
        quality: dict[str, QualityMarkers] = {}
        items: dict[str, dict[int, Any]] = {}
        for name, artifact_id in run.latest.items():
            if ":" not in name:
                inputs[name], quality[name] = self._payload(artifact_id)
                continue
            # An output of a map branch (``stage:item``): a task of that branch sees its own
            # item's; any other task sees them all, as a list in item order.
            stage, item = split_key(name)
            value, markers = self._payload(artifact_id)
            if item is None or rec.item is not None:
                if item == rec.item:
                    inputs[stage], quality[stage] = value, markers
                continue
            items.setdefault(stage, {})[item] = value
            quality[name] = markers
        for stage, by_item in items.items():
            inputs[stage] = [by_item[i] for i in sorted(by_item)]
        # The deadline is set by the agent when it starts the task: that starts the lease.
        return Task(
            task_id=rec.task_id,
            run_id=rec.run_id,
            pipeline=rec.pipeline,
            stage=rec.stage,
            instruction=render_instruction(spec.instruction, run.input),
            input=run.input,
            inputs=inputs,
            quality=quality,
            feedback=rec.feedback,
            revision=rec.revision,
            attempt=rec.attempt,
            item=rec.item_value,
            item_index=rec.item,
        )

    def _payload(self, artifact_id: str) -> tuple[Any, QualityMarkers]:
        """An upstream output, decoded, and its quality markers."""
        known = self.ledger.payloads.get(artifact_id)
        if known is None:
            handoff = self._store.get_artifact(artifact_id)
            if handoff is None:
                raise StoreError(f"artifact {artifact_id} is missing from the store")
            contract = self._pipelines.registry.get(handoff.kind)
            known = (decode_msgpack(handoff.payload, contract), handoff.quality)
            self.ledger.payloads[artifact_id] = known
        return known

    # ----------------------------------------------------------------- agents

    def add_actor(self, role: str, index: int, handle: Any, name: str) -> None:
        self.slots_by_name[name] = self.dispatcher.add(role, index, handle, name)
        self.pump(role)

    def answered(self, actor: str, key: tuple[str, int]) -> None:
        """The agent ``actor`` answered ``key``: its room is free (whether or not the answer
        is still current, which the decider judges)."""
        slot = self.slots_by_name.get(actor)
        if slot is not None and key in slot.inflight:
            slot.stuck = False
            slot.inflight.discard(key)
            self._metrics.inflight(slot.role, -1)
            # Room for a task waiting for this role (``key`` still has its slot, so a queue
            # naming it skips it). Drain is checked after every group, so a late result that
            # was the last awaited ends it.
            self.pump(slot.role)
        live = self.ledger.tasks.get(key[0])
        if live is not None and live.record.attempt == key[1] and live.slot is not STARTING:
            live.slot = None
            live.queued_at = 0.0

    def withdraw(self, live: LiveTask) -> None:
        """The ``Withdraw`` effect: the agent holding ``live`` drops or cancels it."""
        slot = live.slot
        if not isinstance(slot, Slot):
            return
        live.slot = None
        key = (live.record.task_id, live.record.attempt)
        slot.handle.withdraw(key)
        if key in slot.inflight:
            slot.inflight.discard(key)
            self._metrics.inflight(slot.role, -1)
            self.pump(slot.role)

    def overran(self, live: LiveTask, slot: Slot) -> None:
        """``live`` overran its lease on ``slot``: its late answer is stale. An event loop
        cancels it, and its room is free at once. A thread cannot be interrupted: it is
        stuck until it answers, and the tasks queued behind the hung one (none of them
        started) go to other actors."""
        live.avoid, live.slot, live.queued_at = slot, None, 0.0
        key = (live.record.task_id, live.record.attempt)
        handle = slot.handle
        if handle.cancels:
            handle.withdraw(key)
            if key in slot.inflight:
                slot.inflight.discard(key)
                self._metrics.inflight(slot.role, -1)
            self.pump(slot.role)
            return
        slot.stuck = True
        tasks = self.ledger.tasks
        for other in sorted(slot.inflight - {key}):
            queued = tasks.get(other[0])
            if queued is None or queued.record.attempt != other[1] or queued.slot is not slot:
                continue
            handle.withdraw(other)
            slot.inflight.discard(other)
            self._metrics.inflight(slot.role, -1)
            queued.slot = None
            self.dispatcher.enqueue(slot.role, other[0], front=True)
        self.pump(slot.role)

    def on_exit(self, msg: ActorExited) -> None:
        """The actor is gone, and every result it sent is decided: what it held and had not
        answered goes to another actor, at the same attempt (it never ran)."""
        slot = self.slots_by_name.pop(msg.actor, None)
        if slot is None:
            return
        self.dispatcher.remove(slot.role, slot.index, slot.name)
        self._metrics.inflight(slot.role, -len(slot.inflight))
        # pykka dropped whatever was queued in the dead actor's mailbox: send it again.
        for task_id, attempt in sorted(slot.inflight):
            live = self.ledger.tasks.get(task_id)
            if live is not None and live.record.attempt == attempt and live.slot is slot:
                live.slot = None
                self.dispatcher.enqueue(slot.role, task_id, front=True)
        slot.inflight.clear()
        self.pump(slot.role)
