"""Only our own errors leave the Runtime, each saying whose fault it is (issue #12, part 3).

Real actors and a real store; the orchestrator is held mid-commit by a store listener (the
committing thread runs it) to make a timeout happen without sleeping.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import inspect
import math
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from handoffs.messages import Event
from prometheus_client import CollectorRegistry
from runtime_support import OpenRuntime, make_config

import handoffs
from handoffs import (
    CallerError,
    HandoffsError,
    InvalidInput,
    RoleNotFound,
    RunNotFound,
    Runtime,
    RuntimeClosed,
    RuntimeFault,
    RuntimeTimeout,
    StorePathError,
    StoreView,
    Submitted,
)

WAIT = 30.0
NO_SUCH_RUN = "run-000000000000000000000000"


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


class _Held:
    """A store listener that holds the committing thread until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, events: list[Event]) -> None:
        self.entered.set()
        assert self.release.wait(WAIT)


@pytest.fixture
def held(runtime: Runtime) -> Iterator[_Held]:
    hold = _Held()
    unsubscribe = runtime.store.subscribe(hold)
    yield hold
    hold.release.set()
    unsubscribe()


def test_wait_on_an_unknown_run_is_run_not_found(runtime: Runtime) -> None:
    with pytest.raises(RunNotFound, match=rf"^no run '{NO_SUCH_RUN}'$") as caught:
        runtime.wait(NO_SUCH_RUN, timeout=1)
    assert caught.value.run_id == NO_SUCH_RUN
    assert isinstance(caught.value, CallerError)


def test_submit_says_whether_it_created_the_run(runtime: Runtime) -> None:
    first = runtime.submit("content", {"topic": "a"}, "key-1")
    again = runtime.submit("content", {"topic": "a"}, "key-1")
    assert isinstance(first, Submitted)
    assert first.created and not again.created
    assert again.run_id == first.run_id
    run_id, created = runtime.submit("content", {"topic": "b"})  # unpacks, too
    assert created
    assert runtime.wait(run_id, WAIT).state == "completed"


def test_submit_async_is_a_concurrent_future_that_cannot_be_cancelled(runtime: Runtime) -> None:
    futures = [runtime.submit_async("content", {"topic": str(n)}) for n in range(5)]
    assert all(type(f) is concurrent.futures.Future for f in futures)
    assert not futures[0].cancel()  # the orchestrator holds the request already
    _, pending = concurrent.futures.wait(futures, timeout=WAIT)
    assert not pending
    results = [f.result() for f in futures]
    assert all(isinstance(r, Submitted) and r.created for r in results)
    assert {runtime.wait(r.run_id, WAIT).state for r in results} == {"completed"}


def test_a_submit_without_an_answer_in_time_is_a_runtime_timeout(
    runtime: Runtime, held: _Held
) -> None:
    first = runtime.submit_async("content", {"topic": "held"})
    assert held.entered.wait(WAIT)  # the orchestrator is inside a commit, held there
    with pytest.raises(
        RuntimeTimeout, match=r"^submit: no answer from the runtime within 0\.05 s$"
    ) as caught:
        runtime.submit("content", {"topic": "late"}, "late-1", timeout=0.05)
    assert isinstance(caught.value, TimeoutError) and isinstance(caught.value, RuntimeFault)
    assert caught.value.timeout == 0.05
    with pytest.raises(RuntimeTimeout, match=r"^cancel: no answer"):
        runtime.cancel(NO_SUCH_RUN, timeout=0.05)
    held.release.set()
    # What timed out still happened; the same idempotency key finds it.
    assert not runtime.submit("content", {"topic": "late"}, "late-1").created
    assert runtime.wait(first.result(WAIT).run_id, WAIT).state == "completed"


DEEP = "nests deeper than 64 levels"


