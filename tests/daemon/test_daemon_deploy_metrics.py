"""A real daemon's scrape holds every metric the alert rules and the dashboard under deploy/
ask for (the model metrics appear once a role calls a model), with the store's limit and each
role's state."""

from __future__ import annotations

import sys
from pathlib import Path

from daemon_process import Daemon
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "deploy"))
from promql import METRIC_NAME, dashboard_expressions, rule_expressions

_SAMPLE_SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def family_of(sample: str, families: set[str]) -> str | None:
    if sample in families:
        return sample
    for suffix in _SAMPLE_SUFFIXES:
        if sample.endswith(suffix) and sample.removesuffix(suffix) in families:
            return sample.removesuffix(suffix)
    return None


def test_the_scrape_holds_every_metric_the_deploy_files_use(daemon: Daemon) -> None:
    run_id = daemon.submit("note", {"topic": "deploy"})["run_id"]
    daemon.wait_state(run_id, "completed")
    scrape = daemon.http.get("/metrics").text
    families = {f.name for f in text_string_to_metric_families(scrape)}
    exprs = [*rule_expressions().values(), *dashboard_expressions().values()]
    used = {name for expr in exprs for name in METRIC_NAME.findall(expr)}
    missing = {
        name
        for name in used
        if family_of(name, families) is None and not name.startswith("handoffs_llm_")
    }
    assert missing == set()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scrape)
        for s in family.samples
    }
    # daemon.toml keeps the default max_map_size (64 GiB).
    assert samples[("handoffs_store_map_max_bytes", ())] == 64 << 30
    assert samples[("handoffs_role_up", (("role", "writer"),))] == 1
    assert samples[("handoffs_role_up", (("role", "reviewer"),))] == 1
