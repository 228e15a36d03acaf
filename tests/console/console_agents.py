"""Agents for the console tests, imported by the daemon subprocess (on PYTHONPATH).

The run's input steers them: ``topic`` names the draft (an XSS payload there shows whether
the console escapes agent output), ``approve: false`` makes the reviewer reject drafts until
a person has given feedback (so a run escalates, and a person's revision can be seen to
work); feedback from a person ends up in the next draft's body.
"""

from __future__ import annotations

from handoffs.messages import Draft, Feedback, QualityMarkers, Result, Task, Verdict


def write(task: Task) -> Result:
    """A draft about the input's topic; a person's feedback is worked into the body."""
    topic = str(task.input.get("topic", "untitled"))[:200]
    asked = [f.issue for f in task.feedback if f.source == "human"]
    body = f"Revision {task.revision} of a note about {topic}."
    if asked:
        body += f"\nAs asked: {asked[0]}"
    draft = Draft(title=topic, body=body, keywords=["note", topic[:50]])
    return Result(draft, quality=QualityMarkers(confidence=0.9, completeness=1.0))


def review(task: Task) -> Verdict:
    """Approve unless the input says ``approve: false``; then reject every draft."""
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
