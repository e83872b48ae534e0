"""The localhost rendering of the compose stack's Prometheus and Alertmanager configs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.local import LocalPorts, render_alertmanager, render_prometheus

PORTS = LocalPorts(
    ingest=18000, enricher=18001, analyst=18002, notifier=18003, prometheus=19090, alertmanager=19093
)


@pytest.fixture(scope="module")
def prometheus(repo: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((repo / "infra/prometheus/prometheus.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def alertmanager(repo: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((repo / "infra/alertmanager/alertmanager.yml").read_text())
    return loaded


def _targets(config: dict[str, Any]) -> dict[str, list[str]]:
    return {
        job["job_name"]: [t for group in job["static_configs"] for t in group["targets"]]
        for job in config["scrape_configs"]
    }


def test_every_stage_is_scraped_on_its_local_port(prometheus: dict[str, Any], repo: Path) -> None:
    rendered = render_prometheus(prometheus, PORTS, repo / "infra/prometheus/rules")
    targets = _targets(rendered)
    assert targets["aiops-ingest"] == ["127.0.0.1:18000"]
    assert targets["aiops-enricher"] == ["127.0.0.1:18001"]
    assert targets["aiops-analyst"] == ["127.0.0.1:18002"]
    assert targets["aiops-notifier"] == ["127.0.0.1:18003"]
    assert targets["prometheus"] == ["127.0.0.1:19090"]
    assert targets["alertmanager"] == ["127.0.0.1:19093"]
    assert not any("dns_sd_configs" in job for job in rendered["scrape_configs"])


def test_jobs_without_a_local_process_are_dropped_not_left_failing(
    prometheus: dict[str, Any], repo: Path
) -> None:
    without_node = _targets(render_prometheus(prometheus, PORTS, repo / "infra/prometheus/rules"))
    assert {"nats", "loki", "node"}.isdisjoint(without_node)
    with_node = LocalPorts(node_exporter=9100)
    assert _targets(render_prometheus(prometheus, with_node, repo))["node"] == ["127.0.0.1:9100"]


def test_alerts_go_to_the_local_alertmanager_and_rules_are_the_repository_files(
    prometheus: dict[str, Any], repo: Path
) -> None:
    rules = repo / "infra/prometheus/rules"
    rendered = render_prometheus(prometheus, PORTS, rules)
    assert rendered["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["127.0.0.1:19093"]}]}]
    assert rendered["rule_files"] == [str(rules / "*.yml")]
    assert rendered["global"] == prometheus["global"]


def test_webhook_goes_to_local_ingest_with_the_token_file(
    alertmanager: dict[str, Any], tmp_path: Path
) -> None:
    token = tmp_path / "ingest_token"
    rendered = render_alertmanager(alertmanager, PORTS, token)
    (webhook,) = rendered["receivers"][0]["webhook_configs"]
    assert webhook["url"] == "http://127.0.0.1:18000/webhook/alertmanager"
    assert webhook["http_config"]["authorization"] == {"type": "Bearer", "credentials_file": str(token)}
    assert webhook["send_resolved"] is True
    assert rendered["route"] == alertmanager["route"]


def test_without_a_token_the_webhook_sends_no_authorization(alertmanager: dict[str, Any]) -> None:
    rendered = render_alertmanager(alertmanager, PORTS, None)
    (webhook,) = rendered["receivers"][0]["webhook_configs"]
    assert "authorization" not in webhook["http_config"]


def test_group_wait_can_be_shortened_for_demos(alertmanager: dict[str, Any]) -> None:
    rendered = render_alertmanager(alertmanager, PORTS, None, group_wait="1s")
    assert rendered["route"]["group_wait"] == "1s"
    assert rendered["route"]["group_by"] == alertmanager["route"]["group_by"]


def test_rendering_leaves_the_source_config_untouched(
    prometheus: dict[str, Any], alertmanager: dict[str, Any], tmp_path: Path
) -> None:
    before = copy.deepcopy((prometheus, alertmanager))
    render_prometheus(prometheus, PORTS, tmp_path)
    render_alertmanager(alertmanager, PORTS, None)
    assert (prometheus, alertmanager) == before
