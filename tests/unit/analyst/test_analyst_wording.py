"""What the person on call reads: the right thing named, commands that run, no claim beyond the alert.

Each case is a kind of alert found in the wild (kube-prometheus, awesome-prometheus-alerts, exporters
scraped through a ServiceMonitor), with the labels and annotations it arrives with.
"""

from __future__ import annotations

from urllib.parse import quote_plus

import schemas
from services.analyst import RulesAnalyst
from services.analyst._promql_text import scoped_queries
from services.analyst._rules import render
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


def test_exporters_a_chart_named_after_its_release_are_not_taken_for_the_subject() -> None:
    # kube-prometheus-stack's labels: the exporters' pod and service carry the release's name.
    release = {"namespace": "kube-prometheus-stack", "endpoint": "http"}
    node = _analysis(
        {
            **release,
            "alertname": "KubeNodeNotReady",
            "job": "kube-state-metrics",
            "container": "kube-state-metrics",
            "pod": "kube-prometheus-stack-kube-state-metrics-58474dc949-6ngch",
            "service": "kube-prometheus-stack-kube-state-metrics",
            "instance": "10.42.2.101:8080",
            "node": "hive-02",
        }
    )
    assert node.summary.startswith("KubeNodeNotReady on hive-02:"), node.summary
    disk = _analysis(
        {
            **release,
            "alertname": "NodeFilesystemAlmostOutOfSpace",
            "job": "node-exporter",
            "container": "node-exporter",
            "pod": "kube-prometheus-stack-prometheus-node-exporter-x7k2p",
            "service": "kube-prometheus-stack-prometheus-node-exporter",
            "instance": "10.0.1.21:9100",
            "mountpoint": "/var",
        }
    )
    assert " on 10.0.1.21:9100:" in disk.summary, disk.summary


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


# awesome-prometheus-alerts ends every description with a dump of the value and the labels.
DUMPED = (
    "PostgreSQL has dead-locks (6 in the last minute)\n  VALUE = 6\n"
    "  LABELS = map[alertname:PgDeadLocks instance:pg-1:9187 job:postgres]"
)


def test_a_description_reads_without_its_value_and_labels_dump() -> None:
    analysis = _analysis({"alertname": "PgDeadLocks", "instance": "pg-1:9187"}, {"description": DUMPED})
    text = _text(analysis)
    assert "PostgreSQL has dead-locks (6 in the last minute)" in analysis.root_cause
    assert "LABELS = map[" not in text
    assert "VALUE = 6" not in text


def test_summaries_read_as_sentences_whatever_the_signal_says() -> None:
    down = _analysis({"alertname": "RedisDown", "instance": "redis-1:9121"}, {"summary": "Redis down"})
    assert down.summary == "RedisDown on redis-1:9121: a target is down or unreachable"


def test_a_label_the_alert_lacks_leaves_no_stand_in_words_in_the_sentence() -> None:
    disk = _analysis({"alertname": "HostDiskMayFillIn24Hours", "instance": "db-1:9100"})
    assert "(the volume)" not in disk.root_cause
    assert "A filesystem or volume of db-1:9100 is running out" in disk.root_cause
    named = _analysis(
        {"alertname": "HostDiskMayFillIn24Hours", "instance": "db-1:9100", "mountpoint": "/data"}
    )
    assert "of db-1:9100 (/data) is running out" in named.root_cause
    io = _analysis({"alertname": "HostUnusualDiskReadLatency", "instance": "db-1:9100"})
    assert "The disk on db-1:9100 is saturated" in io.root_cause


def test_an_empty_value_takes_its_parentheses_but_no_function_call_loses_its_own() -> None:
    assert render("disk (${volume|}) on ${target}", {"target": "h"}) == "disk on h"
    assert render("The disk ${device|} on h", {}) == "The disk on h"
    assert render("`(x - time()) / 86400` on ${t}", {"t": "h"}) == "`(x - time()) / 86400` on h"


def test_a_parenthetical_that_would_only_name_its_label_is_left_out() -> None:
    # No job label: the rule's stand-in for it would read "(job the job)".
    unnamed = _analysis({"alertname": "InstanceDown", "severity": "critical"})
    assert "(job" not in unnamed.root_cause, unnamed.root_cause
    assert unnamed.root_cause.startswith("The unnamed target does not answer Prometheus' scrapes")
    # A label whose value is its own name (a template's leftover) names nothing either.
    itself = _analysis({"alertname": "InstanceDown", "job": "job", "instance": "edge-3:9100"})
    assert "(job" not in itself.root_cause, itself.root_cause
    assert "Target edge-3:9100 does not answer" in itself.root_cause
    named = _analysis({"alertname": "InstanceDown", "job": "edge", "instance": "edge-3:9100"})
    assert "Target edge-3:9100 (job edge) does not answer" in named.root_cause
    assert render("${t} (job ${job|the job}), then", {"t": "h"}) == "h, then"
    assert render("${t} (${instance|<instance>}) is", {"t": "h", "instance": "instance"}) == "h is"
    assert "on instance" not in _analysis({"alertname": "Gone", "instance": "instance"}).summary