@pytest.mark.parametrize(
    ("payload", "path", "reason"),
    [
        ({"tags": {"a", "b"}}, "$.tags", "JSON cannot hold a set (use a list)"),
        ({"items": [1, 2, b"x"]}, "$.items[2]", "JSON cannot hold bytes (decode them to a string)"),
        ({"at": datetime.datetime(2026, 1, 1)}, "$.at",
         "JSON cannot hold a datetime (use an ISO 8601 string)"),
        ({"x": {"y z": [math.nan]}}, '$.x["y z"][0]', "JSON cannot hold nan (no NaN or infinity)"),
        ({"x": {2: "two"}}, "$.x", "an object key must be a string, not a int: 2"),
        (_nested(65), "$" + ".a" * 64, DEEP),
        (_nested(5000), "$" + ".a" * 64, DEEP),
    ],
)  # fmt: skip
def test_input_json_cannot_hold_is_invalid_input_naming_the_path(
    runtime: Runtime, payload: Any, path: str, reason: str
) -> None:
    message = re.escape(f"run input at {path}: {reason}")
    with pytest.raises(InvalidInput, match=f"^{message}$") as caught:
        runtime.submit("content", payload)
    assert caught.value.path == path
    with pytest.raises(InvalidInput, match=r"^run input must be an object \(a dict\), not a str$"):
        runtime.submit("content", "text")  # type: ignore[arg-type]
    assert runtime.store.runs().items == []
    # The deepest input allowed is taken, as it was given.
    run_id = runtime.submit("content", _nested(64)).run_id
    assert runtime.wait(run_id, WAIT).input == _nested(64)


def test_a_data_directory_that_is_a_file_is_a_store_error(tmp_path: Path) -> None:
    afile = tmp_path / "data"
    afile.write_text("not a store")
    with pytest.raises(
        StorePathError, match=rf"^cannot open store {afile}: it is a file, not a directory$"
    ):
        Runtime.open(make_config(), afile, registry=CollectorRegistry())
    with pytest.raises(
        StorePathError,
        match=rf"^cannot open store {afile}/kb: a parent of it is a file, not a directory$",
    ):
        Runtime.open(make_config(), afile / "kb", registry=CollectorRegistry())
    assert afile.read_text() == "not a store"


def test_the_store_is_a_read_only_view(runtime: Runtime) -> None:
    run_id = runtime.submit("content", {"topic": "view"}).run_id
    runtime.wait(run_id, WAIT)
    view = runtime.store
    assert isinstance(view, StoreView)
    assert view.get_run(run_id) is not None
    assert view.verify() == []
    assert view.last_seq > 0 and not view.closed
    for writer in ("commit", "close", "on_commit", "room_for"):
        assert not hasattr(view, writer), writer
    with pytest.raises(AttributeError):
        view.on_commit = None  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        runtime.store = view  # type: ignore[misc]


def test_an_unknown_role_is_role_not_found(runtime: Runtime) -> None:
    with pytest.raises(RoleNotFound, match=r"^unknown role 'nope'$"):
        runtime.restart_role("nope")


def test_a_closed_runtime_refuses_work_with_runtime_closed(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime()
    run_id = runtime.submit("content", {"topic": "before"}).run_id
    runtime.wait(run_id, WAIT)
    runtime.close()
    for call in (
        lambda: runtime.submit("content", {}),
        lambda: runtime.submit_async("content", {}),
        lambda: runtime.cancel(run_id),
        lambda: runtime.resolve("esc-000000000000000000000000", "approve"),
        lambda: runtime.restart_role("write"),
        runtime.start_dispatching,
        runtime.statistics,
    ):
        with pytest.raises(RuntimeClosed, match=r"^the runtime is closed$"):
            call()
    assert runtime.health() == (False, ["runtime is closed"])


def _error_classes() -> list[type[BaseException]]:
    exported = [getattr(handoffs, name) for name in handoffs.__all__]
    return [c for c in exported if inspect.isclass(c) and issubclass(c, BaseException)]


@pytest.mark.parametrize("error", _error_classes(), ids=lambda c: c.__name__)
def test_every_exported_error_is_ours_and_says_whose_fault(error: type[BaseException]) -> None:
    if issubclass(error, handoffs.actors.AgentSignal):
        return  # what an agent raises on purpose, not what the API raises
    assert issubclass(error, HandoffsError)
    roots = {HandoffsError, CallerError, RuntimeFault, handoffs.StoreError}
    if error not in roots:
        assert issubclass(error, CallerError) != issubclass(error, RuntimeFault), error
