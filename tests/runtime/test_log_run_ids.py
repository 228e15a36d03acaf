"""JSON log lines about a run carry its run id and trace id: a line that names the run in
its fields, and every line an agent writes while it works on one of the run's tasks."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from handoffs.actors.tracehooks import trace_id_hex
from runtime_support import OpenRuntime
from test_tracing import config

from handoffs.daemon.logs import JsonFormatter, log_event

WAIT = 30.0


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """The JSON lines of the agents' logger and of ``handoffs.test``."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger("an-agent"), logging.getLogger("handoffs.test")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_naming_a_run_gets_its_trace_id(lines: io.StringIO) -> None:
    log_event(logging.getLogger("handoffs.test"), logging.INFO, "run.noted", run_id="run-7")
    log_event(logging.getLogger("handoffs.test"), logging.INFO, "daemon.noted")
    first, second = parsed(lines)
    assert (first["run_id"], first["trace_id"]) == ("run-7", trace_id_hex("run-7"))
    assert "run_id" not in second and "trace_id" not in second


def test_an_agents_lines_name_its_task(open_runtime: OpenRuntime, lines: io.StringIO) -> None:
    runtime = open_runtime(config())
    run_id = runtime.submit("article", {"topic": "logs"}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    # One line from the sync agent's thread, one from the async agent's coroutine.
    found = [(e["msg"], e["run_id"], e["trace_id"], e["stage"]) for e in parsed(lines)]
    assert sorted(found, key=lambda e: e[3]) == [
        ("calling the model", run_id, trace_id_hex(run_id), "draft"),
        ("calling the model", run_id, trace_id_hex(run_id), "polish"),
    ]
    # Between tasks, an agent's thread names no run.
    logging.getLogger("an-agent").info("idle")
    assert "run_id" not in parsed(lines)[-1]
