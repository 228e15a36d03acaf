"""The runtime's error boundary on its own: foreign errors become ours, with the cause kept."""

from __future__ import annotations

import concurrent.futures
import queue

import pykka
import pytest

from handoffs import InternalError, RunNotFound, RuntimeStopped, RuntimeTimeout
from handoffs.replies import Reply, boundary, ours, result


def test_a_reply_hands_the_value_on_converted() -> None:
    future: concurrent.futures.Future[int] = concurrent.futures.Future()
    reply = Reply("count", future, len)
    reply.set("abc")
    assert future.result(0) == 3
    with pytest.raises(queue.Full):  # as a pykka future: answered once
        reply.set("again")


def test_our_error_passes_through_and_a_foreign_one_becomes_internal() -> None:
    ok: concurrent.futures.Future[None] = concurrent.futures.Future()
    Reply("cancel", ok).set_exception((RunNotFound, RunNotFound("run-x"), None))
    with pytest.raises(RunNotFound, match=r"^no run 'run-x'$"):
        ok.result(0)

    bug: concurrent.futures.Future[None] = concurrent.futures.Future()
    error = KeyError("stage")
    Reply("submit", bug).set_exception((KeyError, error, None))
    with pytest.raises(
        InternalError, match=r"^submit failed inside the runtime: KeyError: 'stage'$"
    ) as caught:
        bug.result(0)
    assert caught.value.__cause__ is error


def test_a_stopped_actor_is_runtime_stopped_and_a_pykka_timeout_ours() -> None:
    closed = ours(pykka.ActorDeadError("gone"), "resolve")
    assert isinstance(closed, RuntimeStopped)
    assert str(closed) == "resolve: the runtime has stopped"
    timeout = pytest.raises(RuntimeTimeout, match=r"^health: no answer from the runtime within 2 s")
    with timeout, boundary("health", 2.0):
        raise pykka.Timeout("2 seconds")


def test_result_times_out_as_ours_but_passes_an_answered_error_on() -> None:
    pending: concurrent.futures.Future[None] = concurrent.futures.Future()
    with pytest.raises(RuntimeTimeout, match=r"^wait: no answer from the runtime within 0 s$"):
        result(pending, "wait", 0)
    answered: concurrent.futures.Future[None] = concurrent.futures.Future()
    answered.set_exception(RuntimeTimeout("inner", 1.0))
    with pytest.raises(RuntimeTimeout, match=r"^inner: "):
        result(answered, "outer", 0)
