"""A flat, read-only view of an enriched alert that rules are matched against."""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import schemas
from services.analyst._expr import (
    error_selector_of,
    measures_of,
    parse_expression,
    quantile_of,
    reason_of,
    slow_events_of,
)
from services.analyst._words import words_of
from services.incidents._frozen import Frozen
from services.incidents._labels import deployment_of_pod

# Labels naming the thing that alerts, most specific first. kube-state-metrics names the object it
# reports on by its kind (`cronjob`, `poddisruptionbudget`, ...); `node` comes before `instance`
# because on those alerts the address is the exporter's, the node the subject. It comes after
# `service` and `app`: Prometheus' own Kubernetes scrape configs label every application's series
# with the node its pod runs on, and that alert is about the application.
TARGET_LABELS = (
    "pod",
    "deployment",
    "statefulset",
    "daemonset",
    "replicaset",
    "cronjob",
    "horizontalpodautoscaler",
    "poddisruptionbudget",
    "persistentvolumeclaim",
    "persistentvolume",
    "resourcequota",
    "job_name",
    "container",
    "service",
    "app",
    "application",
    "node",
    # cert-manager's certificate, Elasticsearch's node: what the exporter names the object.
    "name",
    "instance",
    "host",
    "job",
)
# Targets that are not inside a namespace: "monitoring/10.0.1.21:9100" would name the exporter's
# namespace, not a place the host is in.
UNNAMESPACED_LABELS = frozenset({"node", "persistentvolume", "instance", "host"})
KUBERNETES_OBJECT_LABELS = frozenset(TARGET_LABELS[: TARGET_LABELS.index("container") + 1])
# Labels the scrape adds (the exporter's pod, container, service): when the job is an exporter's,
# a value naming that job is the exporter itself ("node-exporter-x7k2p"), never what it reports on.
SCRAPE_LABELS = frozenset({"pod", "container", "service", "app", "application"})
# Prometheus' naming convention for exporters (`<name>_exporter`), and the one everyone runs
# under another name.
_EXPORTER_JOB = re.compile(r".*[-_]exporter|kube-state-metrics", re.IGNORECASE)
# What an alert is about when no label names it: said as such, never the alert's own name again
# ("DiskFull on DiskFull"), so the reader knows the alert, not the analysis, left it out.
UNNAMED_TARGET = "the unnamed target"
# Labels naming a filesystem, volume or pool, most specific first.
VOLUME_LABELS = ("mountpoint", "persistentvolumeclaim", "pool", "zpool", "vg", "device")
# What a rule reads of one log template and its sample (the enricher keeps samples shorter).
MAX_LOG_TEXT = 4000
# What a rule reads of one annotation: a 10 KB description says what it says in its first 2 KB.
MAX_ANNOTATION = 2000
# Annotations that carry links, not facts about the alert.
SKIPPED_ANNOTATIONS = ("runbook_url", "dashboard", "grafana_url")


class TextItem(NamedTuple):
    """One searchable text: a log template, an annotation or a series' labels (a tuple: several are
    made for every alert, and a tuple is made fastest)."""

    kind: str  # "log", "annotation" or "metric"
    text: str
    sample: str
    repeats: int  # how often the log template occurred; 1 for other texts
    line: str  # how it reads as an evidence line


@dataclass(frozen=True)
class SeriesItem:
    metric: schemas.MetricEvidence
    series: schemas.SeriesSummary

    @property
    def haystack(self) -> str:
        return f"{self.metric.name} {self.metric.query}"

    @property
    def unit(self) -> schemas.Unit:
        return schemas.unit_of(self.metric.query or self.metric.name)


def series_labels(labels: dict[str, str]) -> str:
    return ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()) if key != "__name__")


