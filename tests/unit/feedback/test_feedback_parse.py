"""A verdict from a form or JSON: taken when it says something, refused with the reason when not."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

import schemas
from services.console._verdict import FeedbackRefused, parse_feedback

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def parse(fields: Mapping[str, object], **kw: object) -> schemas.Feedback:
    options: dict[str, object] = {"author": "ada", "channel": "api", "now": NOW, **kw}
    return parse_feedback(fields, **options)  # type: ignore[arg-type]


def test_a_confirmation_needs_only_the_target_and_the_verdict() -> None:
    feedback = parse({"target_id": "a1b2c3", "verdict": "confirmed"})
    assert (feedback.target, feedback.target_id, feedback.verdict) == ("alert", "a1b2c3", "confirmed")
    assert (feedback.author, feedback.channel, feedback.given_at) == ("ada", "api", NOW)
    assert feedback.corrected_category is None
    # Each verdict gets its own id, so a later one is not mistaken by JetStream for a duplicate.
    later = parse({"target_id": "a1b2c3", "verdict": "confirmed"}, now=NOW.replace(minute=5))
    assert later.id != feedback.id


def test_a_correction_keeps_the_category_cause_and_fix_as_written() -> None:
    feedback = parse(
        {
            "target": "incident",
            "target_id": "inc-42",
            "verdict": "corrected",
            "corrected_category": "dependency_failure",
            "actual_cause": "  the payments database ran out of connections ",
            "actual_fix": "raised max_connections",
        }
    )
    assert feedback.target == "incident"
    assert feedback.corrected_category == "dependency_failure"
    assert feedback.actual_cause == "the payments database ran out of connections"
    assert feedback.actual_fix == "raised max_connections"


def test_a_client_chosen_id_makes_a_retried_post_one_verdict() -> None:
    first = parse({"id": "retry-1", "target_id": "a1", "verdict": "confirmed"})
    again = parse({"id": "retry-1", "target_id": "a1", "verdict": "confirmed"}, now=NOW.replace(second=9))
    assert first.id == again.id == "retry-1"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"verdict": "confirmed"}, "target_id is required"),
        ({"target_id": "a1"}, "verdict must be one of confirmed, corrected (got missing)"),
        (
            {"target_id": "a1", "verdict": "maybe"},
            "verdict must be one of confirmed, corrected (got 'maybe')",
        ),
        (
            {"target_id": "a1", "verdict": "confirmed", "target": "host"},
            "target must be one of alert, incident",
        ),
        ({"target_id": "<script>", "verdict": "confirmed"}, "target_id must be an id"),
        ({"target_id": "a" * 201, "verdict": "confirmed"}, "target_id must be an id"),
        ({"target_id": 7, "verdict": "confirmed"}, "target_id must be a string"),
        (
            {"target_id": "a1", "verdict": "corrected", "corrected_category": "gremlins"},
            "corrected_category 'gremlins' is not a category",
        ),
        (
            {"target_id": "a1", "verdict": "confirmed", "corrected_category": "network"},
            "a confirmed verdict takes no corrected_category",
        ),
        (
            {"target_id": "a1", "verdict": "corrected"},
            "a corrected verdict needs corrected_category or actual_cause",
        ),
        (
            {
                "target_id": "a1",
                "verdict": "corrected",
                "actual_cause": "x" * (schemas.MAX_FEEDBACK_TEXT + 1),
            },
            f"actual_cause is longer than {schemas.MAX_FEEDBACK_TEXT} characters",
        ),
        ({"target_id": "a1", "verdict": "confirmed", "categroy": "network"}, "unknown field(s): categroy"),
    ],
)
def test_malformed_feedback_is_refused_with_the_reason(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(FeedbackRefused) as refused:
        parse(fields)
    assert reason in refused.value.reason
    assert refused.value.status == 400


def test_a_form_may_carry_its_csrf_token_beside_the_fields() -> None:
    fields = {"target_id": "a1", "verdict": "confirmed", "csrf_token": "t"}
    assert parse(fields, strict=False, channel="console").channel == "console"
    with pytest.raises(FeedbackRefused, match="unknown field"):
        parse(fields)


def test_wrong_cause_without_a_better_one_is_taken_from_slack_only() -> None:
    # Slack's button has no room for a category; the API and the console ask for one.
    feedback = parse({"target_id": "a1", "verdict": "corrected"}, channel="slack")
    assert (feedback.verdict, feedback.corrected_category) == ("corrected", None)
