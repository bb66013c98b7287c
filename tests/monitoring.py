"""The monitoring files an operator imports (Grafana dashboard, Prometheus rules) and the metric names they use.

Shared by tests/unit/test_monitoring_files.py (promtool, the files' shape, the
names they use) and tests/integration/test_monitoring.py (a running worker
exports each name). `METRIC_NAMES` is written out once, by hand: the files must
use exactly these, so a name added to a file is a name the worker test checks.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "stream-app.json"
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "rules.test.yml"

# Every series name the dashboard and the rules query. `up` is Prometheus's own (one per scrape target).
METRIC_NAMES = frozenset({
    "stream_app_events_in_total",
    "stream_app_statements_out_total",
    "stream_app_dead_letters_total",
    "stream_app_held_total",
    "stream_app_registry_failures_total",
    "stream_app_deliveries_total",
    "stream_app_delivery_latency_seconds_bucket",
    "stream_app_router_last_success_timestamp_seconds",
    "stream_app_consumer_lag",
    "stream_app_events_routed_total",
    "stream_app_lrs_responses_total",
    "up",
})
PROMETHEUS_OWN = frozenset({"up"})

# Grafana's variables, replaced by values a plain Prometheus accepts when the queries are checked.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$job": ".*", "$router": ".*"}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(DASHBOARD.read_bytes())
    return data


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel but the rows (and the panels of collapsed rows)."""
    out = []
    for panel in board["panels"]:
        if panel["type"] == "row":
            out.extend(panel.get("panels", []))
        else:
            out.append(panel)
    return out


def dashboard_exprs(board: dict[str, Any]) -> list[str]:
    """The PromQL of every panel target."""
    return [target["expr"] for panel in panels(board) for target in panel["targets"]]


def variable_queries(board: dict[str, Any]) -> list[str]:
    """The `label_values(...)` queries of the query variables."""
    return [v["query"]["query"] for v in board["templating"]["list"] if v["type"] == "query"]


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def promql_names(expr: str) -> set[str]:
    """The series names a PromQL (or Grafana `label_values`) expression selects.

    Not a parser, but enough for our queries: strings, label matchers, ranges,
    `by (...)`/`on (...)` label lists and Grafana variables are removed first;
    what is left that is an identifier not followed by `(` is a metric name.
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\w+", " ", text)
    text = re.sub(r"label_values\(([^,)]*),[^)]*\)", r" \1 ", text)
    keywords = {"and", "or", "unless", "by", "on", "bool", "offset"}
    return {m.group(1) for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)\s*(\()?", text)
            if m.group(2) is None and m.group(1) not in keywords}


def names_in_files() -> set[str]:
    board = dashboard()
    exprs = dashboard_exprs(board) + variable_queries(board) + [rule["expr"] for rule in alert_rules()]
    return set().union(*(promql_names(e) for e in exprs))


def promtool() -> str:
    """promtool's path (on PATH, or in this virtualenv where `make promtool` puts it).

    Missing, the test fails under CI (`make test` installs it there) and is skipped elsewhere.
    """
    found = shutil.which("promtool") or shutil.which("promtool", path=str(Path(sys.executable).parent))
    if found:
        return found
    message = "promtool not found: `make promtool` puts it in .venv/bin (from Debian's prometheus package)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
