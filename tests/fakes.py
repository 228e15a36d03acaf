"""Fake agents for runtime tests, driven by a plan in the run input.

``input["plan"][stage]`` lists what the stage's agent does on each call of that run, in order:
``ok``, ``raise`` (ValueError), ``exit`` (SystemExit: kills the actor), ``invalid`` (breaks a
contract constraint), ``wrongtype`` (returns the wrong contract), ``lowconf`` (confidence 0.3),
``reject`` (a review rejects), ``hang`` (blocks until ``release_hung()``), ``late`` (blocks
until released, then returns ok). Past the end of the list, ``ok``. Every task received is
kept in ``RECEIVED`` so tests can look at exactly what agents saw.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from handoffs.messages import (
    CodeChange,
    DocPage,
    Draft,
    Feedback,
    QualityMarkers,
    ResearchFindings,
    Result,
    Source,
    SupportResolution,
    Task,
    Verdict,
)

RECEIVED: list[Task] = []
_calls: dict[tuple[str, str], int] = defaultdict(int)
_lock = threading.Lock()
HUNG = threading.Event()
#: Set when a ``hang`` or ``late`` agent starts waiting.
STARTED = threading.Event()


def reset() -> None:
    """Forget every call and task; release hung agents."""
    with _lock:
        RECEIVED.clear()
        _calls.clear()
    HUNG.set()
    HUNG.clear()
    STARTED.clear()


def release_hung() -> None:
    """Let every ``hang``/``late`` agent return."""
    HUNG.set()


def _step(task: Task) -> str:
    with _lock:
        RECEIVED.append(task)
        n = _calls[task.run_id, task.stage]
        _calls[task.run_id, task.stage] = n + 1
    plan = task.input.get("plan", {}).get(task.stage, [])
    return str(plan[n]) if n < len(plan) else "ok"


def calls(run_id: str, stage: str) -> int:
    """How many times ``stage``'s agent ran for ``run_id``."""
    with _lock:
        return _calls[run_id, stage]


def _act(step: str) -> None:
    if step == "raise":
        raise ValueError("boom")
    if step == "exit":
        raise SystemExit("agent killed its actor")
    if step in ("hang", "late"):
        STARTED.set()
        HUNG.wait(timeout=60)


def research(task: Task) -> Any:
    """ResearchFindings with two sources and confidence 0.9 (0.3 when ``lowconf``)."""
    step = _step(task)
    _act(step)
    sources = [Source(url="https://a.example/1"), Source(url="https://b.example/2")]
    if step == "invalid":
        return ResearchFindings(summary="s", key_findings=[], sources=sources, confidence=1.5)
    if step == "wrongtype":
        return Draft(title="not research", body="")
    confidence = 0.3 if step == "lowconf" else 0.9
    return ResearchFindings(
        topic=str(task.input.get("topic", "")),
        summary=f"about {task.input.get('topic')}",
        key_findings=list(task.input.get("findings", ["finding"])),
        sources=sources,
        confidence=confidence,
    )


def write(task: Task) -> Any:
    """A Draft titled after the revision; ``Result`` with quality markers attached."""
    step = _step(task)
    _act(step)
    if step == "invalid":
        return Draft(title="x" * 500, body="too long a title")
    if step == "wrongtype":
        return {"title": "a dict is not a Draft"}
    about = "" if task.item is None else f" of {task.item}"
    draft = Draft(
        title=f"draft {task.revision}{about}", body="b" * 2048, citations=["https://a.example/1"]
    )
    return Result(draft, quality=QualityMarkers(completeness=0.9, confidence=0.8))


def review(task: Task) -> Any:
    """Approves, unless the plan says ``reject``."""
    step = _step(task)
    _act(step)
    if step == "reject":
        drafts = [v for v in task.inputs.values() if isinstance(v, Draft)]
        issue = f"draft {drafts[0].title!r} needs work" if drafts else "needs work"
        return Verdict(
            approved=False,
            feedback=[Feedback(source="reviewer", aspect="title", issue=issue)],
        )
    return Verdict(approved=True, scores={"overall": 0.9})


def publish(task: Task) -> Any:
    """A DocPage from the latest draft."""
    step = _step(task)
    _act(step)
    draft: Draft = task.inputs["write"]
    return DocPage(title=draft.title, body=draft.body)


def support(task: Task) -> Any:
    """A SupportResolution; a documentation gap when the input says so. ``tagged`` attaches
    the tag ``urgent``; ``badtags`` a tag that cannot be indexed."""
    step = _step(task)
    _act(step)
    resolution = SupportResolution(
        question=str(task.input["question"]),
        answer="restart it",
        product_area="billing",
        is_common=True,
        doc_gap=bool(task.input.get("gap", False)),
    )
    if step in ("tagged", "badtags"):
        return Result(resolution, tags=["urgent"] if step == "tagged" else ["not a tag"])
    return resolution


def faq(task: Task) -> Any:
    """A DocPage from the run input (which a trigger filled from a SupportResolution)."""
    _act(_step(task))
    return DocPage(title=str(task.input["question"])[:100], body=str(task.input["answer"]))


def code(task: Task) -> Any:
    """A CodeChange whose tests pass unless the plan says ``lowconf`` (then one fails)."""
    step = _step(task)
    _act(step)
    return CodeChange(
        summary="s",
        files_changed=["a.py"],
        how_it_works="h",
        tests_passed=3,
        tests_failed=1 if step == "lowconf" else 0,
    )


def chaos_failure(seed: int, run: int, stage: str, attempt: int, rate: float) -> str | None:
    """The failure injected for (run, stage, attempt): ``"raise"``, ``"exit"`` or ``None``.

    A pure function of its arguments, so a test can compute what must happen.
    """
    import hashlib

    digest = hashlib.blake2b(f"{seed}/{run}/{stage}/{attempt}".encode(), digest_size=8).digest()
    draw = int.from_bytes(digest[:7], "big") / (1 << 56)
    if draw >= rate:
        return None
    return "exit" if digest[7] & 1 else "raise"


def chaotic(task: Task) -> Any:
    """Fails per ``chaos_failure`` (input: seed, run, rate); else a small Draft."""
    with _lock:
        RECEIVED.append(task)
    kind = chaos_failure(
        int(task.input["seed"]),
        int(task.input["run"]),
        task.stage,
        task.attempt,
        float(task.input["rate"]),
    )
    if kind is not None:
        _act(kind)
    return Draft(title=f"{task.stage} {task.input['run']}", body="x" * 64)


def hold_then(task: Task) -> Any:
    """Blocks until released, then does what ``input["then"]`` says (``exit`` or ``ok``)."""
    _step(task)
    HUNG.wait(timeout=60)
    if task.input.get("then") == "exit" and task.attempt == 1:
        raise SystemExit("crash with work queued behind")
    return CodeChange(summary="s", files_changed=[], how_it_works="h", tests_passed=1)


def editor(task: Task) -> Any:
    """Joins branches: a DocPage naming every draft it received (lists in item order)."""
    step = _step(task)
    _act(step)
    titles = []
    for name in sorted(task.inputs):
        value = task.inputs[name]
        values = value if isinstance(value, list) else [value]
        titles.extend(f"{name}: {v.title}" for v in values if isinstance(v, Draft | DocPage))
    return DocPage(title=f"joined {len(titles)}", body="\n".join(titles) or "nothing")
