"""The shipped Prometheus and Alertmanager configs pass the upstream checkers, and every alert is tested."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.local import LocalPorts, render_alertmanager, render_prometheus

PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package prometheus)"
)
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="amtool not installed (Debian package prometheus-alertmanager)"
)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def _alert_names(rule_file: Path) -> list[str]:
    groups = yaml.safe_load(rule_file.read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


@needs_promtool
def test_prometheus_config_is_valid(repo: Path) -> None:
    result = _run(str(PROMTOOL), "check", "config", str(repo / "infra/prometheus/prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    # The rule glob must actually match files, or Prometheus would start without any alert.
    assert "rules found" in result.stdout


@needs_promtool
def test_alert_rules_are_valid(repo: Path) -> None:
    rule_files = sorted((repo / "infra/prometheus/rules").glob("*.yml"))
    result = _run(str(PROMTOOL), "check", "rules", *map(str, rule_files))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_alert_rule_unit_tests_pass(repo: Path) -> None:
    tests = sorted((repo / "infra/prometheus/tests").glob("*.yml"))
    assert tests
    result = _run(str(PROMTOOL), "test", "rules", *map(str, tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_pack_has_twenty_alerts_and_every_shipped_alert_has_a_unit_test(repo: Path) -> None:
    rules = repo / "infra/prometheus/rules"
    assert len(_alert_names(rules / "common.yml")) >= 20
    shipped = {name for path in rules.glob("*.yml") for name in _alert_names(path)}
    tested = {
        case["alertname"]
        for path in (repo / "infra/prometheus/tests").glob("*.yml")
        for group in yaml.safe_load(path.read_text())["tests"]
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert shipped - tested == set()


def test_every_alert_says_what_and_how_bad(repo: Path) -> None:
    for path in (repo / "infra/prometheus/rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
                assert rule["annotations"]["summary"], rule["alert"]
                assert rule["annotations"]["description"], rule["alert"]


def _without_variables(expr: str) -> str:
    """Grafana substitutes its variables before querying; stand in values promtool can parse."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: "5m" if m.group(1).endswith("interval") else "1", expr)


@needs_promtool
def test_dashboard_queries_are_valid_promql(repo: Path, tmp_path: Path) -> None:
    dashboard = json.loads((repo / "infra/grafana/dashboards/pipeline.json").read_text())
    exprs = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if target.get("datasource", {}).get("type", "prometheus") == "prometheus" and "expr" in target
    ]
    assert len(exprs) >= 8
    records = [{"record": f"dashboard:query_{i}", "expr": _without_variables(e)} for i, e in enumerate(exprs)]
    rule_file = tmp_path / "dashboard_rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    result = _run(str(PROMTOOL), "check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_amtool
def test_alertmanager_config_is_valid(repo: Path) -> None:
    result = _run(str(AMTOOL), "check-config", str(repo / "infra/alertmanager/alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_amtool
def test_amtool_rejects_a_broken_config(repo: Path, tmp_path: Path) -> None:
    broken: dict[str, Any] = yaml.safe_load((repo / "infra/alertmanager/alertmanager.yml").read_text())
    broken["route"]["receiver"] = "nobody"
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(broken))
    assert _run(str(AMTOOL), "check-config", str(path)).returncode != 0


@needs_promtool
@needs_amtool
def test_rendered_localhost_configs_are_valid(repo: Path, tmp_path: Path) -> None:
    prometheus = yaml.safe_load((repo / "infra/prometheus/prometheus.yml").read_text())
    alertmanager = yaml.safe_load((repo / "infra/alertmanager/alertmanager.yml").read_text())
    token = tmp_path / "ingest_token"
    token.write_text("t0ken")
    ports = LocalPorts(node_exporter=9100)
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(render_prometheus(prometheus, ports, repo / "infra/prometheus/rules"))
    )
    (tmp_path / "alertmanager.yml").write_text(
        yaml.safe_dump(render_alertmanager(alertmanager, ports, token))
    )
    checked = _run(str(PROMTOOL), "check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "rules found" in checked.stdout
    checked = _run(str(AMTOOL), "check-config", str(tmp_path / "alertmanager.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
