"""The Grafana dashboard and the Prometheus rules an operator imports: real promtool accepts them, the alert unit
tests pass and cover each alert both ways, and the files use exactly the metric names listed in tests/monitoring.py
(which tests/integration/test_monitoring.py checks against a running worker)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.monitoring import (
    GRAFANA_VARIABLES,
    METRIC_NAMES,
    RULES,
    RULES_TEST,
    alert_rules,
    dashboard,
    dashboard_exprs,
    names_in_files,
    panels,
    promql_names,
    promtool,
)

ALERTS = {"StreamAppLagGrowing", "StreamAppDeadLetters", "StreamAppUndelivered", "StreamAppRouterSilent",
          "StreamAppRegistryFailing", "StreamAppWorkerDown", "StreamAppLrsClientErrors"}


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_promtool_accepts_the_rules_file() -> None:
    result = run_promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", RULES_TEST.name, cwd=RULES_TEST.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rules_are_the_alerts_operators_need() -> None:
    rules = alert_rules()
    assert {r["alert"] for r in rules} == ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    worker_down = next(r for r in rules if r["alert"] == "StreamAppWorkerDown")
    assert worker_down["expr"].strip() == 'up{job="stream-app"} == 0'


def test_each_alert_is_tested_firing_and_not_firing_and_legacy_dead_letters_never_fire() -> None:
    tests = yaml.safe_load(RULES_TEST.read_text())["tests"]
    fired = {c["alertname"] for t in tests for c in t["alert_rule_test"] if c["exp_alerts"]}
    quiet = {c["alertname"] for t in tests for c in t["alert_rule_test"] if not c["exp_alerts"]}
    assert fired == ALERTS and quiet == ALERTS
    # The dead-letter test feeds a growing stage="legacy" counter; promtool's pass means it did not fire.
    (dead,) = [t for t in tests if any(c["alertname"] == "StreamAppDeadLetters" for c in t["alert_rule_test"])]
    legacy = [s for s in dead["input_series"] if 'stage="legacy"' in s["series"]]
    assert legacy and legacy[0]["values"].startswith("0+")
    expected = [a["exp_labels"] for c in dead["alert_rule_test"] for a in c["exp_alerts"]]
    assert all(labels["stage"] != "legacy" for labels in expected)


def test_the_dashboard_is_a_grafana_dashboard_on_a_prometheus_datasource_variable() -> None:
    board = dashboard()
    assert board["uid"] == "stream-app" and board["title"] and isinstance(board["schemaVersion"], int)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    shown = panels(board)
    ids = [p["id"] for p in board["panels"]] + [p["id"] for p in shown if p not in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in shown:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"]), panel["title"]
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
    # Panels do not overlap.
    cells = [(x, y) for p in shown for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
             for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])]
    assert len(cells) == len(set(cells))


def test_the_dashboard_shows_what_the_operator_watches() -> None:
    board = dashboard()
    by_metric: dict[str, list[str]] = {}
    for expr in dashboard_exprs(board):
        for name in promql_names(expr):
            by_metric.setdefault(name, []).append(expr)
    assert any("by (format)" in e for e in by_metric["stream_app_statements_out_total"])  # throughput per format
    assert "stream_app_events_in_total" in by_metric
    assert any("by (stage, reason)" in e for e in by_metric["stream_app_dead_letters_total"])
    assert any("by (router, outcome)" in e for e in by_metric["stream_app_deliveries_total"])
    latency = by_metric["stream_app_delivery_latency_seconds_bucket"]
    assert {e.split(",")[0] for e in latency} == {"histogram_quantile(0.5", "histogram_quantile(0.95",
                                                 "histogram_quantile(0.99"}
    assert all("by (le, router)" in e for e in latency)
    assert "stream_app_consumer_lag" in by_metric and "stream_app_registry_failures_total" in by_metric
    assert "stream_app_held_total" in by_metric
    assert any("by (router, status)" in e for e in by_metric["stream_app_lrs_responses_total"])


def test_every_dashboard_query_is_promql_that_promtool_accepts(tmp_path: Path) -> None:
    # promtool checks queries only inside rules files: each panel query becomes a recording rule.
    records = []
    for i, expr in enumerate(dashboard_exprs(dashboard())):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        records.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_files_use_exactly_the_listed_metric_names() -> None:
    assert names_in_files() == METRIC_NAMES


def test_metric_names_are_read_from_promql_without_functions_labels_or_variables() -> None:
    expr = ('histogram_quantile(0.99, sum by (le, router) (rate(a_bucket{job=~"$job",x="y{z}"}[$__rate_interval])))'
            ' and on () time() - max by (router) (b_seconds offset 5m) > 3 or label_values(c_total{j="$job"}, d)')
    assert promql_names(expr) == {"a_bucket", "b_seconds", "c_total"}