def test_a_list_of_values_after_its_noun_reads_in_the_plural() -> None:
    expr = 'sum(kube_pod_container_status_terminated_reason{reason=~"Evicted|ContainerCannotRun"}) > 0'
    message = build_message(
        {
            "alert": {
                "labels": {"alertname": "WorkerContainerKilled", "namespace": "jobs", "pod": "worker-0"},
                "generatorURL": "http://prometheus:9090/graph?g0.expr=" + quote_plus(expr),
                "startsAt": "2024-05-14T09:12:00Z",
            }
        }
    )
    analysis = ANALYST.analyze(message)
    assert "(reasons Evicted, ContainerCannotRun)" in analysis.summary
    assert "terminated, reasons Evicted, ContainerCannotRun:" in analysis.root_cause
    # One value keeps its noun singular; so does a list after another word, or a longer one.
    assert render("(reason ${reason})", {"reason": "Evicted"}) == "(reason Evicted)"
    assert render("says ${reason}; treason ${reason}", {"reason": "a, b"}) == "says a, b; treason a, b"
    assert render("policy ${policy}, class ${class}", {"policy": "a, b", "class": "c, d"}) == (
        "policies a, b, classes c, d"
    )


def test_a_network_alert_that_names_no_failure_is_not_said_to_drop_packets() -> None:
    analysis = _analysis(
        {"alertname": "HostUnusualNetworkThroughputIn", "instance": "web-1:9100"},
        {"summary": "Host unusual network throughput in"},
    )
    assert analysis.category == "network"
    assert "dropping" not in analysis.summary
    assert "does not say whether" in analysis.root_cause


def test_a_query_scoped_to_the_host_runs_without_the_label_the_alert_lacks() -> None:
    analysis = _analysis({"alertname": "HostOutOfDiskSpace", "instance": "db-1:9100"})
    query = next(step for step in analysis.remediation if "predict_linear" in step)
    assert 'node_filesystem_avail_bytes{instance="db-1:9100"}' in query
    assert '"<mountpoint>"' not in query
    # Nothing else names what to look at: the stand-in stays, to be filled in.
    assert scoped_queries('`up{job="<job>"} == 0`') == '`up{job="<job>"} == 0`'
    assert scoped_queries('`x{job="<job>",code=~"5.."}`') == '`x{job="<job>",code=~"5.."}`'
    jsonpath = "`kubectl get pod p -o jsonpath='{.spec}'`"
    assert scoped_queries(jsonpath + ' `a{b="<c>"}`') == jsonpath + ' `a{b="<c>"}`'


def test_the_job_of_a_series_an_exporter_reported_is_not_taken_for_the_services() -> None:
    generation = {
        "name": "kube_deployment_status_observed_generation",
        "query": "kube_deployment_status_observed_generation",
        "series": [
            {
                "labels": {"deployment": "bidder", "job": "kube-state-metrics", "namespace": "ads"},
                "min": 1,
                "max": 2,
                "change_abs": 1,
            }
        ],
    }
    message = build_message(
        {
            "alert": {
                "labels": {"alertname": "BidderHighLatency", "namespace": "ads", "deployment": "bidder"},
                "startsAt": "2024-05-14T09:12:00Z",
            },
            "metrics": [generation],
        }
    )
    steps = "\n".join(ANALYST.analyze(message).remediation)
    assert 'job="kube-state-metrics"' not in steps


def _with_logs(labels: dict[str, str], *lines: str) -> schemas.Analysis:
    message = build_message(
        {
            "alert": {"labels": labels, "startsAt": "2024-05-14T09:12:00Z"},
            "logs": [{"sample": line, "count": 5, "severity": "error"} for line in lines],
        }
    )
    return ANALYST.analyze(message)