def series_line(item: SeriesItem) -> str:
    s = item.series
    unit = item.unit

    def show(value: float | None) -> str:
        return schemas.quantity(value, unit)

    parts = [f"min {show(s.min)}", f"max {show(s.max)}", f"last {show(s.last)}"]
    if s.at_start is not None:
        parts.append(f"at alert start {show(s.at_start)}")
    if s.change_pct is not None:
        parts.append(f"change {s.change_pct:+.0f}%")
    if s.trend_per_min:
        parts.append(f"trend {show(s.trend_per_min)}/min")
    labels = series_labels(s.labels)
    head = f"{item.metric.name}{{{labels}}}" if labels else item.metric.name
    events = f"; {'; '.join(s.events[:3])}" if s.events else ""
    return f"metric {head}: {', '.join(parts)}{events}"


def _log_line(template: schemas.LogTemplate) -> str:
    sample = template.sample if len(template.sample) <= 220 else template.sample[:217] + "..."
    first = template.first.strftime("%H:%M:%SZ")
    return f"log ({template.severity}, x{template.count}, first {first}): {sample}"


class _Every:
    """Every name: what ``variables`` works out when no rule says what it reads."""

    def __contains__(self, name: object) -> bool:
        return True


EVERY_VARIABLE: Container[str] = _Every()


def _wants(wanted: Container[str], *names: str) -> bool:
    return any(name in wanted for name in names)


class AlertView(Frozen, frozen=True):
    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]
    logs: list[TextItem]
    texts: list[TextItem]
    series: list[SeriesItem]
    errors: list[schemas.EnrichmentError]
    # The items joined by newlines: one search tells whether a pattern can match any item at all.
    logs_joined: str = ""
    texts_joined: str = ""
    # The same, lower-cased for the literal prefilters; None when not ASCII (case folding differs).
    logs_lowered: str | None = ""
    texts_lowered: str | None = ""
    # The alert's name as words, the rule's expression, and the category its own words point at.
    name_words: tuple[str, ...] = ()
    expr: str = ""
    signal_category: str = ""

    @property
    def has_evidence(self) -> bool:
        return bool(self.logs or self.series)

    @property
    def container_never_started(self) -> bool:
        """The logs and events say the container could not be created or started, and nothing says
        it ever ran."""
        logs = self.logs_joined
        return bool(logs) and bool(_NEVER_STARTED.search(logs)) and not _HAS_RUN.search(logs)

    def variables(self, wanted: Container[str] = EVERY_VARIABLE) -> dict[str, str]:
        """What templates may use besides captures: every label, the target, the annotations. Of the
        variables worked out from the labels and logs, only those ``wanted`` (the rule's templates
        and conditions name them): most rules read the target alone."""
        found = dict(self.labels)
        found.setdefault("alertname", self.alertname or "alert")
        label, found["target"] = _subject(self.labels)
        unit = systemd_unit(self.labels) if _wants(wanted, "unit", "platform", "target_kind") else ""
        if "target_kind" in wanted and (kind := TARGET_KINDS.get(label, "")):
            found["target_kind"] = "Unit" if label == "name" and unit else kind
        if "platform" in wanted:
            found["platform"] = platform_of(self.labels, unit)
        if unit:
            found["unit"] = unit
        if "container_state" in wanted and self.container_never_started:
            found["container_state"] = "not-started"
        if "workload" in wanted and (workload := workload_of(self.labels)):
            found["workload"] = workload
        # Absent, a template's own default words it: "the volume" in prose, <mountpoint> in a command.
        if "volume" in wanted and (volume := _first(self.labels, VOLUME_LABELS, "")):
            found["volume"] = volume
        if "alert_summary" in wanted:
            found["alert_summary"] = _clipped(self.annotations.get("summary", ""))
        if "alert_description" in wanted:
            found["alert_description"] = _clipped(self.annotations.get("description", ""))
        if "quantile" in wanted and (quantile := quantile_of(self.expr)):
            found["quantile"] = quantile
        if _wants(wanted, "error_metric", "code_label"):
            metric, label = error_selector_of(self.expr)
            if metric:
                found["error_metric"] = metric
            if label:
                found["code_label"] = label
        if _wants(wanted, "measures", "counted", "slow_events") and (measures := measures_of(self.expr)):
            found["measures"] = measures
            if metrics := parse_expression(self.expr).metrics:
                found["counted"] = metrics[0]
            if slow := slow_events_of(self.expr):
                found["slow_events"] = slow
        # A kill's or a termination's reason: the alert's label, else what its expression selects.
        if "reason" in wanted and not found.get("reason") and (reason := reason_of(self.expr)):
            found["reason"] = reason
        found["expr"] = self.expr
        return found


