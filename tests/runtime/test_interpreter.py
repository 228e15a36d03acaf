"""A library does not retune the interpreter (issue #12, part 4): ``Runtime.open`` leaves the
GIL switch interval and the GC threshold alone unless asked, and gives back what it set."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest
from handoffs.store import StoreLocked
from runtime_support import OpenRuntime

from handoffs import ConfigError
from handoffs.interpreter import GC_THRESHOLD, SWITCH_INTERVAL, TUNING, tune


@pytest.fixture(autouse=True)
def settings() -> Iterator[None]:
    """Distinctive starting values (none the runtime asks for), put back after the test."""
    interval, threshold = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(0.003)
    gc.set_threshold(900, 11, 12)
    yield
    sys.setswitchinterval(interval)
    gc.set_threshold(*threshold)


def test_open_changes_neither_by_default(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime()
    assert sys.getswitchinterval() == pytest.approx(0.003)
    assert gc.get_threshold() == (900, 11, 12)
    runtime.close()
    assert sys.getswitchinterval() == pytest.approx(0.003)
    assert gc.get_threshold() == (900, 11, 12)


def test_what_it_was_asked_to_set_is_restored_on_close(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(**TUNING)
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
    assert gc.get_threshold() == (GC_THRESHOLD, 11, 12)
    runtime.close()
    assert sys.getswitchinterval() == pytest.approx(0.003)
    assert gc.get_threshold() == (900, 11, 12)
    runtime.close()  # idempotent: nothing restored twice
    assert gc.get_threshold() == (900, 11, 12)


def test_a_setting_the_application_changed_since_is_left_as_it_is(
    open_runtime: OpenRuntime,
) -> None:
    runtime = open_runtime(**TUNING)
    sys.setswitchinterval(0.002)  # the application's own, after the runtime's
    gc.set_threshold(5_000, 20, 20)
    runtime.close()
    assert sys.getswitchinterval() == pytest.approx(0.002)
    assert gc.get_threshold() == (5_000, 20, 20)


@pytest.mark.parametrize(("before", "after"), [(0, 0), (200_000, 200_000)])
def test_a_disabled_or_higher_gc_threshold_stays_and_is_not_restored(
    before: int, after: int
) -> None:
    gc.set_threshold(before, 11, 12)
    tuned = tune(None, GC_THRESHOLD)
    assert gc.get_threshold() == (after, 11, 12)
    assert tuned.gc_threshold is None
    tuned.restore()
    assert gc.get_threshold() == (after, 11, 12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"switch_interval": 0.0}, r"switch_interval must be positive, not 0\.0"),
        ({"gc_threshold": -1}, r"gc_threshold must not be negative, not -1"),
    ],
)
def test_bad_settings_are_a_config_error_and_change_nothing(
    open_runtime: OpenRuntime, kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError, match=f"^Runtime.open: {message}$"):
        open_runtime(**kwargs)
    assert sys.getswitchinterval() == pytest.approx(0.003)
    assert gc.get_threshold() == (900, 11, 12)


def test_a_failed_open_gives_back_what_it_set(open_runtime: OpenRuntime) -> None:
    held = open_runtime()  # holds the store's lock: the second open fails after tuning
    with pytest.raises(StoreLocked):
        open_runtime(**TUNING)
    assert sys.getswitchinterval() == pytest.approx(0.003)
    assert gc.get_threshold() == (900, 11, 12)
    held.close()