def test_a_pool_the_log_says_is_redis_is_not_explained_as_a_databases() -> None:
    redis = _with_logs(
        {"alertname": "CartHighErrorRate", "namespace": "shop", "pod": "cart-0"},
        "ERROR cart: RedisConnectionException: could not get a connection, pool exhausted",
    )
    text = _text(redis)
    assert "requests wait for Redis connections" in redis.summary
    assert "exhausted its Redis connection pool" in redis.root_cause
    assert "pg_stat_activity" not in text
    assert "hikaricp" not in text
    assert "`redis-cli INFO clients`" in text
    # A pool whose log names no technology keeps the database reading, with its SQL steps.
    jdbc = _with_logs(
        {"alertname": "OrdersLatencyHigh", "namespace": "shop", "pod": "orders-0"},
        "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
    )
    assert "exhausted its database connection pool" in jdbc.root_cause
    assert "pg_stat_activity" in "\n".join(jdbc.remediation)


def test_the_host_a_lookup_failed_for_is_named_even_after_a_bare_marker() -> None:
    # The marker ("NameResolutionError") comes first in the rule; the name is in a later form.
    analysis = _with_logs(
        {"alertname": "WebhookFailing", "namespace": "ops", "pod": "notifier-0"},
        "requests.exceptions.ConnectionError: NameResolutionError: "
        "Failed to resolve 'hooks.internal.example' ([Errno -2] Name or service not known)",
    )
    assert "cannot resolve hooks.internal.example (" in analysis.root_cause
    assert "-- nslookup hooks.internal.example`" in "\n".join(analysis.remediation)
    # Nothing named: the command asks for a name rather than reading "nslookup a dependency".
    bare = _with_logs({"alertname": "WebhookFailing", "namespace": "ops", "pod": "notifier-0"}, "SERVFAIL")
    assert "nslookup <name>`" in "\n".join(bare.remediation)


def test_sentence_punctuation_is_not_part_of_a_captured_name() -> None:
    analysis = _with_logs(
        {"alertname": "KubePodNotReady", "namespace": "ml", "pod": "trainer-0"},
        "type=Warning reason=FailedScheduling "
        'msg="0/3 nodes are available: 3 Insufficient example.com/fpga."',
    )
    assert "example.com/fpga," in analysis.summary
    assert "example.com/fpga." not in analysis.summary + "\n".join(analysis.remediation)


def test_a_container_that_never_started_is_not_sent_to_its_previous_logs() -> None:
    labels = {"alertname": "KubeContainerWaiting", "namespace": "billing", "pod": "ledger-0"}
    waiting = _with_logs(
        labels, 'type=Warning reason=Failed object=Pod/ledger-0 msg="Error: configmap "ledger-env" not found"'
    )
    steps = "\n".join(waiting.remediation)
    assert "--previous" not in steps
    assert "`kubectl -n billing describe pod ledger-0` (Events)" in steps
    # A process that ran and exited on a missing setting has a previous run to read.
    crashed = _with_logs(labels, "fatal: environment variable LEDGER_DSN is not set")
    assert "`kubectl -n billing logs ledger-0 --previous`" in "\n".join(crashed.remediation)


def test_steps_fit_the_platform_the_labels_say() -> None:
    host = _analysis(
        {"alertname": "GrafanaUnavailable", "instance": "grafana-1.example:3000", "job": "grafana"}
    )
    host_steps = "\n".join(host.remediation)
    assert "systemctl status <unit>" in host_steps
    assert "kubectl" not in host_steps
    pod = _analysis({"alertname": "GrafanaUnavailable", "namespace": "monitoring", "pod": "grafana-0"})
    pod_steps = "\n".join(pod.remediation)
    assert "`kubectl -n monitoring get pods -o wide`" in pod_steps
    assert "systemctl" not in pod_steps
    unit = _analysis(
        {"alertname": "HostServiceCrashed", "instance": "10.0.4.2:9100", "name": "postfix.service"},
        {"summary": "A systemd service crashed"},
    )
    unit_steps = "\n".join(unit.remediation)
    assert "`journalctl -u postfix.service -n 100`" in unit_steps
    assert "kubectl" not in unit_steps
    # Labels that say nothing keep both ways of looking.
    unknown = "\n".join(_analysis({"alertname": "GrafanaUnavailable"}).remediation)
    assert "systemctl status <unit>" in unknown
    assert "kubectl get pods" in unknown