def is_exporter_job(job: str) -> bool:
    return _EXPORTER_JOB.fullmatch(job) is not None


def _names_the_exporter(label: str, value: str, job: str) -> bool:
    # A chart names the exporter's objects after its release too: kube-prometheus-stack's pod
    # "kube-prometheus-stack-kube-state-metrics-58474dc949-6ngch" of job "kube-state-metrics".
    return label in SCRAPE_LABELS and is_exporter_job(job) and f"-{job}-" in f"-{value}-"


def names_itself(name: str, value: str) -> bool:
    """Whether a label's value is only the label's own name (`job="job"`, `instance="instance"`: a
    template's leftover), which names nothing."""
    return len(value) == len(name) and value.lower() == name


def _subject(labels: dict[str, str]) -> tuple[str, str]:
    """The label that names what the alert is about ("" when none does) and the target it gives."""
    job = labels.get("job", "")
    first: tuple[str, str] | None = None  # the first label naming anything, the exporter included
    chosen: tuple[str, str] | None = None  # the first naming something other than the exporter
    for name in TARGET_LABELS:
        value = labels.get(name)
        if value and not names_itself(name, value):
            first = first or (name, value)
            if not _names_the_exporter(name, value, job):
                chosen = (name, value)
                break
    namespace = labels.get("namespace", "")
    if first is None:
        if namespace:
            return "namespace", f"namespace {namespace}"
        return ("cluster", labels["cluster"]) if labels.get("cluster") else ("", UNNAMED_TARGET)
    label, target = chosen or first
    # An exporter's namespace is where the exporter runs, unless it names a Kubernetes object.
    in_namespace = label not in UNNAMESPACED_LABELS and (
        label in KUBERNETES_OBJECT_LABELS or not is_exporter_job(job)
    )
    if namespace and target != namespace and in_namespace:
        return label, f"{namespace}/{target}"
    return label, target


# How a sentence introduces a target named by each label, so that a name never starts a sentence
# ("Pod payments/checkout-... exhausts", not "payments/checkout-... exhausts") and is never
# re-cased. A target named by no label ("the unnamed target", "namespace payments") is prose.
TARGET_KINDS = {
    "pod": "Pod",
    "deployment": "Deployment",
    "statefulset": "StatefulSet",
    "daemonset": "DaemonSet",
    "replicaset": "ReplicaSet",
    "cronjob": "CronJob",
    "horizontalpodautoscaler": "HorizontalPodAutoscaler",
    "poddisruptionbudget": "PodDisruptionBudget",
    "persistentvolumeclaim": "PersistentVolumeClaim",
    "persistentvolume": "PersistentVolume",
    "resourcequota": "ResourceQuota",
    "job_name": "Job",
    "container": "Container",
    "node": "Node",
    "service": "Service",
    "app": "Application",
    "application": "Application",
    "name": "Target",
    "instance": "Target",
    "host": "Host",
    "job": "Job",
    "cluster": "Cluster",
}

