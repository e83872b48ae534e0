"""Slack's button clicks: signed by Slack or refused; the notifier's buttons read back as verdicts."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

import schemas
from services.console._slack_actions import feedback_from_payload, signature, verify
from services.console._verdict import FeedbackRefused
from services.notifier._incident_view import IncidentView
from services.notifier._slack import feedback_actions
from services.notifier._slack_incident import incident_message

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"


def test_slacks_documented_example_signature() -> None:
    # The example of https://api.slack.com/authentication/verifying-requests-from-slack.
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert signature(SECRET, "1531420618", body) == expected


def test_a_fresh_correct_signature_passes() -> None:
    now = time.time()
    ts = str(int(now) - 10)
    assert verify(SECRET, ts, signature(SECRET, ts, BODY), BODY, now) is None


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("forged", "wrong Slack signature"),
        ("other secret", "wrong Slack signature"),
        ("body changed", "wrong Slack signature"),
        ("stale", "stale Slack request timestamp"),
        ("from the future", "stale Slack request timestamp"),
        ("no signature", "missing Slack signature headers"),
        ("bad timestamp", "bad X-Slack-Request-Timestamp"),
    ],
)
def test_forged_or_stale_requests_are_refused(case: str, reason: str) -> None:
    now = time.time()
    ts = str(int(now))
    given: str | None = signature(SECRET, ts, BODY)
    body = BODY
    if case == "forged":
        given = "v0=" + "0" * 64
    elif case == "other secret":
        given = signature("another-secret", ts, BODY)
    elif case == "body changed":
        body = BODY + b"x"
    elif case in ("stale", "from the future"):
        ts = str(int(now) + (-301 if case == "stale" else 301))
        given = signature(SECRET, ts, BODY)
    elif case == "no signature":
        given = None
    else:
        ts = "yesterday"
    assert verify(SECRET, ts, given, body, now) == reason


def _click(block: dict[str, Any], element: int, **extra: Any) -> bytes:
    action = {
        "action_id": block["elements"][element]["action_id"],
        "block_id": block["block_id"],
        "type": block["elements"][element]["type"],
        "action_ts": "1732960000.123456",
        **extra,
    }
    payload = {
        "type": "block_actions",
        "user": {"id": "U024BE7LH", "username": "ada", "team_id": "T1"},
        "team": {"id": "T1", "domain": "shop"},
        "container": {"type": "message", "message_ts": "1732959990.000100"},
        "response_url": "https://hooks.slack.com/actions/T1/1/abc",
        "actions": [action],
    }
    return orjson.dumps(payload)


def test_the_notifiers_buttons_read_back_as_verdicts_on_their_alert() -> None:
    [block] = feedback_actions("alert", "6c1e0f2a9b")
    [confirm] = feedback_from_payload(_click(block, 0, value="aiops_confirm"))
    assert (confirm.target, confirm.target_id, confirm.verdict) == ("alert", "6c1e0f2a9b", "confirmed")
    assert (confirm.author, confirm.channel) == ("U024BE7LH", "slack")
    [wrong] = feedback_from_payload(_click(block, 1, value="aiops_wrong_cause"))
    assert (wrong.verdict, wrong.corrected_category) == ("corrected", None)
    option = {"text": {"type": "plain_text", "text": "network"}, "value": "network"}
    [chosen] = feedback_from_payload(_click(block, 2, selected_option=option))
    assert (chosen.verdict, chosen.corrected_category) == ("corrected", "network")


def test_the_buttons_stay_within_slacks_limits() -> None:
    [block] = feedback_actions("incident", "x" * 300)
    assert len(block["block_id"]) <= 255
    assert len(block["elements"]) <= 25
    select = block["elements"][2]
    assert len(select["options"]) <= 100
    labels = [e["text"]["text"] for e in block["elements"][:2]] + [
        o["text"]["text"] for o in select["options"]
    ]
    assert all(0 < len(label) <= 75 for label in labels)


def test_one_click_delivered_twice_is_one_verdict_and_incidents_are_targets_too() -> None:
    [block] = feedback_actions("incident", "inc-7")
    first = feedback_from_payload(_click(block, 0))
    again = feedback_from_payload(_click(block, 0))
    assert first[0].id == again[0].id
    assert (first[0].target, first[0].target_id) == ("incident", "inc-7")


def test_other_interactions_give_no_verdict_and_garbage_is_refused() -> None:
    assert feedback_from_payload(b'{"type": "view_submission", "user": {"id": "U1"}}') == []
    foreign = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "actions": [{"action_id": "x", "block_id": "y"}],
    }
    assert feedback_from_payload(orjson.dumps(foreign)) == []
    with pytest.raises(FeedbackRefused, match="unreadable Slack payload"):
        feedback_from_payload(b"{not json")
    bad_target = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "actions": [{"action_id": "aiops_confirm", "block_id": "aiops_feedback|host:x"}],
    }
    with pytest.raises(FeedbackRefused, match="target must be one of alert, incident"):
        feedback_from_payload(orjson.dumps(bad_target))


def test_incident_messages_carry_the_buttons_also_once_resolved() -> None:
    now = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    incident = schemas.Incident(
        id="inc-7", status="open", title="payments down", opened_at=now, updated_at=now
    )
    event = schemas.IncidentEvent(event="opened", sequence=1, incident=incident, sent_at=now)

    def actions(e: schemas.IncidentEvent, buttons: bool) -> list[dict[str, Any]]:
        blocks = incident_message(IncidentView(e), buttons=buttons)["attachments"][0]["blocks"]
        return [b for b in blocks if b["type"] == "actions"]

    [block] = actions(event, True)
    assert block["block_id"] == "aiops_feedback|incident:inc-7"
    assert actions(event, False) == []
    closed = schemas.IncidentEvent(
        event="resolved",
        sequence=2,
        incident=schemas.Incident(
            id="inc-7",
            status="resolved",
            title="payments down",
            opened_at=now,
            updated_at=now,
            resolved_at=now,
        ),
        sent_at=now,
    )
    # The resolved message replaces the opened one in place: the buttons stay, people know the cause now.
    assert actions(closed, True) == [block]