def test_hostile_label_values_neither_split_a_line_nor_break_a_command() -> None:
    analysis = _analysis(
        {
            "alertname": "KubePodCrashLooping",
            "namespace": "shop",
            "pod": "web-0\nrm -rf ~",
            "container": "a`id`",
        }
    )
    assert "\n" not in analysis.summary + analysis.root_cause
    steps = analysis.remediation
    assert all("\n" not in step and step.count("`") % 2 == 0 for step in steps)
    assert "rm -rf" not in "".join(steps)
    assert "`kubectl -n shop describe pod <pod>` (Last State)" in steps[0]
    assert "-c <container> --previous`" in steps[1]
    assert "a'id'" in analysis.root_cause
    # A 300-character name is shortened in prose, and in a command no longer taken for a name.
    long_pod = "p" * 300
    long = _analysis({"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": long_pod})
    assert long_pod not in _text(long)
    assert len(long.summary) < 200
    assert "describe pod <pod>`" in long.remediation[0]
    # An ordinary value is copied exactly as it is.
    plain = _analysis({"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "web-7d9f8b6c5-x2k4p"})
    assert "`kubectl -n shop describe pod web-7d9f8b6c5-x2k4p` (Last State)" in plain.remediation[0]


def test_a_value_is_guarded_by_the_span_it_stands_in_not_by_how_the_text_starts() -> None:
    # Prose, then a command: the command's value is pasted into a shell and must not run anything.
    hostile = {"target": "web-1", "pod": "a; rm -rf ~"}
    assert render("Check ${target}, then `kubectl logs ${pod}`", hostile) == (
        "Check web-1, then `kubectl logs <pod>`"
    )
    # A command, then prose: the prose value opens no code span.
    assert render("`kubectl get ${kind}` and ${target}", {"kind": "pods", "target": "a`id`"}) == (
        "`kubectl get pods` and a'id'"
    )


def test_a_root_cause_never_starts_with_a_lower_case_name() -> None:
    down = _analysis({"alertname": "InstanceDown", "instance": "prometheus-1:9090", "job": "prometheus"})
    assert down.root_cause.startswith("Target prometheus-1:9090 (job prometheus) does not answer")
    pod = _with_logs({"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-0"}, "OOMKilled")
    assert pod.root_cause.startswith("Pod shop/cart-0 exhausts its memory")
    unnamed = _analysis({"alertname": "InstanceDown"})
    assert unnamed.root_cause.startswith("The unnamed target")
    # Inside a code span nothing is re-cased.
    assert render("`${pod}` restarts", {"pod": "cart-0"}, sentence=True) == "`cart-0` restarts"


def test_memory_steps_query_what_the_alert_measures() -> None:
    def steps(name: str, expr: str) -> str:
        message = build_message(
            {
                "alert": {
                    "labels": {"alertname": name, "instance": "db-1:9100", "job": "node"},
                    "startsAt": "2024-05-14T09:12:00Z",
                    "generatorURL": "http://prometheus:9090/graph?g0.expr=" + quote_plus(expr),
                }
            }
        )
        return "\n".join(ANALYST.analyze(message).remediation)

    faults = steps("HostMemoryUnderMemoryPressure", "rate(node_vmstat_pgmajfault[1m]) > 1000")
    assert 'rate(node_vmstat_pgmajfault{instance="db-1:9100"}[5m])' in faults
    assert "MemAvailable" not in faults
    swap = steps("HostSwapIsFillingUp", "1 - node_memory_SwapFree_bytes / node_memory_SwapTotal_bytes > 0.8")
    assert 'node_memory_SwapFree_bytes{instance="db-1:9100"}' in swap
    assert "MemAvailable" not in swap
    available = steps("HostOutOfMemory", "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.1")
    assert 'node_memory_MemAvailable_bytes{instance="db-1:9100"}' in available
    assert "kubectl" not in available  # a host, not a cluster


def test_an_application_alert_carrying_its_pods_node_is_about_the_application() -> None:
    # Prometheus' kubernetes-service-endpoints scrape config labels series with service and node.
    labels = {
        "alertname": "HighErrorRate",
        "job": "kubernetes-service-endpoints",
        "namespace": "shop",
        "service": "checkout",
        "node": "ip-10-0-1-21",
        "instance": "10.1.4.7:8080",
    }
    assert " on shop/checkout:" in _analysis(labels).summary


def test_a_cronjobs_pod_is_not_taken_for_a_deployments() -> None:
    # A CronJob's Job is named by its scheduled minute; these digits are all in the safe alphabet.
    message = build_message(
        {
            "alert": {
                "labels": {
                    "alertname": "KubePodCrashLooping",
                    "namespace": "ops",
                    "pod": "backup-29952459-x7k2p",
                },
                "startsAt": "2024-05-14T09:12:00Z",
            },
            "logs": [{"sample": "fatal: environment variable DATABASE_URL is not set", "count": 3}],
        }
    )
    steps = "\n".join(ANALYST.analyze(message).remediation)
    assert "rollout restart deploy/<name>`" in steps
    assert "deploy/backup" not in steps
