"""The destination registry: every kind documented and configured from it; Opsgenie and Jira payloads."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

import schemas
from services.notifier import LinkSettings, NotifierSettings, parse_routes, router_from, view
from services.notifier._destinations import DEFAULT_RATE, Destination
from services.notifier._jira import JiraSpec, issue_fields
from services.notifier._kinds import KINDS
from services.notifier._opsgenie import alias
from services.notifier._render import render
from services.runtime import ConfigError, describe, load
from tests.fakes.jira import adf_errors
from tests.fakes.opsgenie import alert_errors

DOCS = Path(__file__).resolve().parents[3] / "docs"
Resolve = Callable[[schemas.AnalyzedAlert, float], schemas.AnalyzedAlert]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_registered_kind_has_its_section_in_the_docs(kind: str) -> None:
    headings = re.findall(r"^## .*$", (DOCS / "notifications.md").read_text(), re.MULTILINE)
    assert any(f"`{kind}`" in h for h in headings), f"docs/notifications.md has no section for {kind}"


def test_the_recipe_names_the_registry_as_it_is() -> None:
    recipe = (DOCS / "development.md").read_text().split("## Adding a notification destination")[1]
    recipe = recipe.split("\n## ")[0]
    assert "services/notifier/_kinds.py" in recipe
    assert "KIND = DestinationKind(" in recipe
    for kind in KINDS.values():
        assert kind.spec.__struct_config__.tag == kind.name


def test_settings_and_rates_come_from_the_registry() -> None:
    variables = {info.env[0] for info in describe(NotifierSettings)}
    for kind in KINDS.values():
        assert {info.env[0] for info in describe(kind.settings)} <= variables
    assert {"OPSGENIE_API_KEY", "OPSGENIE_URL", "SLACK_WEBHOOK_URL"} <= variables
    today = {"slack": 1.0, "teams": 1.0, "pagerduty": 2.0, "webhook": 0.0, "log": 0.0}
    assert {name: DEFAULT_RATE[name] for name in today} == today


def test_opsgenie_from_the_environment_defaults_to_the_us_api() -> None:
    router = router_from(load(NotifierSettings, {"OPSGENIE_API_KEY": "k"}))
    [destination] = router.destinations
    assert (destination.name, destination.type, destination.url) == (
        "opsgenie",
        "opsgenie",
        "https://api.opsgenie.com",
    )


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"OPSGENIE_API_KEY": "hidden-key", "OPSGENIE_URL": "api.eu.opsgenie.com"}, "(OPSGENIE_URL)"),
        (
            {"OPSGENIE_API_KEY": "hidden-key", "OPSGENIE_URL": "https://x.example/v2/alerts"},
            "no path (OPSGENIE_URL)",
        ),
        ({"SLACK_WEBHOOK_URL": "hooks.slack.example/hidden-key"}, "needs an http(s) url (SLACK_WEBHOOK_URL)"),
    ],
)
def test_bad_environment_names_the_variable_not_the_value(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        router_from(load(NotifierSettings, env))
    assert complaint in str(caught.value)
    assert "hidden-key" not in str(caught.value)


JIRA = "{type: jira, url: 'https://example.atlassian.net', email: a@example.org, token: '${T}', project: OPS"


@pytest.mark.parametrize(
    ("destination", "complaint"),
    [
        ("{type: opsgenie}", "destination 'd' needs an api_key (api_key)"),
        ("{type: jira, url: 'https://example.atlassian.net', project: OPS}", "needs a token (token)"),
        ("{type: jira, token: '${T}', project: OPS}", "needs an http(s) url (url)"),
        (JIRA.replace("project: OPS", "project: ''") + "}", "needs a project key (project)"),
        (JIRA.replace("email: a@example.org, ", "") + "}", "(email)"),
        (JIRA + ", labels: ['on call']}", "labels must be single words (labels)"),
        (JIRA + ", api: server}", "$.destinations[...].api"),
        ("{type: slack, url: 'https://hooks.example/x', project: OPS}", "unknown field `project`"),
        ("{type: sms}", "(destination types: slack, webhook, pagerduty, teams, opsgenie, jira, log)"),
    ],
)
def test_a_misconfigured_destination_is_named(destination: str, complaint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_routes(f"destinations: {{d: {destination}}}", environ={"T": "hidden-token"})
    assert complaint in str(caught.value)
    assert "hidden-token" not in str(caught.value)


@pytest.mark.parametrize(
    ("severity", "priority"),
    [("critical", "P1"), ("error", "P2"), ("high", "P2"), ("warning", "P3"), ("info", "P5"), ("page", "P3")],
)
def test_opsgenie_priority_follows_severity(
    firing: schemas.AnalyzedAlert, severity: str, priority: str
) -> None:
    labels = {**firing.alert.labels, "severity": severity}
    message = msgspec.structs.replace(firing, alert=msgspec.structs.replace(firing.alert, labels=labels))
    request = render(opsgenie(), view(message, LinkSettings()), 0)
    body = msgspec.json.decode(request.body)
    assert alert_errors(body) == {}
    assert body["priority"] == priority


def opsgenie() -> Destination:
    return Destination(name="og", type="opsgenie", url="https://api.eu.opsgenie.com", secret="genie")


def test_opsgenie_closes_the_alert_its_firing_opened(firing: schemas.AnalyzedAlert, resolve: Resolve) -> None:
    opened = render(opsgenie(), view(firing, LinkSettings()), 0)
    closed = render(opsgenie(), view(resolve(firing, 60), LinkSettings()), 0)
    key = msgspec.json.decode(opened.body)["alias"]
    assert opened.url == "https://api.eu.opsgenie.com/v2/alerts"
    assert closed.url == f"https://api.eu.opsgenie.com/v2/alerts/{key}/close?identifierType=alias"
    assert opened.headers["Authorization"] == closed.headers["Authorization"] == "GenieKey genie"
    later = msgspec.structs.replace(firing.alert, starts_at=firing.alert.starts_at.replace(hour=23))
    assert alias(view(msgspec.structs.replace(firing, alert=later), LinkSettings())) != key


def jira(api: str) -> Destination:
    spec = JiraSpec(api=api, project="OPS", labels=["aiops"], fields={"priority": {"name": "High"}})  # type: ignore[arg-type]
    return Destination(name="j", type="jira", url="https://jira.example", secret="t", options=spec)


def test_jira_cloud_gets_a_document_and_data_center_plain_text(firing: schemas.AnalyzedAlert) -> None:
    cloud = issue_fields(jira("cloud"), view(firing, LinkSettings()))
    assert adf_errors(cloud["description"]) == []
    assert cloud["priority"] == {"name": "High"}
    assert cloud["project"] == {"key": "OPS"}
    text = issue_fields(jira("datacenter"), view(firing, LinkSettings()))["description"]
    assert "Remediation:\n1. Raise the memory limit of payments-api to 1Gi to stop the restarts" in text
    assert "Runbook: https://runbooks.example.org/kubernetes/KubePodCrashLooping" in text


SECRET = "s3cr3t-credential-77"


@pytest.mark.parametrize("kind", sorted(name for name, kind in KINDS.items() if kind.render is not None))
def test_no_rendered_message_carries_a_credential_in_its_text(
    firing: schemas.AnalyzedAlert, resolve: Resolve, kind: str
) -> None:
    destination = Destination(name="d", type=kind, url=f"https://receiver.example/{SECRET}", secret=SECRET)
    for message in (firing, resolve(firing, 60)):
        body = msgspec.json.decode(render(destination, view(message, LinkSettings()), 0).body)
        # PagerDuty's Events API takes its routing key in the body, as a field of its own, and only there.
        text = msgspec.json.encode({k: v for k, v in body.items() if v != SECRET}).decode()
        assert SECRET not in text
