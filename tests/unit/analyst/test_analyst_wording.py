"""What the person on call reads: the right thing named, commands that run, no claim beyond the alert.

Each case is a kind of alert found in the wild (kube-prometheus, awesome-prometheus-alerts, exporters
scraped through a ServiceMonitor), with the labels and annotations it arrives with.
"""

from __future__ import annotations

import schemas
from services.analyst import RulesAnalyst
from services.analyst.eval import build_message

ANALYST = RulesAnalyst()


def _analysis(labels: dict[str, str], annotations: dict[str, str] | None = None) -> schemas.Analysis:
    message = build_message(
        {
            "alert": {
                "labels": labels,
                "annotations": annotations or {},
                "startsAt": "2024-05-14T09:12:00Z",
            }
        }
    )
    return ANALYST.analyze(message)


def _text(analysis: schemas.Analysis) -> str:
    return "\n".join([analysis.summary, analysis.root_cause, *analysis.evidence, *analysis.remediation])


# kube-state-metrics scraped through its ServiceMonitor: service, instance and endpoint are its own.
KSM = {"job": "kube-state-metrics", "service": "kube-state-metrics", "instance": "10.2.1.7:8443"}
# node-exporter as kube-prometheus runs it: a DaemonSet pod in `monitoring`, the host is the instance.
NODE_EXPORTER = {
    "job": "node-exporter",
    "service": "node-exporter",
    "namespace": "monitoring",
    "pod": "node-exporter-x7k2p",
    "instance": "10.0.1.21:9100",
}


def test_a_kube_state_metrics_alert_names_the_object_it_reports_not_the_exporter() -> None:
    node = _analysis(
        {**KSM, "alertname": "KubeNodeNotReady", "namespace": "payments", "node": "ip-10-0-1-21"}
    )
    assert "ip-10-0-1-21" in node.summary
    assert "kube-state-metrics" not in node.summary + node.root_cause
    assert "payments/ip-10-0-1-21" not in node.summary  # a node is in no namespace
    pdb = _analysis(
        {
            **KSM,
            "alertname": "KubePdbNotEnoughHealthyPods",
            "namespace": "payments",
            "poddisruptionbudget": "web",
        }
    )
    assert "payments/web" in pdb.summary
    cron = _analysis(
        {**KSM, "alertname": "KubernetesCronjobFailing", "namespace": "ops", "cronjob": "backup"}
    )
    assert "ops/backup" in cron.summary
    assert "10.2.1.7" not in cron.summary


def test_a_node_exporter_alert_names_the_host_not_the_exporter_pod() -> None:
    analysis = _analysis(
        {**NODE_EXPORTER, "alertname": "NodeFilesystemAlmostOutOfSpace", "mountpoint": "/var"}
    )
    assert " on 10.0.1.21:9100:" in analysis.summary
    assert "node-exporter" not in analysis.summary + analysis.root_cause
    assert "monitoring/" not in analysis.summary


def test_an_application_scraped_under_its_own_job_is_still_named_by_its_pod() -> None:
    labels = {
        "alertname": "HighErrorRate",
        "job": "checkout",
        "namespace": "shop",
        "pod": "checkout-5d9f-x2k4p",
    }
    assert " on shop/checkout-5d9f-x2k4p:" in _analysis(labels).summary


def test_a_node_not_ready_is_the_kubelets_report_not_a_failed_scrape() -> None:
    analysis = _analysis({**KSM, "alertname": "KubeNodeNotReady", "node": "ip-10-0-1-21"})
    assert analysis.category == "availability"
    assert "scrape" not in analysis.root_cause
    assert "Node ip-10-0-1-21 does not report Ready" in analysis.root_cause
    assert "`kubectl describe node ip-10-0-1-21`" in "\n".join(analysis.remediation)


def test_rollout_commands_name_the_workload_by_its_kind() -> None:
    daemonset = _analysis(
        {**KSM, "alertname": "KubeDaemonSetRolloutStuck", "namespace": "logging", "daemonset": "fluent-bit"}
    )
    steps = "\n".join(daemonset.remediation)
    assert "rollout undo daemonset/fluent-bit" in steps
    assert "deploy/" not in steps
    # A Deployment's pod names its Deployment: <name>-<pod-template-hash>-<suffix>.
    config = build_message(
        {
            "alert": {
                "labels": {
                    "alertname": "KubePodCrashLooping",
                    "namespace": "shop",
                    "pod": "cart-api-7d9f8b6c5-x2k4p",
                },
                "startsAt": "2024-05-14T09:12:00Z",
            },
            "logs": [{"sample": "fatal: environment variable DATABASE_URL is not set", "count": 3}],
        }
    )
    steps = "\n".join(ANALYST.analyze(config).remediation)
    assert "rollout restart deploy/cart-api`" in steps
    # A StatefulSet's pod does not look like one, and is not guessed at.
    sts = _analysis({"alertname": "KubePodCrashLooping", "namespace": "db", "pod": "postgres-0"})
    assert "deploy/postgres" not in "\n".join(sts.remediation)
