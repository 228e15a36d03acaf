"""What the deploy files ask Prometheus for: the metric names and labels in their PromQL, and
the names and labels the runtime exports, to check one against the other."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from handoffs.actors import RuntimeMetrics
from prometheus_client import CollectorRegistry

from handoffs.llm.metrics import LLMMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "handoffs-alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "handoffs-alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "handoffs.json"
METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

#: Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}

METRIC_NAME = re.compile(r"\b(handoffs_[a-z_]+)\b")
_SELECTOR = re.compile(r"\b(handoffs_[a-z_]+)\{([^}]*)\}")
_MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
_DOC_LINE = re.compile(r"^- `(handoffs_[a-z_]+)(?:\{([a-z_,]*)\})?`", re.MULTILINE)
_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def families() -> dict[str, str]:
    """Every metric family the runtime registers (with the model metrics), name -> type."""
    registry = CollectorRegistry()
    metrics = RuntimeMetrics(registry)
    metrics.watch_store(lambda: (1, 2), limit=3)
    LLMMetrics(registry)
    return {f.name: f.type for f in registry.collect()}


def documented_labels() -> dict[str, set[str]]:
    """docs/metrics.md's list: each series' name (as scraped) -> its labels."""
    text = METRICS_DOC.read_text()
    return {
        m.group(1): set(filter(None, (m.group(2) or "").split(",")))
        for m in _DOC_LINE.finditer(text)
    }


def exported() -> dict[str, set[str]]:
    """Every sample name a scrape may hold -> the labels it may carry (``le`` on buckets)."""
    labels = documented_labels()
    names: dict[str, set[str]] = {}
    for family, kind in families().items():
        series = family + "_total" if kind == "counter" else family
        for suffix in _SUFFIXES[kind]:
            name = family + suffix if kind != "counter" else series
            names[name] = labels.get(series, set()) | ({"le"} if suffix == "_bucket" else set())
    return names


def rule_expressions() -> dict[str, str]:
    """The alert rules file: alert name -> expression."""
    doc: Any = yaml.safe_load(RULES.read_text())
    return {rule["alert"]: rule["expr"] for group in doc["groups"] for rule in group["rules"]}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_expressions() -> dict[str, str]:
    """Every query of the dashboard (panel targets and variables): where -> expression."""
    board = dashboard()
    found = {
        f"panel {panel['title']!r} {target['refId']}": target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
    }
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            found[f"variable {var['name']}"] = var["query"]["query"]
    return found


def problems(expr: str, names: dict[str, set[str]]) -> list[str]:
    """What in ``expr`` the runtime does not export: unknown metrics, unknown labels."""
    used = set(METRIC_NAME.findall(expr))
    found = [f"unknown metric {metric}" for metric in sorted(used - names.keys())]
    for metric, matchers in _SELECTOR.findall(expr):
        if metric not in names:
            continue  # reported above
        allowed = names[metric] | TARGET_LABELS
        found += [
            f"{metric} has no label {label}"
            for label in _MATCHER.findall(matchers)
            if label not in allowed
        ]
    # label_values(metric, label): the label must be the metric's.
    for metric, label in re.findall(r"label_values\((handoffs_[a-z_]+)[^,]*,\s*(\w+)\)", expr):
        if label not in names.get(metric, set()) | TARGET_LABELS:
            found.append(f"{metric} has no label {label}")
    carried = set().union(*(names.get(m, set()) for m in used)) | TARGET_LABELS | {"le"}
    for grouping in _GROUPING.findall(expr):
        labels = filter(None, (x.strip() for x in grouping.split(",")))
        found += [f"no metric of the expression has label {x}" for x in labels if x not in carried]
    return found
