"""infra/kubernetes: rendered manifests are valid Kubernetes, complete per stage, and follow the values."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

import schemas
from infra.kubernetes import ValuesError, chart_values, load_values, problems, render, to_yaml
from infra.kubernetes.__main__ import main
from infra.kubernetes._render import project_version
from infra.kubernetes._stages import stages
from services.console._guard import OPEN_PATHS
from services.runtime import CONSUMERS

# A recent release kubernetes-validate ships schemas for; strict: unknown fields are errors too.
KUBERNETES = "1.33"
STAGES = ("ingest", "enricher", "analyst", "notifier", "console")
Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    return render(load_values())


def _find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _core(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["apiVersion"] != "keda.sh/v1alpha1"]


def test_every_core_manifest_satisfies_the_kubernetes_schemas(manifests: list[Manifest]) -> None:
    errors = []
    for manifest in _core(manifests):
        try:
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {exc.message}")
    assert errors == []
    assert {m["kind"] for m in _core(manifests)} == {
        "Namespace", "ServiceAccount", "ConfigMap", "Deployment", "Service",
        "PodDisruptionBudget", "NetworkPolicy", "HorizontalPodAutoscaler",
    }  # fmt: skip


def test_schema_validation_rejects_a_misspelt_field(manifests: list[Manifest]) -> None:
    broken = copy.deepcopy(_find(manifests, "Deployment", "aiops-analyst"))
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {"httpGet": {"port": 8002}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_rendered_set_passes_every_rule(manifests: list[Manifest]) -> None:
    assert problems(manifests) == []


def test_every_stage_has_a_deployment_budget_policy_and_autoscaler(manifests: list[Manifest]) -> None:
    for stage in STAGES:
        for kind in ("ConfigMap", "Deployment", "PodDisruptionBudget", "NetworkPolicy"):
            _find(manifests, kind, f"aiops-{stage}")
    hpa = _find(manifests, "HorizontalPodAutoscaler", "aiops-ingest")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "aiops-ingest"
    assert _find(manifests, "Service", "aiops-ingest")["spec"]["ports"][0]["port"] == 8000


def test_the_console_is_a_service_on_its_port_probed_without_a_login(manifests: list[Manifest]) -> None:
    console = [m for m in manifests if m["metadata"]["name"] == "aiops-console"]
    assert sorted(m["kind"] for m in console) == [
        "ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service",
    ]  # fmt: skip
    for manifest in console:
        kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
    deployment = _find(manifests, "Deployment", "aiops-console")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["services.console"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert _find(manifests, "ConfigMap", "aiops-console")["data"]["CONSOLE_PORT"] == "8080"
    # The kubelet has no token: a probe behind the console's login would restart it forever.
    probed = {
        container[probe]["httpGet"]["path"] for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probed == {"/healthz", "/readyz"}
    assert probed <= OPEN_PATHS
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    refs = {env["name"]: env["valueFrom"]["secretKeyRef"]["name"] for env in container["env"]}
    assert {"DATABASE_URL", "CONSOLE_AUTH_TOKEN", "CONSOLE_SESSION_SECRET", "SLACK_SIGNING_SECRET"} <= set(
        refs
    )
    assert set(refs.values()) == {"aiops"}
    service = _find(manifests, "Service", "aiops-console")["spec"]
    assert service["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    assert service["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    # Not a durable consumer: a fixed replica count, no autoscaler.
    assert deployment["spec"]["replicas"] == 1
    assert not [m for m in console if m["kind"] in ("ScaledObject", "HorizontalPodAutoscaler")]
    policy = _find(manifests, "NetworkPolicy", "aiops-console")["spec"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert {"podSelector": {}} in ingress["from"]
    egress_ports = {port["port"] for rule in policy["egress"] for port in rule["ports"]}
    assert egress_ports == {53, 4222, 5432}  # DNS, NATS, PostgreSQL; nothing outside the cluster


def test_the_console_scaled_on_request_gets_a_cpu_autoscaler_never_a_scaled_object() -> None:
    scaled = render(load_values(sets=["stages.console.scaling.enabled=true"]))
    assert _find(scaled, "HorizontalPodAutoscaler", "aiops-console")["spec"]["maxReplicas"] >= 1
    assert not [m for m in scaled if m["kind"] == "ScaledObject" and m["metadata"]["name"] == "aiops-console"]
    assert "replicas" not in _find(scaled, "Deployment", "aiops-console")["spec"]
    assert problems(scaled) == []


@pytest.mark.parametrize("stage", ["enricher", "analyst", "notifier"])
def test_consumer_stages_scale_on_their_own_consumer_lag(manifests: list[Manifest], stage: str) -> None:
    scaler = _find(manifests, "ScaledObject", f"aiops-{stage}")
    assert scaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"aiops-{stage}",
    }
    (trigger,) = scaler["spec"]["triggers"]
    assert trigger["type"] == "nats-jetstream"
    assert trigger["metadata"]["stream"] == schemas.STREAM
    assert stage in CONSUMERS
    assert trigger["metadata"]["consumer"] == stage
    # The headless service: KEDA reaches each server as <pod>.<service> to find the consumer's leader.
    assert trigger["metadata"]["natsServerMonitoringEndpoint"] == "nats-headless.nats.svc.cluster.local:8222"
    # Under an autoscaler the Deployment leaves the replica count alone.
    assert "replicas" not in _find(manifests, "Deployment", f"aiops-{stage}")["spec"]


def test_stages_connect_to_the_nats_chart_and_replicate_the_stream_on_all_of_it(
    manifests: list[Manifest],
) -> None:
    nats = chart_values(load_values())
    assert nats["config"]["cluster"] == {"enabled": True, "replicas": 3}
    assert nats["config"]["jetstream"]["enabled"] is True
    for stage in STAGES:
        data = _find(manifests, "ConfigMap", f"aiops-{stage}")["data"]
        assert data["NATS_URL"] == "nats://nats.nats.svc.cluster.local:4222"
        assert data["STREAM_REPLICAS"] == "3"


def test_the_committed_nats_chart_values_are_the_generated_ones(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["nats-values"]) == 0
    assert (repo / "infra" / "kubernetes" / "nats-values.yaml").read_text() == capsys.readouterr().out


def test_secrets_reach_pods_only_by_reference_to_the_named_secret(manifests: list[Manifest]) -> None:
    analyst = _find(manifests, "Deployment", "aiops-analyst")["spec"]["template"]["spec"]["containers"][0]
    refs = {env["name"]: env["valueFrom"]["secretKeyRef"] for env in analyst["env"]}
    assert refs["LLM_API_KEY"] == {"name": "aiops", "key": "LLM_API_KEY", "optional": True}
    assert "SLACK_WEBHOOK_URL" not in refs  # each stage gets only its own secrets
    assert not [m for m in manifests if m["kind"] == "Secret"]
    for stage in STAGES:
        data = _find(manifests, "ConfigMap", f"aiops-{stage}")["data"]
        assert not {"LLM_API_KEY", "INGEST_AUTH_TOKEN", "SLACK_WEBHOOK_URL", "NATS_TOKEN"} & set(data)


def test_the_image_is_pinned_to_this_version_or_a_digest() -> None:
    default = render(load_values())
    image = _find(default, "Deployment", "aiops-notifier")["spec"]["template"]["spec"]["containers"][0][
        "image"
    ]
    assert image == f"aiops-pipeline:{project_version()}"
    digest = "sha256:" + "ab" * 32
    pinned = render(load_values(sets=[f"image.digest={digest}", "image.repository=registry.example/aiops"]))
    image = _find(pinned, "Deployment", "aiops-notifier")["spec"]["template"]["spec"]["containers"][0][
        "image"
    ]
    assert image == f"registry.example/aiops:{project_version()}@{digest}"


def test_values_files_and_sets_override_the_defaults(tmp_path: Path) -> None:
    override = tmp_path / "prod.yaml"
    override.write_text(
        "release: alerts\nnamespace: {name: ops, create: false}\n"
        "stages:\n  analyst:\n    scaling: {maxReplicas: 12}\n    env: {LLM_MODEL: gpt-4o-mini}\n"
    )
    manifests = render(load_values([override], ["stages.analyst.scaling.lagThreshold=300"]))
    scaler = _find(manifests, "ScaledObject", "alerts-analyst")
    assert scaler["metadata"]["namespace"] == "ops"
    assert scaler["spec"]["maxReplicaCount"] == 12
    assert scaler["spec"]["minReplicaCount"] == 1  # kept from the defaults
    assert scaler["spec"]["triggers"][0]["metadata"]["lagThreshold"] == "300"
    assert _find(manifests, "ConfigMap", "alerts-analyst")["data"]["LLM_MODEL"] == "gpt-4o-mini"
    assert not [m for m in manifests if m["kind"] == "Namespace"]
    assert problems(manifests) == []


def test_without_autoscaling_a_stage_runs_a_fixed_number_of_replicas() -> None:
    manifests = render(
        load_values(sets=["stages.enricher.scaling.enabled=false", "stages.enricher.replicas=3"])
    )
    assert _find(manifests, "Deployment", "aiops-enricher")["spec"]["replicas"] == 3
    assert not [
        m for m in manifests if m["kind"] == "ScaledObject" and m["metadata"]["name"] == "aiops-enricher"
    ]
    assert problems(manifests) == []


def test_a_nats_credentials_secret_is_mounted_and_named_in_nats_creds() -> None:
    manifests = render(load_values(sets=["nats.credsSecret=aiops-nats"]))
    pod = _find(manifests, "Deployment", "aiops-ingest")["spec"]["template"]["spec"]
    assert {"name": "nats-creds", "secret": {"secretName": "aiops-nats"}} in pod["volumes"]
    assert _find(manifests, "ConfigMap", "aiops-ingest")["data"]["NATS_CREDS"] == "/etc/nats-creds/nats.creds"
    kubernetes_validate.validate(_find(manifests, "Deployment", "aiops-ingest"), KUBERNETES, strict=True)


def test_tracing_is_off_by_default_and_on_in_every_stage_with_an_endpoint(manifests: list[Manifest]) -> None:
    for stage in STAGES:
        assert not [key for key in _find(manifests, "ConfigMap", f"aiops-{stage}")["data"] if "OTEL" in key]
    collector = "http://otel-collector.observability:4318"
    sets = [f"otel.endpoint={collector}", "otel.sampler=parentbased_traceidratio", "otel.samplerArg=0.1"]
    traced = render(load_values(sets=sets))
    for stage in STAGES:
        data = _find(traced, "ConfigMap", f"aiops-{stage}")["data"]
        assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == collector
        assert (data["OTEL_TRACES_SAMPLER"], data["OTEL_TRACES_SAMPLER_ARG"]) == (
            "parentbased_traceidratio",
            "0.1",
        )
        container = _find(traced, "Deployment", f"aiops-{stage}")["spec"]["template"]["spec"]["containers"][0]
        refs = {env["name"]: env["valueFrom"]["secretKeyRef"] for env in container["env"]}
        # A hosted backend's credentials come from the Secret, never the ConfigMap.
        assert refs["OTEL_EXPORTER_OTLP_HEADERS"]["name"] == "aiops"
    assert problems(traced) == []


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("stages.analyst.env.LLM_API_KEY=sk-1", "stages.analyst.env.LLM_API_KEY is a secret"),
        ("stages.enricher.env.PROMETHEUS_URLS=x", "PROMETHEUS_URLS is not a setting of enricher"),
        (
            "stages.notifier.scaling.maxReplica=3",
            "stages.notifier: Object contains unknown field `maxReplica`",
        ),
        ("image.tag=latest", "image.tag 'latest' is not pinned"),
        ("stages.analyst.scaling.minReplicas=5", "minReplicas <= maxReplicas"),
        ("stages.billing.replicas=1", "unknown: ['billing']"),
        ("noequals", "expected key.path=value"),
        ("env.PROMETHEUS_URL=http://p:9090", "env.PROMETHEUS_URL is not a setting of ingest"),
        ("stages=[analyst]", "stages must be a mapping"),
        ("otel.sampler=ratio", "otel.sampler 'ratio' is not one of parentbased_always_on"),
        ("otel.samplerArg=10", "otel.samplerArg 10.0 is not a ratio from 0 to 1"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(assignment: str, message: str) -> None:
    with pytest.raises(ValuesError, match=re.escape(message)):
        load_values(sets=[assignment])


def test_an_environment_variable_set_on_the_command_line_is_taken_as_typed() -> None:
    sets = ["stages.enricher.env.KUBERNETES_API_URL=off", "stages.analyst.env.INCIDENTS_ENABLED=true"]
    manifests = render(load_values(sets=sets))
    assert _find(manifests, "ConfigMap", "aiops-enricher")["data"]["KUBERNETES_API_URL"] == "off"
    assert _find(manifests, "ConfigMap", "aiops-analyst")["data"]["INCIDENTS_ENABLED"] == "true"


def test_an_environment_variable_yaml_reads_as_a_boolean_is_refused_with_the_fix(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("stages:\n  enricher:\n    env:\n      KUBERNETES_API_URL: off\n")
    with pytest.raises(ValuesError) as refused:
        load_values([values])
    assert str(refused.value) == (
        "values: stages.enricher.env.KUBERNETES_API_URL: YAML read False, not text; an environment variable"
        ' is text: quote it in the file (KUBERNETES_API_URL: "as written"), or give it with --set'
        " stages.enricher.env.KUBERNETES_API_URL=..."
    )


def test_tracing_credentials_named_in_secret_keys_as_well_are_refused_not_given_twice() -> None:
    sets = [
        "otel.endpoint=https://otlp.example:4318",
        "stages.notifier.secretKeys=[OTEL_EXPORTER_OTLP_HEADERS]",
    ]
    with pytest.raises(
        ValuesError, match="secretKeys: OTEL_EXPORTER_OTLP_HEADERS is read from the Secret already"
    ):
        load_values(sets=sets)


def test_tracing_credentials_written_in_env_are_refused_as_a_secret() -> None:
    # With tracing on or not: the headers carry a hosted backend's token.
    for sets in (["otel.endpoint=https://otlp.example:4318"], []):
        sets.append("env.OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer x")
        with pytest.raises(
            ValuesError, match=r"env\.OTEL_EXPORTER_OTLP_HEADERS is a secret; put it in Secret"
        ):
            load_values(sets=sets)


def test_a_broken_values_file_is_one_line_on_stderr_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [unclosed\n")
    assert main(["render", "--values", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"infra.kubernetes: {bad}: not valid YAML")


def test_check_reports_a_rule_broken_through_the_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--set", "stages.analyst.scaling.lagThreshold=32"]) == 1
    out = capsys.readouterr().out
    assert "ScaledObject/aiops-analyst: lagThreshold '32' must be an integer above MAX_IN_FLIGHT (64)" in out
    assert out.rstrip().endswith("manifests, 1 problem")


def test_render_prints_a_yaml_stream_kubectl_can_apply(repo: Path, manifests: list[Manifest]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra.kubernetes", "render"],
        cwd=repo, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert [m for m in yaml.safe_load_all(result.stdout) if m] == manifests
    assert to_yaml(manifests) == result.stdout


def test_the_deployment_guide_lists_every_secret_each_stage_reads(repo: Path) -> None:
    guide = (repo / "docs" / "deployment.md").read_text()
    section = guide.split("## On Kubernetes", 1)[1].split("\n## ", 1)[0]
    for stage in stages().values():
        missing = [env for env in stage.secret_env if f"`{env}`" not in section]
        assert missing == [], f"{stage.name}: {missing} not in docs/deployment.md, On Kubernetes"
