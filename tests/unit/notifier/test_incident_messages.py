"""Incident messages as each destination gets them: within its limits for a storm of 50,000 alerts."""

from __future__ import annotations

import json

import msgspec

from services.notifier._http import Answer
from services.notifier._incident_view import IncidentView, as_alert
from services.notifier._pagerduty import pagerduty_event
from services.notifier._slack_bot import judge
from services.notifier._slack_incident import incident_message, thread_reply
from services.notifier._teams import teams_message
from tests.fakes.pagerduty import event_errors
from tests.fakes.slack import block_kit_violations
from tests.support.incident_story import event, node_down

# 300 alert names, 50,000 members: the storm no message may grow with.
STORM = {f"Alert{n:03d}": 166 + (n < 200) for n in range(300)}


def storm() -> IncidentView:
    return IncidentView(event("updated", 9, STORM, changes=["members", "root"]))


def test_a_storm_of_50000_alerts_makes_a_slack_message_within_its_limits() -> None:
    message = incident_message(storm(), with_changes=True)
    assert sum(STORM.values()) == 50_000
    assert block_kit_violations(message) == []
    text = json.dumps(message, ensure_ascii=False)
    assert len(text) < 4000
    assert "50000 alerts, all firing" in text
    assert "… and 48330 more of 290 other alert names" in text
    assert text.count(": 167") == 10  # the ten largest names, counted, never listed member by member


def test_the_thread_says_which_alerts_joined_by_name_at_most_ten() -> None:
    reply = thread_reply(storm(), told={"Alert000": 100})
    lines = reply.splitlines()
    assert lines[0] == "• root is now NodeNotReady on ip-10-0-1-7"
    assert lines[1] == "*49900 new alerts* (50000 in all):"
    assert len(lines) == 2 + 10 + 1
    assert "Alert000" not in reply  # its 67 new members rank below ten names of 167


def test_nothing_new_says_nothing() -> None:
    opened = IncidentView(node_down()[0])
    assert thread_reply(opened, told=opened.incident.alertnames) == ""


def test_pagerduty_keeps_one_dedup_key_per_incident_through_every_event() -> None:
    keys, actions = set(), []
    for e in [*node_down(), storm().event]:
        payload = pagerduty_event(as_alert(e), "r" * 32)
        assert event_errors(payload) == []
        keys.add(payload["dedup_key"])
        actions.append(payload["event_action"])
    assert keys == {"inc-0123456789ab"}
    assert actions == ["trigger", "trigger", "trigger", "resolve", "trigger"]


def test_an_alert_only_kind_shows_title_root_and_counts() -> None:
    v = as_alert(storm().event)
    card = json.dumps(teams_message(v), ensure_ascii=False)
    assert len(card.encode()) < 28_000
    assert "NodeNotReady" in card
    assert "root alert: NodeNotReady on ip-10-0-1-7" in card
    assert "50000 alerts, all firing" in card
    assert v.links == ()  # a silence of made-up labels would match no real alert


def test_the_web_apis_answers_are_judged_by_ok_not_by_status() -> None:
    def answer(status: int, body: dict[str, object] | str) -> Answer:
        return Answer(status, body if isinstance(body, str) else json.dumps(body), 0.01)

    assert judge(answer(200, {"ok": True, "channel": "C1", "ts": "1.2"})) == "delivered"
    assert judge(answer(200, {"ok": False, "error": "invalid_auth"})) == "rejected"
    assert judge(answer(200, {"ok": False, "error": "internal_error"})) == "retry"
    assert judge(answer(429, {"ok": False, "error": "ratelimited"})) == "retry"
    assert judge(answer(200, "ok")) == "delivered"  # an incoming webhook's answer
    assert judge(answer(200, "{not json")) == "retry"


def test_a_resolved_incident_is_green_and_says_how_long_it_lasted() -> None:
    resolved = node_down()[3]
    message = incident_message(IncidentView(resolved))
    assert message["attachments"][0]["color"] == "#2EB67D"
    assert message["text"] == "✅ RESOLVED NodeNotReady on ip-10-0-1-7 after 12m (41 alerts)"
    assert msgspec.json.decode(json.dumps(message))["attachments"][0]["blocks"][1]["text"]["text"] == (
        "*Resolved* after 12m."
    )


def test_an_incident_without_a_severity_shows_none() -> None:
    told = event("opened", 1, {"NodeNotReady": 1}, changes=[])
    plain = msgspec.structs.replace(told, incident=msgspec.structs.replace(told.incident, severity=""))
    headline = IncidentView(plain).headline
    assert headline.startswith("🔔 · ")
    assert "NONE" not in headline
    assert IncidentView(told).headline.startswith(f"🔥 {told.incident.severity.upper()} · ")
