"""The alert rules an operator loads (deploy/prometheus/rules/): valid, each firing on the trouble it names in
Prometheus's own rule tests, each saying what to do (a runbook section in docs/OPERATIONS.md); the dashboard
(deploy/grafana/) provisioned against the Prometheus beside it; and both naming only metrics comfyloom exports.
promtool is Debian's `prometheus` package, which scripts/setup installs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
RULES = ROOT / "deploy/prometheus/rules/comfyloom.yml"
RULE_TESTS = ROOT / "deploy/prometheus/tests/comfyloom_test.yml"
DASHBOARD = ROOT / "deploy/grafana/dashboards/comfyloom.json"
DATASOURCES = ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml"
OPERATIONS = ROOT / "docs/OPERATIONS.md"
# Where metrics are made: the workers' (Temporal's runtime meter) and the API's (prometheus_client).
EXPORTERS = [ROOT / d for d in ("api", "activities", "comfyloom", "workflows", "worker_cpu", "worker_gpu")]
METRIC = re.compile(r"\b((?:comfyloom|temporal)_[a-z0-9_]+|up)\b")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is not installed: scripts/setup installs Debian's prometheus package, which has it")
    return subprocess.run([found, *args], capture_output=True, text=True, timeout=120)


def alerts() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(RULES.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"] if "alert" in rule]


def panel_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def monitored_metrics() -> set[str]:
    """Every metric name an alert's expression or a dashboard panel reads."""
    return {name for expr in [rule["expr"] for rule in alerts()] + panel_queries() for name in METRIC.findall(expr)}


def exported_metrics() -> set[str]:
    """The names comfyloom's code registers, as each exporter writes them: Temporal's runtime keeps a counter's
    name and adds `_bucket`/`_count`/`_sum` to a histogram's; prometheus_client adds `_total` to a counter's.
    tests/operations/test_metrics.py reads both from real scrapes."""
    core = re.compile(r'create_(counter|gauge|gauge_float|histogram\w*)\(\s*"([a-z0-9_]+)"')
    client = re.compile(r'\b(Counter|Histogram|Gauge)\(\s*"([a-z0-9_]+)"')
    names: set[str] = set()
    for source in (path for directory in EXPORTERS for path in directory.rglob("*.py")):
        text = source.read_text()
        for kind, name in core.findall(text):
            names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"} if kind.startswith("histogram") else {name}
        for kind, name in client.findall(text):
            names |= {"Counter": {f"{name}_total"}, "Gauge": {name}}.get(
                kind, {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
            )
    return names


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a document's headings."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


def test_the_rules_load_and_pass_their_unit_tests() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout + tested.stderr


def test_every_alert_waits_says_how_bad_in_plain_words_and_where_the_runbook_is() -> None:
    sections = anchors(OPERATIONS.read_text())
    for rule in alerts():
        assert "for" in rule, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert len(rule["annotations"]["summary"].split()) >= 8, rule["alert"]
        runbook = rule["annotations"]["runbook_url"]
        page, _, anchor = runbook.partition("#")
        assert page == "docs/OPERATIONS.md" and anchor in sections, (rule["alert"], runbook)


def test_every_alert_has_a_rule_test_where_it_fires_and_one_where_it_stays_quiet() -> None:
    cases = [case for test in yaml.safe_load(RULE_TESTS.read_text())["tests"] for case in test["alert_rule_test"]]
    named = {rule["alert"] for rule in alerts()}
    assert named <= {case["alertname"] for case in cases if case.get("exp_alerts")}
    assert named <= {case["alertname"] for case in cases if not case.get("exp_alerts")}


def test_every_metric_a_rule_or_panel_reads_is_one_comfyloom_exports() -> None:
    """The SDK's own (`temporal_*`) are read from a real worker's endpoint in test_metrics.py."""
    ours = {name for name in monitored_metrics() if not name.startswith("temporal_") and name != "up"}
    assert ours <= exported_metrics(), ours - exported_metrics()


def test_the_dashboard_shows_what_an_operator_watches_from_the_provisioned_prometheus() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    [source] = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    titles = " | ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for shown in (
        "generations per minute",
        "p50 and p95",
        "gpu busy",
        "backlog",
        "failures",
        "api requests",
        "api answer time",
        "webhook",
        "credits",
    ):
        assert shown in titles, shown
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"] and all(t["datasource"]["uid"] == source["uid"] for t in panel["targets"])
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
