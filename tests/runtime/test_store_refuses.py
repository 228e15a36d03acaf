"""A store that refuses writes (its map at the cap, the disk full): the runtime stalls,
visibly, calls no agent, answers callers at once, and resumes by itself when room appears."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import fakes
import pytest
from handoffs.store import StoreOptions
from runtime_support import OpenRuntime, make_config

from handoffs import Runtime, StoreUnavailable

WAIT = 30.0
BIG = "x" * 100_000


def test_a_full_map_stalls_the_runtime_until_it_closes(open_runtime: OpenRuntime) -> None:
    small = StoreOptions(map_size=1 << 20, max_map_size=1 << 20)
    runtime = open_runtime(store_options=small)
    accepted: list[str] = []
    with pytest.raises(StoreUnavailable, match=r"^the store cannot take writes: store is full"):
        for n in range(100):
            accepted.append(runtime.submit("support", {"question": f"q{n}", "blob": BIG}).run_id)  # noqa: PERF401 (until it raises)
    assert 0 < len(accepted) < 100
    ok, reasons = runtime.health()
    assert not ok
    assert reasons == [
        "the store refuses writes, nothing is dispatched: store is full: map size 1048576 "
        "bytes reached the cap of 1048576 bytes; raise max_map_size or free space"
    ]
    # Callers are answered at once, with the reason; nothing was done.
    with pytest.raises(StoreUnavailable, match=r"store is full"):
        runtime.submit("support", {"question": "one more"})
    assert runtime.statistics().orchestrator.degraded is not None
    runtime.close(timeout=5)
    roomy = open_runtime(store_options=StoreOptions(map_size=1 << 20, max_map_size=64 << 20))
    for run_id in accepted:
        assert roomy.wait(run_id, WAIT).state == "completed"
    assert roomy.store.verify() == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs (as root), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stalls_without_agent_calls_and_resumes_when_room_appears(
    small_disk: Path,
) -> None:
    fakes.reset()
    options = StoreOptions(map_size=1 << 20, max_map_size=64 << 20)
    runtime = Runtime.open(make_config(), small_disk / "kb", store_options=options)
    try:
        # Agents are busy with one run each when the disk fills up.
        busy = runtime.submit("coding", {"plan": {"code": ["late"]}}).run_id
        assert fakes.STARTED.wait(WAIT)
        filler = small_disk / "filler"
        # Unbuffered: a buffered file would raise ENOSPC again on close, flushing the part
        # of its last write that did not fit (how much depends on the store's size).
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 16))
            except OSError:
                pass
        with pytest.raises(StoreUnavailable, match=r"disk full"):
            for n in range(200):
                runtime.submit("support", {"question": f"q{n}", "blob": BIG})
        ok, reasons = runtime.health()
        assert not ok and "disk full" in reasons[0]
        calls = len(fakes.RECEIVED)
        fakes.release_hung()  # the busy agent answers: its result is held, not lost
        with pytest.raises(StoreUnavailable):
            runtime.submit("support", {"question": "while full"})
        assert len(fakes.RECEIVED) == calls  # no agent was called meanwhile
        filler.unlink()  # room appears
        assert runtime.wait(busy, WAIT).state == "completed"
        assert runtime.health() == (True, [])
        assert fakes.calls(busy, "code") == 1  # its result was held, not the task run again
        after = runtime.submit("support", {"question": "after"}).run_id
        assert runtime.wait(after, WAIT).state == "completed"
        assert runtime.store.verify() == []
    finally:
        fakes.release_hung()
        runtime.close(timeout=5)
