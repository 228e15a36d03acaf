"""Pipelines of model roles, end to end: a real runtime, the official ``openai`` SDK, and
the OpenAI-compatible test server on loopback (no mocks)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from handoffs.messages import Draft
from prometheus_client import CollectorRegistry, generate_latest

from handoffs import ConfigError, Runtime
from handoffs.testing import LLMServer
from handoffs.testing.faults import NotJson, Refusal, SchemaViolation, Status

WAIT = 30.0
KEY = "sk-pipeline-test-9f3e-never-print-me"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "llm"

CONFIG = """
[roles.writer]
concurrency = 8
[roles.writer.llm]
model = "test-model"
base_url = "{url}"
api_key_env = "HANDOFFS_TEST_KEY"
retry_backoff = 0.001
system = "You write plainly."

[roles.reviewer]
concurrency = 8
[roles.reviewer.llm]
model = "test-model"
base_url = "{url}"
api_key_env = "HANDOFFS_TEST_KEY"
retry_backoff = 0.001

[pipelines.article]
start = "write"
[pipelines.article.stages.write]
role = "writer"
output = "Draft"
instruction = "Write a short article about {{topic}}."
next = "review"
max_attempts = 3
[pipelines.article.stages.review]
role = "reviewer"
output = "Verdict"
instruction = "Review the draft about {{topic}}."
on_reject = "write"
max_revisions = {max_revisions}
"""


@pytest.fixture(scope="module")
def module_server() -> Iterator[LLMServer]:
    with LLMServer(api_key=KEY, approve_from=2, seed=7) as running:
        yield running


@pytest.fixture
def server(module_server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> LLMServer:
    module_server.clear()
    monkeypatch.setenv("HANDOFFS_TEST_KEY", KEY)
    return module_server


@pytest.fixture
def open_article(server: LLMServer, tmp_path: Path) -> Iterator[Any]:
    opened: list[Runtime] = []

    def _open(max_revisions: int = 3) -> Runtime:
        path = tmp_path / "article.toml"
        path.write_text(CONFIG.format(url=server.base_url, max_revisions=max_revisions))
        runtime = Runtime.open(path, tmp_path / "kb", registry=CollectorRegistry())
        opened.append(runtime)
        return runtime

    yield _open
    for runtime in opened:
        runtime.close(timeout=5)


def test_a_review_loop_of_models_rejects_then_approves(
    server: LLMServer, open_article: Any
) -> None:
    runtime = open_article()
    run_id = runtime.submit("article", {"topic": "LMDB"}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    handoffs = runtime.handoffs(run_id)
    assert [(h.stage, h.outcome, h.revision) for h in handoffs] == [
        ("write", "accepted", 0),
        ("review", "rejected", 0),
        ("write", "accepted", 1),
        ("review", "rejected", 1),
        ("write", "accepted", 2),
        ("review", "accepted", 2),
    ]
    assert isinstance(runtime.payload(handoffs[-2]), Draft)
    notes = handoffs[0].quality.notes
    assert notes.startswith("model=test-model prompt_tokens=")
    assert "requests=1" in notes
    # The reviewer's feedback reached the writer's next prompt verbatim.
    rejection = runtime.payload(handoffs[1])
    writes = [r for r in server.requests if "Write a short article" in r.messages[-1][1]]
    assert len(writes) == 3
    assert "Revision: 1" in writes[1].messages[-1][1]
    for item in rejection.feedback:
        assert item.issue in writes[1].messages[-1][1]
    # The review saw the draft and the draft's quality markers.
    reviews = [r for r in server.requests if "Review the draft" in r.messages[-1][1]]
    assert handoffs[0].id not in reviews[0].messages[-1][1]  # ids never reach the model
    read = runtime.registry.get_sample_value
    labels = {"role": "writer", "model": "test-model"}
    assert read("handoffs_llm_requests_total", {**labels, "outcome": "ok"}) == 3
    assert read("handoffs_llm_tokens_total", {**labels, "kind": "prompt"}) > 0
    assert read("handoffs_llm_request_duration_seconds_count", labels) == 3


def test_a_reviewer_that_never_approves_escalates(server: LLMServer, open_article: Any) -> None:
    runtime = open_article(max_revisions=1)
    run_id = runtime.submit("article", {"topic": "LMDB"}).run_id
    assert runtime.wait(run_id, WAIT).state == "escalated"
    (escalation,) = runtime.escalations()
    assert escalation.reason == "revisions_exhausted"


def test_malformed_model_output_goes_back_with_validator_feedback(
    server: LLMServer, open_article: Any
) -> None:
    runtime = open_article()
    server.inject(NotJson(), model="test-model")
    server.inject(SchemaViolation(), model="test-model")
    run_id = runtime.submit("article", {"topic": "LMDB"}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    writes = [r for r in server.requests if "Write a short article" in r.messages[-1][1]]
    assert [w.fault for w in writes[:3]] == ["not_json", "schema_violation", None]
    # Each retry's prompt carries the validator's feedback on the attempt before.
    assert "validator" in writes[1].messages[-1][1]
    assert "not valid JSON" in writes[1].messages[-1][1]
    assert "$.title" in writes[2].messages[-1][1]
    run = runtime.get_run(run_id)
    assert run is not None and run.attempts["write"] == 1  # the last write was a revision


def test_rate_limits_and_server_errors_are_retried_within_one_attempt(
    server: LLMServer, open_article: Any
) -> None:
    runtime = open_article()
    server.inject(Status(status=429, retry_after=0), Status(status=503))
    run_id = runtime.submit("article", {"topic": "LMDB"}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    first = runtime.handoffs(run_id)[0]
    assert first.attempt == 1
    assert "requests=3" in first.quality.notes
    read = runtime.registry.get_sample_value
    labels = {"role": "writer", "model": "test-model"}
    assert read("handoffs_llm_retries_total", labels) == 2
    assert read("handoffs_llm_requests_total", {**labels, "outcome": "rate_limited"}) == 1
    assert read("handoffs_llm_requests_total", {**labels, "outcome": "server_error"}) == 1


def test_a_refused_request_escalates_at_once_without_the_key(
    server: LLMServer, open_article: Any
) -> None:
    runtime = open_article()
    server.inject(Status(status=401, message=f"Incorrect API key provided: {KEY}"))
    run_id = runtime.submit("article", {"topic": "LMDB"}).run_id
    assert runtime.wait(run_id, WAIT).state == "escalated"
    (escalation,) = runtime.escalations()
    assert escalation.reason == "unrecoverable"
    assert "401" in escalation.summary
    assert server.counts.requests == 1  # a wrong key burns no attempts
    everything = [escalation.summary, *(e.detail for e in runtime.store.journal())]
    assert not [text for text in everything if KEY in text]


def test_a_refusal_is_a_failure_with_its_text(server: LLMServer, open_article: Any) -> None:
    runtime = open_article()
    server.inject(Refusal(text="I can't write about that."), model="test-model")
    run_id = runtime.submit("article", {"topic": "LMDB"}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    failures = [e.detail for e in runtime.store.journal() if e.type == "task.failed"]
    assert failures == ["ModelRefusal: the model refused: I can't write about that."]


def test_a_missing_key_variable_is_a_config_error_naming_the_role(
    server: LLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HANDOFFS_TEST_KEY")
    path = tmp_path / "article.toml"
    path.write_text(CONFIG.format(url=server.base_url, max_revisions=1))
    with pytest.raises(ConfigError, match=r"role 'writer': the API key variable HANDOFFS_TEST_KEY"):
        Runtime.open(path, tmp_path / "kb", registry=CollectorRegistry())


@pytest.mark.parametrize(
    ("config", "pipeline", "input"),
    [
        ("content.toml", "content", {"topic": "solar panels"}),
        (
            "support.toml",
            "support",
            {"question": "Why was I charged twice?", "product_area": "billing"},
        ),
        ("coding.toml", "coding", {"feature": "export to CSV", "version": "1.4.0"}),
    ],
)
def test_the_seed_patterns_run_with_model_roles(
    config: str,
    pipeline: str,
    input: dict[str, Any],
    server: LLMServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    with Runtime.open(EXAMPLES / config, tmp_path / "kb", registry=CollectorRegistry()) as rt:
        run_ids = [rt.submit(pipeline, {**input, "n": i}).run_id for i in range(4)]
        runs = [rt.wait(run_id, WAIT) for run_id in run_ids]
        # Every run makes progress to an end: done, or with a person, for a stated reason.
        assert {run.state for run in runs} <= {"completed", "escalated"}
        assert "completed" in {run.state for run in runs}
        for escalation in rt.escalations():
            assert escalation.reason in ("revisions_exhausted", "retries_exhausted")
        assert rt.store.verify() == []


def test_the_model_metrics_pass_promtool(server: LLMServer, open_article: Any) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    runtime = open_article()
    server.inject(Status(status=429, retry_after=0))
    assert runtime.wait(runtime.submit("article", {"topic": "x"}).run_id, WAIT).state == "completed"
    text = generate_latest(runtime.registry).decode()
    assert "handoffs_llm_requests_total{" in text
    assert "handoffs_task_queue_seconds_bucket{" in text
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout.strip(), result.stderr.strip()) == (0, "", "")
    assert KEY not in text