# A systemd unit as node-exporter's systemd collector names it (`name="nginx.service"`).
_SYSTEMD_UNIT = re.compile(r"[\w@.:-]+\.(?:service|socket|timer|mount|path|target|slice|scope)")
# Jobs that are Kubernetes' own components: their alerts are about the cluster.
_KUBERNETES_JOB = re.compile(r"kube-.*|kubelet|apiserver|kubernetes-.*|coredns", re.IGNORECASE)
KUBERNETES_LABELS = KUBERNETES_OBJECT_LABELS | {"namespace", "node"}
MACHINE_LABELS = ("instance", "host", "hostname", "job")
MACHINE_LABEL_SET = frozenset(MACHINE_LABELS)


def systemd_unit(labels: dict[str, str]) -> str:
    for label in ("name", "unit"):
        if (value := labels.get(label)) and _SYSTEMD_UNIT.fullmatch(value):
            return value
    return ""


def _names_any(labels: dict[str, str], names: frozenset[str]) -> bool:
    """Whether a label of ``names`` has a value."""
    return not names.isdisjoint(labels) and any(labels[name] for name in names.intersection(labels))


def platform_of(labels: dict[str, str], unit: str) -> str:
    """Where what alerts runs, as far as its labels say: "kubernetes" when a label names a Kubernetes
    object or namespace (or the job is one of Kubernetes' own), "host" when only a machine, address,
    job or systemd unit (``unit``, as ``systemd_unit`` reads it) is named, "" when nothing says."""
    if _names_any(labels, KUBERNETES_LABELS) or _KUBERNETES_JOB.fullmatch(labels.get("job", "")):
        return "kubernetes"
    if unit or _names_any(labels, MACHINE_LABEL_SET):
        return "host"
    return ""


# Said by Kubernetes about a container that was never created or started: there is no previous run
# whose logs could be read. Said about one that ran: a restart, an exit, an OOM kill.
_NEVER_STARTED = re.compile(
    r"CreateContainerConfigError|CreateContainerError|ContainerCreating|FailedMount|FailedAttachVolume"
    r"|ErrImagePull|ImagePullBackOff|FailedScheduling|FailedCreatePodSandBox"
    r"|\b(?:secret|configmap)s? \"?[\w.-]+\"? not found|couldn.t find key [\w.-]+ in (?:Secret|ConfigMap)",
    re.IGNORECASE,
)
_HAS_RUN = re.compile(
    r"Back-off restarting|CrashLoopBackOff|OOMKilled|exit(?:ed)? (?:with )?(?:code|status)|Started container"
    r"|Last State|Traceback|panic:",
    re.IGNORECASE,
)


# kubectl's names of the workload kinds whose labels kube-state-metrics gives.
_WORKLOAD_KINDS = (("deployment", "deploy"), ("statefulset", "statefulset"), ("daemonset", "daemonset"))


def workload_of(labels: dict[str, str]) -> str:
    """The workload as kubectl names it ("deploy/checkout", "daemonset/fluent-bit"), so a rollout
    command is right for a DaemonSet too; "" when no label says."""
    for label, kind in _WORKLOAD_KINDS:
        if labels.get(label):
            return f"{kind}/{labels[label]}"
    deployment = deployment_of_pod(labels.get("pod", ""))
    return f"deploy/{deployment}" if deployment else ""


def _first(labels: dict[str, str], names: tuple[str, ...], default: str) -> str:
    """The value of the first of ``names`` the labels give a non-empty value."""
    for name in names:
        value = labels.get(name)
        if value:
            return value
    return default


# The debugging tail awesome-prometheus-alerts puts on every description, and those who copy its
# rules keep: "VALUE = 1.2 LABELS = map[alertname:... severity:warning]" repeats the labels.
_VALUE_LABELS = re.compile(r"\s*VALUE\s*=\s*\S*\s*LABELS\s*=\s*map\[.*\]\s*$", re.DOTALL)


def readable(annotation: str) -> str:
    """An annotation as a person reads it: without a rendered dump of the alert's value and labels."""
    return _VALUE_LABELS.sub("", annotation) if "LABELS" in annotation else annotation


