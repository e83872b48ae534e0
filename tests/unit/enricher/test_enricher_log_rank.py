"""Which log templates a reader sees first: the first problem and its lead-up, then the flood."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas import LogSeverity, LogTemplate
from services.enricher._build import events_selector
from services.enricher._logs import rank, union
from services.runtime import ConfigError

T0 = datetime(2024, 5, 14, 10, tzinfo=UTC)


def template(text: str, severity: LogSeverity, count: int, first_second: float) -> LogTemplate:
    first = T0 + timedelta(seconds=first_second)
    return LogTemplate(template=text, count=count, severity=severity, first=first, last=first, sample=text)


def test_the_first_problem_and_the_quiet_lines_before_it_come_before_a_bigger_flood() -> None:
    heartbeat = template("[INFO] Health check: OK", "info", 300, 0)
    reload = template("[INFO] Reloading configuration...", "info", 1, 299)
    staging = template("[CONFIG] Database host: db-staging.internal:<n>", "info", 1, 299.5)
    warning = template("[WARN] Configuration mismatch: Using staging endpoints", "warning", 1, 300)
    flood = template("[ERROR] Database connection failed: Connection refused", "error", 5000, 301)
    other = template("[ERROR] Cache connection failed: Connection refused", "error", 4000, 301)
    served = template("[HTTP] 200 GET /api/users/<n>", "info", 400, 290)  # routine, though near
    ranked = rank([flood, other, heartbeat, reload, served, staging, warning])
    assert ranked == [warning, staging, reload, flood, other, heartbeat, served]


def test_normal_kubernetes_events_come_last_and_a_cause_line_without_an_error_word_is_not_lost() -> None:
    started = template('type=Normal reason=Started object=Pod/w-0 msg="Started container w"', "info", 6, 0)
    cause = template("Environment variable DEPLOY_ENV is undefined", "info", 6, 1)
    backoff = template('type=Warning reason=BackOff object=Pod/w-0 msg="Back-off restarting"', "info", 6, 2)
    assert rank([started, cause, backoff]) == [backoff, cause, started]
    assert rank([started, cause]) == [cause, started]  # no problem at all: rarest non-event lines first


def test_the_events_selector_is_logql_or_off() -> None:
    assert events_selector(' {job="kubernetes-events"} ') == '{job="kubernetes-events"}'
    assert events_selector("off") == ""
    with pytest.raises(ConfigError, match="LOKI_EVENTS_SELECTOR"):
        events_selector("kubernetes-events")


def test_overlapping_answers_count_each_line_once_but_keep_two_pods_saying_the_same() -> None:
    same_instant = [(1.0, "connection refused"), (1.0, "connection refused")]  # two pods, one answer
    assert union(same_instant, [(1.0, "connection refused"), (2.0, "retrying")]) == [
        (1.0, "connection refused"),
        (1.0, "connection refused"),
        (2.0, "retrying"),
    ]
