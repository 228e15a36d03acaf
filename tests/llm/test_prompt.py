"""A task rendered as chat messages: every input, marker and feedback item reaches the model."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import pytest
from handoffs.messages import (
    Draft,
    Feedback,
    QualityMarkers,
    ResearchFindings,
    Source,
    Task,
    Verdict,
)

from handoffs.llm import prompt as prompt_module
from handoffs.llm.prompt import (
    DEFAULT_PROMPT,
    DEFAULT_SYSTEM,
    check_template,
    render_messages,
)
from handoffs.llm.schema import StrictSchema

RESEARCH = ResearchFindings(
    topic="tides",
    summary="The moon drives the tides.",
    key_findings=["Two tides a day", "Spring tides at full moon"],
    sources=[Source(url="https://example.org/tides", title="Tides")],
    confidence=0.7,
)
FEEDBACK = [
    Feedback(
        source="reviewer",
        issue="The intro is vague.",
        aspect="clarity",
        suggestion="Open with the claim.",
    ),
    Feedback(source="gate", issue="confidence 0.40 is below 0.60", aspect="confidence"),
    Feedback(source="validator", issue="Expected `str`, got `int` (at $.title)"),
    Feedback(source="human", issue="Mention neap tides.\nKeep it short.", severity="blocker"),
    Feedback(source="runtime", issue="The previous attempt timed out.", severity="info"),
]


def make_task(**overrides: Any) -> Task:
    fields: dict[str, Any] = {
        "task_id": "tsk-000000000000000000000001",
        "run_id": "run-000000000000000000000001",
        "pipeline": "blog",
        "stage": "write",
        "instruction": "Write a short post about tides.",
        "input": {"topic": "tides", "audience": "children ü"},
        "inputs": {"research": RESEARCH},
        "quality": {
            "research": QualityMarkers(
                completeness=0.9,
                confidence=0.55,
                sources_verified=False,
                tests_passed=True,
                checks={"links": True, "spelling": False},
                notes="two sources unreachable",
            )
        },
        **overrides,
    }
    return Task(**fields)


def user_text(task: Task, **kw: Any) -> str:
    messages = render_messages(task, StrictSchema.for_contract(Draft), **kw)
    assert [m["role"] for m in messages] == ["system", "user"]
    return messages[1]["content"]


def test_every_input_marker_and_feedback_item_is_rendered_verbatim() -> None:
    task = make_task(feedback=FEEDBACK, revision=2, attempt=3)
    text = user_text(task)
    assert re.search(r"^Revision: 2$", text, re.MULTILINE)
    assert re.search(r"^Attempt: 3$", text, re.MULTILINE)
    for expected in [
        "Stage: write",
        "Write a short post about tides.",
        '"audience": "children ü"',
        '### From stage "research" (ResearchFindings)',
        '"summary": "The moon drives the tides."',
        '"url": "https://example.org/tides"',
        "Quality: completeness 0.90; confidence 0.55; sources NOT verified; tests passed; "
        "checks: links passed, spelling FAILED; notes: two sources unreachable",
        "Answer with one JSON object of the contract Draft: "
        "Content -> review: a piece of writing and the sources it cites.",
        "This is revision 2. Fix every item below; keep what was not criticised:",
    ]:
        assert expected in text
    for n, item in enumerate(FEEDBACK, 1):
        assert f"{n}. From the {item.source}" in text
        assert f"Issue: {item.issue}" in text
        assert item.aspect in text
        assert item.suggestion in text
        assert f"(severity {item.severity})" in text


def test_first_draft_and_retry_wording() -> None:
    first = user_text(make_task(inputs={}, quality={}))
    assert "Revision: 0" in first
    assert "None: this is the first draft." in first
    assert "None: this stage works from the run input alone." in first
    retry = user_text(make_task(feedback=FEEDBACK[2:3], attempt=2))
    assert "Your previous answer was not accepted. Fix every item below:" in retry
    unmarked = user_text(make_task(quality={}))
    assert "Quality: no quality markers reported; trust it with care." in unmarked
    partial = user_text(make_task(quality={"research": QualityMarkers()}))
    assert (
        "Quality: completeness not reported; confidence not reported; "
        "source verification not reported\n"
    ) in partial


def test_system_message_default_and_custom() -> None:
    schema = StrictSchema.for_contract(Verdict)
    assert render_messages(make_task(), schema)[0] == {"role": "system", "content": DEFAULT_SYSTEM}
    custom = render_messages(make_task(), schema, system="Be brief.")
    assert custom[0] == {"role": "system", "content": "Be brief."}


def test_custom_template() -> None:
    template = "{stage}/{contract} r{revision}: {instruction} {{literal}}\n{feedback}"
    text = user_text(make_task(), prompt=template)
    expected = "write/Draft r0: Write a short post about tides. {literal}\n"
    assert text == expected + "None: this is the first draft."


def test_huge_upstream_output_is_cut() -> None:
    big = Draft(title="t", body="x" * 60_000)
    text = user_text(make_task(inputs={"draft": big}, quality={}))
    assert re.search(r"\n\.\.\. \(cut here: \d+ more characters\)\n```", text)
    assert len(text) < 52_000


@pytest.mark.parametrize(
    ("template", "problems"),
    [
        (DEFAULT_PROMPT, []),
        (
            "{stage} {topic}",
            [
                "unknown placeholder {topic} (known: attempt, contract, "
                "contract_description, feedback, input, inputs, instruction, item, "
                "pipeline, revision, stage)"
            ],
        ),
        (
            "{input.__class__} {inputs[0]}",
            [
                "placeholder {input.__class__}: use {input} as it is",
                "placeholder {inputs[0]}: use {inputs} as it is",
            ],
        ),
        (
            "{} {0}",
            [
                "positional placeholder {}: name one of attempt, contract, contract_description, "
                "feedback, input, inputs, instruction, item, pipeline, revision, stage",
                "positional placeholder {0}: name one of attempt, contract, contract_description, "
                "feedback, input, inputs, instruction, item, pipeline, revision, stage",
            ],
        ),
        (
            "{stage",
            [
                "the template's braces are malformed (expected '}' before end of string); "
                "write {{ and }} for braces"
            ],
        ),
        (
            "}",
            [
                "the template's braces are malformed (Single '}' encountered in format string); "
                "write {{ and }} for braces"
            ],
        ),
        (
            "{revision:d}",
            ["the template does not render: Unknown format code 'd' for object of type 'str'"],
        ),
    ],
)
def test_check_template(template: str, problems: list[str]) -> None:
    assert check_template(template) == problems


def test_render_refuses_an_unchecked_bad_template() -> None:
    with pytest.raises(
        ValueError, match=r"^the prompt template does not render: unknown placeholder \{x\} "
    ):
        user_text(make_task(), prompt="{x}")


def test_module_docstring_shows_the_default_template() -> None:
    assert textwrap.indent(DEFAULT_PROMPT, "    ") in (prompt_module.__doc__ or "")


def test_a_task_in_a_map_branch_shows_its_item() -> None:
    plain = user_text(make_task())
    assert "## Your item" not in plain
    assert "Write a short post about tides.\n\n## Run input" in plain
    task = make_task(item="Spring tides at full moon", item_index=1)
    assert (
        "Write a short post about tides.\n\n## Your item\n"
        "This stage runs once per item of a list; this task is for item 1 (counting from 0):\n"
        '```json\n"Spring tides at full moon"\n```\n\n## Run input'
    ) in user_text(task)


def test_a_list_input_renders_each_item_with_its_markers() -> None:
    drafts = [Draft(title="Two tides", body="a"), Draft(title="Spring", body="b")]
    quality = {"sections:0": QualityMarkers(confidence=0.9), "research": QualityMarkers()}
    text = user_text(make_task(inputs={"sections": drafts}, quality=quality))
    assert (
        '### From stage "sections" (2 items, in order)\n\n'
        "#### Item 0 (Draft)\n"
        "Quality: completeness not reported; confidence 0.90; "
        "source verification not reported\n"
        '```json\n{\n  "title": "Two tides",\n  "body": "a",\n  "citations": [],\n'
        '  "keywords": []\n}\n```\n\n'
        "#### Item 1 (Draft)\n"
        "Quality: no quality markers reported; trust it with care.\n"
        '```json\n{\n  "title": "Spring",\n  "body": "b",\n  "citations": [],\n'
        '  "keywords": []\n}\n```\n\n## Feedback'
    ) in text
