"""Which PromQL runs for which alert: the alert's own expression, then packs chosen by labels."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from schemas import Alert
from services.enricher import PackError, build_plan, load_packs, parse_packs
from services.enricher._packs import BUILTIN_DIR
from services.enricher._promql import inner_expr

BUILTIN = load_packs()


def alert(labels: dict[str, str], expr: str = "") -> Alert:
    url = f"http://prometheus:9090/graph?g0.expr={quote(expr)}&g0.tab=1" if expr else ""
    return Alert(
        status="firing", labels=labels, starts_at=datetime(2024, 5, 14, 10, tzinfo=UTC), generator_url=url
    )


@pytest.mark.parametrize(
    ("expr", "inner"),
    [
        ("node_load1 > 4", "node_load1"),
        ("up == 0", "up"),
        (
            '(1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))) > 0.9',
            '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))',
        ),
        ('rate(errors_total{path=">"}[5m]) > 3 and on() hour() > 8', 'rate(errors_total{path=">"}[5m])'),
        ("0.9 < cpu_ratio", "cpu_ratio"),
        ("a > b", None),  # two series compared: both matter, nothing to strip
        ("(a > b)", None),
        ("(a / b < .10)", "a / b"),
        (
            '(sum(rate(x{code=~"5.."}[5m])) / sum(rate(x[5m])) > 0.05)',
            'sum(rate(x{code=~"5.."}[5m])) / sum(rate(x[5m]))',
        ),
        ("((up == 0) and on() hour() > 8)", "up"),
        ("(a < .10 and ON (instance) b == 0) and c", "a"),
        ("( a_running and ON (instance) b > 0 ) == 0", "a_running"),
        ("node_load1", None),
    ],
)
def test_inner_expression_drops_only_a_numeric_threshold(expr: str, inner: str | None) -> None:
    assert inner_expr(expr) == inner


def names(plan_alert: Alert) -> list[str]:
    return [f"{q.pack}/{q.name}" for q in build_plan(plan_alert, BUILTIN, 50).queries]


def test_a_node_alert_gets_its_expression_and_the_node_queries() -> None:
    planned = names(alert({"alertname": "HighLoad", "instance": "web-1:9100"}, "node_load1 > 4"))
    assert planned[0] == "alert/alert_series"
    assert "alert/alert_expression" not in planned  # the series behind the threshold says more
    assert {
        "node/node_cpu_by_mode",
        "node/node_filesystem_free_bytes",
        "node/node_filesystem_free_inodes",
        "node/node_memory_available_ratio",
        "node/node_disk_io_time",
        "node/node_network_errors_and_drops",
    } <= set(planned)
    assert not any(name.startswith("kubernetes-pod/") for name in planned)


def test_a_pod_alert_gets_cadvisor_and_kube_state_queries_but_no_node_ones() -> None:
    planned = names(alert({"alertname": "PodCrashLooping", "namespace": "shop", "pod": "api-0"}))
    assert {
        "kubernetes-pod/container_cpu_usage",
        "kubernetes-pod/container_cpu_throttled_ratio",
        "kubernetes-pod/container_memory_of_limit",
        "kubernetes-pod/container_restarts",
        "kubernetes-pod/container_last_terminated_reason",
    } <= set(planned)
    assert not any(name.startswith(("node/", "alert/")) for name in planned)


def test_a_service_alert_gets_demand_and_errors_apart_latency_and_versions() -> None:
    planned = names(alert({"alertname": "HighErrorRate", "job": "checkout"}))
    assert planned == [
        "http-by-job/http_requests_per_second",
        "http-by-job/http_5xx_error_ratio",
        "http-by-job/http_latency_p99_seconds",
        "version/build_info_versions",
    ]
    queries = {q.name: q.expr for q in build_plan(alert({"job": "checkout"}), BUILTIN, 50).queries}
    # Total demand never filters by status; the error ratio is named as one, so no reader takes it for demand.
    assert "code" not in queries["http_requests_per_second"]
    assert 'code=~"5.."' in queries["http_5xx_error_ratio"]


def test_a_deployment_alert_gets_its_rollout_series() -> None:
    labels = {"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "api"}
    planned = build_plan(alert(labels), BUILTIN, 50).queries
    exprs = {q.name: q.expr for q in planned}
    assert {
        "deployment_generation",
        "deployment_observed_generation",
        "deployment_replicaset_created",
        "deployment_pods_by_image",
    } <= set(exprs)
    assert 'owner_name="api"' in exprs["deployment_replicaset_created"]
    assert 'pod=~"api-[a-z0-9]+-[a-z0-9]+"' in exprs["deployment_pods_by_image"]


def test_an_expression_without_a_threshold_is_run_as_written() -> None:
    planned = build_plan(alert({"alertname": "X"}, "rate(errors_total[5m])"), BUILTIN, 50).queries
    assert [(q.name, q.expr) for q in planned] == [("alert_expression", "rate(errors_total[5m])")]


def test_a_probe_alert_asks_which_services_the_probed_hosts_ingress_sends_it_to() -> None:
    probe = alert(
        {"alertname": "BlackboxProbeFailed", "instance": "https://SSO.example.com:8443/realms/prod"}
    )
    [query] = [q for q in build_plan(probe, BUILTIN, 50).queries if q.pack == "kubernetes-ingress-backend"]
    assert 'kube_ingress_path{host="sso.example.com"}' in query.expr
    assert query.exists == 'kube_ingress_path{host="sso.example.com"}'
    hostile = alert({"alertname": "X", "instance": 'https://a"}or vector(1)#/'})
    [escaped] = [
        q for q in build_plan(hostile, BUILTIN, 50).queries if q.pack == "kubernetes-ingress-backend"
    ]
    assert escaped.exists == 'kube_ingress_path{host="a\\"}or vector(1)"}'
    not_a_url = names(alert({"alertname": "InstanceDown", "instance": "10.0.1.7:9100"}))
    assert not any(name.startswith("kubernetes-ingress-backend/") for name in not_a_url)


def test_every_ranged_query_except_the_alerts_own_is_checked_for_existence_first() -> None:
    plan = build_plan(alert({"alertname": "X", "instance": "h:9100", "job": "j"}, "up == 0"), BUILTIN, 50)
    assert all(q.exists for q in plan.queries if q.pack != "alert")


def test_label_values_are_escaped_so_they_cannot_break_or_inject_promql() -> None:
    plan = build_plan(alert({"alertname": "X", "job": 'a"} or vector(1) #'}), BUILTIN, 50)
    assert plan.queries[0].expr == 'sum(rate(http_requests_total{job="a\\"} or vector(1) #"}[2m]))'


def test_the_query_limit_is_respected_and_what_was_left_out_is_said() -> None:
    plan = build_plan(alert({"alertname": "X", "instance": "h", "job": "j"}, "up == 0"), BUILTIN, 3)
    assert len(plan.queries) == 3
    assert any("over the limit of 3 queries" in reason for reason in plan.skipped)


def test_the_same_alert_always_gets_the_same_plan() -> None:
    labels = {"alertname": "X", "instance": "h", "job": "j", "namespace": "n", "pod": "p"}
    assert build_plan(alert(labels, "up == 0"), BUILTIN, 50) == build_plan(
        alert(dict(reversed(labels.items())), "up == 0"), BUILTIN, 50
    )


def docs_pack() -> str:
    """The pack docs/enrichment.md shows under "Writing a pack", as a reader would save it."""
    page = (Path(__file__).resolve().parents[3] / "docs" / "enrichment.md").read_text()
    section = page.split("### Writing a pack", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


POD = {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-7d9f"}
POSTGRES = {"alertname": "PostgresTooManyConnections", "instance": "db:9187", "env": "prod"}


def test_a_folder_of_ones_own_adds_packs_to_the_built_in_ones(tmp_path: Path) -> None:
    # ENRICHMENT_PACKS_DIR holding only the docs' pack once left every other alert with no queries.
    (tmp_path / "postgres.yaml").write_text(docs_pack())
    packs = load_packs(tmp_path)
    assert build_plan(alert(POD), packs, 24) == build_plan(alert(POD), BUILTIN, 24)
    assert build_plan(alert(POD), packs, 24).queries
    matching = [q.expr for q in build_plan(alert(POSTGRES), packs, 24).queries]
    assert 'sum(pg_stat_activity_count{instance="db:9187"})' in matching
    other_env = alert({**POSTGRES, "env": "dev"})
    assert build_plan(other_env, packs, 24) == build_plan(other_env, BUILTIN, 24)


def test_a_pack_named_as_a_built_in_one_replaces_it_and_disabled_removes_it(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "packs:\n"
        "  - name: kubernetes-pod\n"
        "    when: {labels: [namespace, pod]}\n"
        "    queries:\n"
        "      - {name: restarts, expr: 'kube_pod_container_status_restarts_total{pod=\"${pod}\"}'}\n"
        "  - name: node\n"
        "    disabled: true\n"
    )
    packs = load_packs(tmp_path)
    names = [pack.name for pack in packs]
    assert names == [pack.name for pack in BUILTIN if pack.name != "node"]  # replaced in its place
    pod = [(q.pack, q.expr) for q in build_plan(alert(POD), packs, 24).queries]
    assert [q for q in pod if q[0] == "kubernetes-pod"] == [
        ("kubernetes-pod", 'kube_pod_container_status_restarts_total{pod="cart-7d9f"}')
    ]
    assert not [q for q in build_plan(alert({"instance": "h:9100"}), packs, 24).queries if q.pack == "node"]


def test_the_built_in_folder_given_as_the_setting_is_read_once() -> None:
    assert load_packs(BUILTIN_DIR) == BUILTIN


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("packs: [{name: x}]", "queries"),
        ("packs:\n  - name: x\n    queries: []\n    when: {alertname: '(['}\n", "bad regex"),
        ("packs: [{name: x, queries: [], colour: red}]", "colour"),
        ("packs: [", "not valid YAML"),
    ],
)
def test_a_broken_pack_is_refused_with_the_file_and_the_problem(text: str, problem: str) -> None:
    with pytest.raises(PackError, match=problem) as raised:
        parse_packs(text, "mine.yaml")
    assert "mine.yaml" in str(raised.value)
