"""The Slack message an on-call engineer reads: content, colour, links and Slack's limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from services.notifier import LinkSettings, slack_message, view
from tests.fakes.slack import block_kit_violations

Resolve = Callable[[schemas.AnalyzedAlert, float], schemas.AnalyzedAlert]


def texts(payload: dict[str, object]) -> str:
    return msgspec.json.encode(payload).decode()


def blocks(payload: dict[str, object]) -> list[dict[str, object]]:
    return payload["attachments"][0]["blocks"]  # type: ignore[index,no-any-return]


def test_firing_message_tells_what_why_and_what_to_do(firing: schemas.AnalyzedAlert) -> None:
    payload = slack_message(view(firing, LinkSettings()))
    header = blocks(payload)[0]["text"]["text"]  # type: ignore[index]
    assert "CRITICAL" in header
    assert "KubePodCrashLooping" in header
    assert "FIRING" in header
    assert payload["attachments"][0]["color"] == "#E01E5A"
    body = texts(payload)
    assert "memory_pressure" in body
    assert "82% confidence" in body
    assert "• kube_pod_container_status_last_terminated_reason = OOMKilled" in body
    assert "1. Raise the memory limit" in body
    assert "3. Review the cache size" in body
    assert "payments-api-7d9f8b6c4-x2kqp" in body
    assert "10.42.3.17:8080" in body
    assert block_kit_violations(payload) == []


def test_links_lead_to_graph_silence_and_runbook(firing: schemas.AnalyzedAlert) -> None:
    links = {link.text: link.url for link in view(firing, LinkSettings()).links}
    assert links["Prometheus graph"] == firing.alert.generator_url
    assert links["Runbook"] == "https://runbooks.example.org/kubernetes/KubePodCrashLooping"
    silence = urlsplit(links["Silence"])
    assert f"{silence.scheme}://{silence.netloc}" == "http://alertmanager.example.org:9093"
    matchers = unquote(silence.fragment.split("filter=", 1)[1])
    assert matchers.startswith('{alertname="KubePodCrashLooping", ')
    assert 'pod="payments-api-7d9f8b6c4-x2kqp"' in matchers
    assert 'env="prod"' in matchers
    assert "Grafana Explore" not in links


def test_grafana_explore_link_carries_the_alert_expression(firing: schemas.AnalyzedAlert) -> None:
    links = {link.text: link.url for link in view(firing, LinkSettings("https://grafana.example.org")).links}
    query = parse_qs(urlsplit(links["Grafana Explore"]).query)
    pane = json.loads(query["panes"][0])["a"]
    expr = 'rate(kube_pod_container_status_restarts_total{namespace="payments"}[10m]) > 0'
    assert pane["queries"][0]["expr"] == expr
    assert pane["range"]["to"] == "now"


def test_text_from_the_analysis_cannot_inject_slack_markup(firing: schemas.AnalyzedAlert) -> None:
    analysis = msgspec.structs.replace(firing.analysis, summary="<!channel> look & see <http://evil|here>")
    payload = slack_message(view(msgspec.structs.replace(firing, analysis=analysis), LinkSettings()))
    body = texts(payload)
    assert "<!channel>" not in body
    assert "&lt;!channel&gt; look &amp; see" in body


def test_resolved_follow_up_is_short_and_green(firing: schemas.AnalyzedAlert, resolve: Resolve) -> None:
    payload = slack_message(view(resolve(firing, 750), LinkSettings()))
    assert payload["attachments"][0]["color"] == "#2EB67D"
    body = texts(payload)
    assert "RESOLVED" in body
    assert "resolved after *12m 30s*" in body
    assert "heap usage climbs" in body
    assert "Silence" not in body
    assert len(blocks(payload)) <= 4
    assert block_kit_violations(payload) == []


long_text = st.text(min_size=0, max_size=6000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    summary=long_text,
    cause=long_text,
    evidence=st.lists(long_text, max_size=80),
    steps=st.lists(long_text, max_size=80),
    labels=st.dictionaries(st.sampled_from(["instance", "pod", "service", "namespace"]), long_text),
    name=st.text(min_size=1, max_size=400),
)
def test_any_analysis_fits_slack_limits(
    firing: schemas.AnalyzedAlert,
    summary: str,
    cause: str,
    evidence: list[str],
    steps: list[str],
    labels: dict[str, str],
    name: str,
) -> None:
    analysis = msgspec.structs.replace(
        firing.analysis, summary=summary, root_cause=cause, evidence=evidence, remediation=steps
    )
    alert = msgspec.structs.replace(firing.alert, labels={**labels, "alertname": name, "severity": "warning"})
    message = msgspec.structs.replace(firing, alert=alert, analysis=analysis)
    assert block_kit_violations(slack_message(view(message, LinkSettings()))) == []


def test_cut_text_is_visibly_cut(firing: schemas.AnalyzedAlert) -> None:
    analysis = msgspec.structs.replace(
        firing.analysis, evidence=[f"finding {i} " + "x" * 200 for i in range(40)]
    )
    payload = slack_message(view(msgspec.structs.replace(firing, analysis=analysis), LinkSettings()))
    evidence = next(b for b in blocks(payload) if "*Evidence*" in str(b))
    assert evidence["text"]["text"].endswith("…")  # type: ignore[index]
    assert len(evidence["text"]["text"]) == 3000  # type: ignore[index]
