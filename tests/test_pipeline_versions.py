"""Pipeline versions: each version's stage graph is stored once when a runtime opens the
store, runs keep pointing at the version they started with, and ``handoffs versions`` shows
them (also for stores made before versions were recorded)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
from click.testing import CliRunner
from handoffs.messages import Config, Run
from handoffs.store import Batch, PipelineVersion, Store, VersionStage, read_live_versions
from prometheus_client import CollectorRegistry
from runtime_support import make_config

from handoffs import Runtime
from handoffs.cli import main
from handoffs.evolution import pipeline_version
from handoffs.versions import graph_version, record_config_versions

#: 2023-11-14T22:13:20Z
AT = 1_700_000_000.0


def renamed_config() -> Config:
    """The support pipeline's one stage renamed from ``support`` to ``answer``, declared."""
    config = make_config()
    support = config.pipelines["support"]
    moved = msgspec.structs.replace(
        support,
        start="answer",
        stages={"answer": support.stages["support"]},
        renamed={"support": "answer"},
    )
    return msgspec.structs.replace(config, pipelines={**config.pipelines, "support": moved})


def support_runs(data: Path, config: Config, n: int) -> list[str]:
    """Submit ``n`` support runs to a paused runtime: they stay running at their stage."""
    with Runtime.open(config, data, dispatch=False, registry=CollectorRegistry()) as rt:
        return [rt.submit("support", {"question": f"q{i}"}).run_id for i in range(n)]


def test_each_version_is_stored_once_with_the_graph_its_hash_covers(tmp_path: Path) -> None:
    config = make_config()
    with Store.open(tmp_path / "kb") as store:
        assert record_config_versions(store, config, now=AT) == 4
        data = (tmp_path / "kb" / "data.mdb").read_bytes()
        # Reopened with the same config: nothing is written.
        assert record_config_versions(store, config, now=AT + 60) == 0
        assert (tmp_path / "kb" / "data.mdb").read_bytes() == data
        stored = store.pipeline_versions()
        support = store.pipeline_versions("support")
    assert [v.pipeline for v in stored] == ["coding", "content", "kb", "support"]
    assert support == [
        PipelineVersion(
            pipeline="support",
            version=pipeline_version(config.pipelines["support"]),
            recorded_at=AT,
            start="support",
            stages=[VersionStage(name="support", role="support", output="SupportResolution")],
        )
    ]
    for version in stored:
        assert graph_version(version) == version.version


def test_a_changed_config_adds_a_version_and_old_runs_keep_theirs(tmp_path: Path) -> None:
    data = tmp_path / "kb"
    run_ids = support_runs(data, make_config(), 2)
    with Store.open(data) as store:
        (first,) = store.pipeline_versions("support")
    # The same config again: the version is not rewritten.
    support_runs(data, make_config(), 0)
    renamed = renamed_config()
    with Runtime.open(renamed, data, dispatch=False, registry=CollectorRegistry()) as rt:
        versions = rt.store.pipeline_versions("support")
        runs = [rt.store.get_run(run_id) for run_id in run_ids]
    second = pipeline_version(renamed.pipelines["support"])
    assert [v.version for v in versions] == [first.version, second]
    assert versions[0] == first
    assert versions[1].start == "answer"
    assert [(r.stage, r.pipeline_version) for r in runs if r is not None] == [
        ("answer", first.version),
        ("answer", first.version),
    ]
    live = read_live_versions(data, "support")
    assert live.current == {"support": second}
    assert live.live == {("support", first.version): 2}


def versions_text(data: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["versions", "--data", str(data), *args])
    assert (result.exit_code, result.stderr) == (0, "")
    return result.stdout


def test_handoffs_versions_lists_each_version_with_its_graph_and_runs(tmp_path: Path) -> None:
    data = tmp_path / "kb"
    with Store.open(data) as store:
        record_config_versions(store, make_config(), now=AT)
    with Runtime.open(make_config(), data, dispatch=False, registry=CollectorRegistry()) as rt:
        rt.submit("content", {"topic": "t"})
    version = pipeline_version(make_config().pipelines["content"])
    assert versions_text(data, "--pipeline", "content") == (
        f"content {version}  recorded 2023-11-14T22:13:20Z  current  runs in flight: 1\n"
        "  research [research, ResearchFindings] -> write; write [write, Draft] -> review; "
        "review [review, Verdict] -> publish, rejects to write; publish [publish, DocPage]\n"
    )
    assert versions_text(data).splitlines()[::2] == [
        f"coding {pipeline_version(make_config().pipelines['coding'])}  recorded "
        "2023-11-14T22:13:20Z  current  runs in flight: 0",
        f"content {version}  recorded 2023-11-14T22:13:20Z  current  runs in flight: 1",
        f"kb {pipeline_version(make_config().pipelines['kb'])}  recorded "
        "2023-11-14T22:13:20Z  current  runs in flight: 0",
        f"support {pipeline_version(make_config().pipelines['support'])}  recorded "
        "2023-11-14T22:13:20Z  current  runs in flight: 0",
    ]


def test_a_store_made_before_versions_were_recorded(tmp_path: Path) -> None:
    data = tmp_path / "kb"
    Store.open(data).close()
    assert versions_text(data) == f"no pipeline versions recorded in {data}\n"
    with Store.open(data) as store:
        batch = Batch()
        for n, version in enumerate(["0123456789abcdef", "0123456789abcdef", None]):
            batch.put_run(Run(run_id=f"run-{n:024x}", pipeline="support", pipeline_version=version))
        store.commit([batch])
        assert store.pipeline_versions() == []
    assert versions_text(data) == (
        "support 0123456789abcdef  (definition not recorded)  runs in flight: 2\n"
        "support (no version)  (definition not recorded)  runs in flight: 1\n"
    )


def test_handoffs_versions_without_a_store_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["versions", "--data", str(tmp_path)])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: cannot open store {tmp_path}: no store there (no data.mdb)\n"


def test_the_records_round_trip() -> None:
    version = PipelineVersion(
        pipeline="p",
        version="v",
        recorded_at=AT,
        start="a",
        stages=[VersionStage(name="a", role="r", output="O", next=["b", "c"], on_reject="a")],
    )
    encoded = msgspec.msgpack.encode(version)
    assert msgspec.msgpack.decode(encoded, type=PipelineVersion) == version


HOLDER = """
import sys
from handoffs.store import Store
from handoffs.versions import record_config_versions
from handoffs.messages import Config, PipelineSpec, RoleSpec, StageSpec

stage = StageSpec(role="r", output="SupportResolution")
config = Config(
    roles={"r": RoleSpec(agent="m:f")},
    pipelines={"p": PipelineSpec(start="s", stages={"s": stage})},
)
with Store.open(sys.argv[1]) as store:
    record_config_versions(store, config, now=1_700_000_000.0)
    print("open", flush=True)
    sys.stdin.readline()
"""


def test_handoffs_versions_reads_a_store_another_process_has_open(tmp_path: Path) -> None:
    data = tmp_path / "kb"
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline() == "open\n"
        try:
            lines = versions_text(data).splitlines()
        finally:
            holder.stdin.write("\n")
            holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
    assert lines[0].endswith("  recorded 2023-11-14T22:13:20Z  current  runs in flight: 0")
    assert lines[1] == "  s [r, SupportResolution]"
