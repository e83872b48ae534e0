"""Routes for incidents, and the Slack bot's settings: what reaches whom, and mistakes named at start-up."""

from __future__ import annotations

import msgspec
import pytest

import schemas
from services.notifier import Target, parse_routes, router_from
from services.notifier._incident_view import as_alert
from services.notifier._settings import NotifierSettings
from services.notifier._slack_bot import bot
from services.runtime import ConfigError, load
from tests.support.incident_story import node_down

ROUTES = """
destinations:
  pager: {type: log}
  chat: {type: log}
  archive: {type: log}
routes:
  - {name: critical-incidents, match: {kind: incident, severity: critical}, to: [pager]}
  - {name: every-alert, match: {kind: alert}, to: [archive], continue: true}
  - {name: prod-eu, match: {labels: {cluster: prod-eu}}, to: [chat]}
default: {to: [chat]}
"""


def grouped(firing: schemas.AnalyzedAlert) -> schemas.AnalyzedAlert:
    return msgspec.structs.replace(firing, incident=schemas.IncidentRef(id="inc-1", role="caused"))


def names(targets: list[Target]) -> list[str]:
    return [t.destination.name for t in targets]


def test_incidents_route_by_their_severity_and_scope() -> None:
    router = parse_routes(ROUTES, environ={})
    warning, _, critical, _ = node_down()
    assert names(router.targets(as_alert(critical).message, "incident")) == ["pager"]
    assert names(router.targets(as_alert(warning).message, "incident")) == ["chat"]  # scope cluster=prod-eu


def test_an_alert_of_an_incident_goes_only_where_a_route_asks_for_every_alert(
    firing: schemas.AnalyzedAlert,
) -> None:
    router = parse_routes(ROUTES, environ={})
    assert names(router.targets(firing, "alert")) == ["archive", "chat"]
    assert names(router.targets(grouped(firing), "grouped")) == ["archive"]


def test_without_routes_every_destination_takes_incidents_and_no_grouped_alert(
    firing: schemas.AnalyzedAlert,
) -> None:
    router = router_from(load(NotifierSettings, {"GENERIC_WEBHOOK_URL": "https://a.example/hook"}))
    assert router.wants_incidents
    assert names(router.targets(grouped(firing), "grouped")) == []


def test_routes_for_alerts_only_switch_incident_delivery_off() -> None:
    text = "destinations: {a: {type: log}}\nroutes: [{match: {kind: alert}, to: [a]}]"
    assert not parse_routes(text, environ={}).wants_incidents


def test_an_unknown_kind_is_named() -> None:
    with pytest.raises(ConfigError, match="kind"):
        parse_routes("destinations: {a: {type: log}}\nroutes: [{match: {kind: storm}, to: [a]}]", environ={})


def test_a_bot_token_posts_to_the_channel_through_the_web_api() -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-secret-1",
        "SLACK_CHANNEL": "#ops",
        "SLACK_WEBHOOK_URL": "https://h.example/x",
    }
    [slack] = router_from(load(NotifierSettings, env)).destinations
    found = bot(slack)
    assert found is not None
    assert (found.channel, found.api_url) == ("#ops", "https://slack.com/api")


def test_a_bot_token_without_a_channel_is_named_never_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        router_from(load(NotifierSettings, {"SLACK_BOT_TOKEN": "xoxb-secret-1"}))
    assert "SLACK_CHANNEL" in str(caught.value)
    assert "xoxb" not in str(caught.value)


def test_a_routes_file_slack_without_url_or_token_is_named() -> None:
    with pytest.raises(ConfigError, match="needs an incoming webhook url"):
        parse_routes("destinations: {a: {type: slack}}", environ={})
