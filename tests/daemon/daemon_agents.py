"""Trivial agents for the daemon tests, imported by the daemon subprocess (on PYTHONPATH).

The run's input steers them: ``topic`` names the draft, ``approve: false`` makes the
reviewer reject every draft (so the run escalates), ``sleep`` makes the writer slow (for
the drain-on-SIGTERM test), ``fail`` and ``invalid`` make its first attempts fail.
``Broken`` never starts (its role is down at once).
"""

from __future__ import annotations

import time

from handoffs.messages import Draft, Feedback, QualityMarkers, Result, Task, Verdict


def write(task: Task) -> Result | Verdict:
    """A draft about the input's topic, with quality markers. The first ``fail`` attempts
    raise, and the ``invalid`` attempts after those return a Verdict (not a Draft)."""
    failing = task.input.get("fail", 0)
    if isinstance(failing, int) and task.attempt <= failing:
        raise RuntimeError(f"attempt {task.attempt} fails")
    invalid = task.input.get("invalid", 0)
    if isinstance(invalid, int) and task.attempt <= failing + invalid:
        return Verdict(approved=True)
    pause = task.input.get("sleep")
    if isinstance(pause, int | float) and pause > 0:
        time.sleep(float(pause))
    topic = str(task.input.get("topic", "untitled"))[:200]
    draft = Draft(title=topic, body=f"Revision {task.revision} of a note about {topic}.")
    return Result(draft, quality=QualityMarkers(confidence=0.9, completeness=1.0))


def review(task: Task) -> Verdict:
    """Approve unless the input says ``approve: false``."""
    if task.input.get("approve", True) is not False:
        return Verdict(approved=True)
    return Verdict(
        approved=False,
        feedback=[
            Feedback(
                source="reviewer",
                issue="the note says nothing specific",
                aspect="clarity",
                suggestion="name one number",
            )
        ],
    )


class Broken:
    """An agent whose setup fails, with text only an operator should read (``down.toml``)."""

    def setup(self) -> None:
        raise RuntimeError("api key sk-do-not-show rejected by the model endpoint")

    def __call__(self, task: Task) -> Result:
        raise AssertionError("never started")
