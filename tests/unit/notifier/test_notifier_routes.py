"""Routing tables: which alert reaches which destination, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

import schemas
from services.notifier import parse_routes
from services.runtime import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "infra" / "notifier" / "routes.example.yaml"
ENV = {
    "SLACK_ONCALL_WEBHOOK_URL": "https://hooks.slack.example/T0/B1/oncall",
    "SLACK_TEAM_WEBHOOK_URL": "https://hooks.slack.example/T0/B2/team",
    "PAGERDUTY_ROUTING_KEY": "R" * 32,
    "TEAMS_DB_WEBHOOK_URL": "https://teams.example/webhook/db",
    "WEBHOOK_SECRET": "s3cret",
}


def message(
    firing: schemas.AnalyzedAlert,
    labels: dict[str, str],
    *,
    degraded: bool = False,
    category: str = "unknown",
) -> schemas.AnalyzedAlert:
    alert = msgspec.structs.replace(firing.alert, labels={"alertname": "X", **labels})
    analysis = msgspec.structs.replace(firing.analysis, degraded=degraded, category=category)
    return msgspec.structs.replace(firing, alert=alert, analysis=analysis)


@pytest.mark.parametrize(
    ("labels", "degraded", "expected"),
    [
        ({"severity": "critical", "env": "prod"}, False, ["audit", "pager", "oncall-slack"]),
        ({"severity": "critical", "env": "production"}, False, ["audit", "pager", "oncall-slack"]),
        ({"severity": "critical", "env": "staging"}, False, ["audit", "team-slack"]),
        ({"severity": "warning", "service": "postgres-main"}, False, ["audit", "db-teams"]),
        ({"severity": "warning", "service": "my-postgres"}, False, ["audit", "team-slack"]),
        ({"severity": "warning"}, True, ["audit", "team-slack"]),
        (
            {"severity": "critical", "env": "prod", "service": "redis"},
            False,
            ["audit", "pager", "oncall-slack"],
        ),
    ],
)
def test_example_routes(
    firing: schemas.AnalyzedAlert, labels: dict[str, str], degraded: bool, expected: list[str]
) -> None:
    router = parse_routes(EXAMPLE.read_text(), environ=ENV)
    targets = router.targets(message(firing, labels, degraded=degraded))
    assert [t.destination.name for t in targets] == expected


def test_flap_guard_comes_from_the_route_that_chose_the_destination(firing: schemas.AnalyzedAlert) -> None:
    router = parse_routes(EXAMPLE.read_text(), environ=ENV)
    degraded = {
        t.destination.name: t.flap_guard_seconds for t in router.targets(message(firing, {}, degraded=True))
    }
    assert degraded == {"audit": 0, "team-slack": 120}
    plain = {t.destination.name: t.flap_guard_seconds for t in router.targets(message(firing, {}))}
    assert plain == {"audit": 0, "team-slack": 60}


def test_secrets_come_from_the_environment(firing: schemas.AnalyzedAlert) -> None:
    router = parse_routes(EXAMPLE.read_text(), environ=ENV)
    by_name = {d.name: d for d in router.destinations}
    assert by_name["pager"].secret == "R" * 32
    assert by_name["audit"].secret == "s3cret"
    assert "hooks.slack.example" not in repr(by_name["oncall-slack"])


ROUTES = """
destinations:
  a: {type: log}
  b: {type: log}
  c: {type: log}
routes:
  - {match: {category: [memory_pressure, cpu_saturation]}, to: [a]}
  - {match: {analyzer: rules, status: firing}, to: [b], continue: true}
  - {match: {labels: {team: db}}, to: [c]}
default: {to: [c]}
"""


@pytest.mark.parametrize(
    ("category", "analyzer", "labels", "expected"),
    [
        ("memory_pressure", "rules", {"team": "db"}, ["a"]),
        ("network", "rules", {"team": "db"}, ["b", "c"]),
        ("network", "rules", {"team": "web"}, ["b", "c"]),
        ("network", "llm", {}, ["c"]),
    ],
)
def test_first_match_wins_unless_continue(
    firing: schemas.AnalyzedAlert, category: str, analyzer: str, labels: dict[str, str], expected: list[str]
) -> None:
    m = message(firing, labels, category=category)
    m = msgspec.structs.replace(m, analysis=msgspec.structs.replace(m.analysis, analyzer=analyzer))
    assert [t.destination.name for t in parse_routes(ROUTES, environ={}).targets(m)] == expected


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("destinations: {a: {type: log}}\nroutes: [{to: [b]}]", "unknown destination(s) b"),
        ("destinations: {a: {type: slack, url: '${NOPE}'}}", "uses ${NOPE}, which is not set"),
        ("destinations: {a: {type: slack, url: 'ftp://x'}}", "needs an http(s) url"),
        ("destinations: {a: {type: log, sned_resolved: false}}", "sned_resolved"),
        ("destinations: {a: {type: sms}}", "$.destinations[...].type"),
        (
            "destinations: {a: {type: log}}\nroutes: [{to: [a], match: {labels_regex: {x: '('}}}]",
            "not a valid regex",
        ),
        ("destinations: {'bad name': {type: log}}", "must match"),
        ("destinations: [", "not valid YAML"),
        ("destinations: {p: {type: pagerduty, url: 'https://pd.example/v2/enqueue'}}", "needs a routing_key"),
    ],
)
def test_mistakes_are_named(text: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        parse_routes(text, environ={"SECRET": "hidden"})
    assert complaint in str(caught.value)


def test_a_missing_secret_is_named_but_never_shown() -> None:
    text = "destinations: {a: {type: slack, url: 'ftp://${SECRET}'}}"
    with pytest.raises(ConfigError) as caught:
        parse_routes(text, environ={"SECRET": "hidden-value"})
    assert "hidden-value" not in str(caught.value)