# Cached: an alert's summary and description are clipped for its evidence lines, then again for its
# template's variables, and a rule's descriptions repeat across its alerts.
@lru_cache(maxsize=4096)
def _clipped(text: str, limit: int = 300) -> str:
    text = " ".join(readable(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_PROBE_PORT = re.compile(
    r"(?:Liveness|Readiness|Startup) probe failed:[^\n]*?:(\d{2,5})\b[^\n]*connection refused", re.I
)
_LISTEN_PORT = re.compile(
    r"(?:listening|listens|started|serving|bound)\b[^\n]{0,60}?(?:port\W{0,3}|\baddr\W{0,5}[\w.\[\]]*:|:)(\d{2,5})\b",
    re.I,
)

# An access log line of a kubelet probe that got a 2xx: the process is up and serving.
_PROBE_ANSWERED = re.compile(r'" 2\d\d \d+ [^\n]*kube-probe/')


def derived_facts(templates: list[TextItem]) -> list[TextItem]:
    """Facts no single line states but two lines do together, as texts rules can match."""
    probed = {m.group(1) for item in templates for m in _PROBE_PORT.finditer(item.sample)}
    listening = {m.group(1) for item in templates for m in _LISTEN_PORT.finditer(item.sample)}
    answered = any(_PROBE_ANSWERED.search(item.sample) for item in templates)
    if probed and listening and not probed & listening:
        where = f"the process listens on {', '.join(sorted(listening))}"
    elif probed and answered:
        where = "the process answers the kubelet's other probe requests"
    else:
        return []
    ports = "ports" if len(probed) > 1 else "port"
    text = f"probe port mismatch: the probe calls {ports} {', '.join(sorted(probed))}, {where}"
    return [TextItem("log", text, text, 1, f"derived: {text}")]


def _lowered(text: str) -> str | None:
    return text.lower() if text.isascii() else None


def expression_of(alert: schemas.Alert) -> str:
    """The rule's PromQL: generatorURL's g0.expr, else an ``expr`` annotation."""
    return alert.rule_expression or alert.annotations.get("expr", "")


def view_of(message: schemas.EnrichedAlert, signal_category: str = "") -> AlertView:
    alert = message.alert
    evidence = message.evidence
    templates = evidence.logs.templates if evidence.logs else []
    logs: list[TextItem] = []
    if templates:  # most alerts come without logs: nothing to rank or derive
        ranked = sorted(templates, key=lambda t: (schemas.LOG_SEVERITY_RANK[t.severity], -t.count))
        logs = [
            TextItem(
                "log",
                f"{t.template[:MAX_LOG_TEXT]}\n{t.sample[:MAX_LOG_TEXT]}",
                t.sample,
                t.count,
                _log_line(t),
            )
            for t in ranked
        ]
        logs = derived_facts(logs) + logs
    annotations = [
        TextItem("annotation", value[:MAX_ANNOTATION], value, 1, f"annotation {key}: {_clipped(value)}")
        for key, value in sorted(alert.annotations.items())
        if key not in SKIPPED_ANNOTATIONS and value
    ]
    series = [SeriesItem(metric, s) for metric in evidence.metrics for s in metric.series]
    labelled = [
        TextItem("metric", series_labels(item.series.labels), "", 1, series_line(item))
        for item in series
        if item.series.labels
    ]
    texts = logs + annotations + labelled
    logs_joined = "\n".join([item.text for item in logs])
    texts_joined = "\n".join([item.text for item in texts])
    return AlertView(
        alertname=alert.labels.get("alertname", ""),
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        logs=logs,
        texts=texts,
        series=series,
        errors=list(evidence.errors),
        logs_joined=logs_joined,
        texts_joined=texts_joined,
        logs_lowered=_lowered(logs_joined),
        texts_lowered=_lowered(texts_joined),
        name_words=words_of(alert.labels.get("alertname", "")),
        expr=expression_of(alert),
        signal_category=signal_category,
    )
