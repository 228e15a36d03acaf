"""A batch says whether it writes anything without counting every record kind."""

from __future__ import annotations

from handoffs.messages import Run
from handoffs.store import Batch


def _run() -> Run:
    return Run(
        run_id="run-000000000000000000000001",
        pipeline="p",
        state="running",
        stage="s",
        input={},
        created_at=1.0,
        updated_at=1.0,
    )


def test_an_empty_batch_is_false_and_any_record_makes_it_true() -> None:
    assert not Batch()
    assert len(Batch()) == 0
    with_event, with_run = Batch(), Batch()
    with_event.event("run.submitted", run_id="run-000000000000000000000001")
    with_run.put_run(_run(), was=None)
    assert with_event and with_run
    assert (len(with_event), len(with_run)) == (1, 1)
