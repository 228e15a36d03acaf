"""``handoffs serve --tracing``: OpenTelemetry tracing set up from the OTEL_* variables, a
run's spans exported by a real daemon, and clear errors without the extra or with a variable
naming an exporter there is none of."""

from __future__ import annotations

import importlib.util
import re
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner
from daemon_process import CONFIG, Daemon

from handoffs import tracing
from handoffs.cli import main

needs_otel = pytest.mark.skipif(
    importlib.util.find_spec("opentelemetry.sdk") is None,
    reason="the otel extra is not installed",
)


@needs_otel
def test_serve_with_tracing_exports_a_runs_spans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "handoffs-test")
    daemon = Daemon(tmp_path / "kb", tmp_path / "daemon.log", ["--tracing"])
    try:
        daemon.wait_ready()
        run_id = daemon.submit("note", {"topic": "traced"})["run_id"]
        daemon.wait_state(run_id, "completed")
        assert daemon.stop(signal.SIGTERM) == 0
    finally:
        daemon.close()
    log = daemon.log()
    assert "tracing on, exporting to console (stdout)" in log
    # The console exporter prints each span as JSON at shutdown's flush at the latest.
    assert '"name": "run note"' in log
    assert '"name": "task write"' in log
    assert f'"handoffs.run_id": "{run_id}"' in log
    assert '"service.name": "handoffs-test"' in log


@needs_otel
def test_without_the_otlp_exporter_package_spans_go_to_the_console() -> None:
    if importlib.util.find_spec("opentelemetry.exporter.otlp") is not None:
        pytest.skip("opentelemetry-exporter-otlp is installed")
    traced = tracing.enable_from_environment({}, set_global=False)
    try:
        assert traced.exporter == "console (stdout): opentelemetry-exporter-otlp is not installed"
    finally:
        traced.stop()


@needs_otel
@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"OTEL_TRACES_EXPORTER": "zipkin"},
            "OTEL_TRACES_EXPORTER='zipkin': handoffs serve exports with otlp, console or none",
        ),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_PROTOCOL='http/json': use http/protobuf or grpc",
        ),
    ],
)
def test_a_variable_naming_no_known_exporter_is_refused(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(tracing.TracingUnavailable, match=f"^{re.escape(message)}$"):
        tracing.enable_from_environment(environ, set_global=False)


def test_serve_tracing_without_the_otel_extra_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = "OpenTelemetry is not installed: pip install 'handoffs[otel]'"
    monkeypatch.setattr(tracing, "_MISSING", missing)
    result = CliRunner().invoke(
        main, ["serve", "--config", str(CONFIG), "--data", str(tmp_path / "kb"), "--tracing"]
    )
    assert result.exit_code == 1
    assert result.output == f"error: --tracing: {missing}\n"
    assert not (tmp_path / "kb").exists()  # refused before opening anything
