"""The pages as HTML: everything that came from an alert is text, links only go to web addresses."""

from __future__ import annotations

import re
from datetime import timedelta, timezone

import msgspec

import schemas
from services.console._detail import alert_page, incident_page
from services.console._evidence import with_code
from services.console._filters import Filters
from services.console._html import Frame, login_page, safe_url, when
from services.console._index import index_page
from services.console._rows import alert_row, incident_row
from services.history import Known, Page
from services.notifier import LinkSettings
from tests.support.console import with_evidence
from tests.support.history import analyzed, incident_event

EVIL = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
FRAME = Frame(user=EVIL, csrf="tok", can_give_feedback=True, banner=EVIL)


def _markup(page: str) -> list[str]:
    """Every tag the page really contains (escaped text is not a tag)."""
    return re.findall(r"<(script|img)\b", page)


def _evil_alert() -> schemas.AnalyzedAlert:
    message = analyzed(
        1,
        alertname=EVIL,
        summary=EVIL,
        labels={"pod": EVIL, EVIL: "x"},
        annotations={"description": EVIL, "runbook_url": "javascript:alert(3)"},
    )
    return with_evidence(message, log_line=EVIL, label=EVIL)


def test_the_alert_page_shows_injected_values_as_text() -> None:
    page = alert_page(FRAME, _evil_alert(), None, LinkSettings())
    assert _markup(page) == ["script"]  # the console's own script tag only
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "javascript:" not in page.split("</head>", 1)[1].split("<table", 1)[0]  # no runbook link to it


def test_the_list_and_incident_pages_show_injected_values_as_text() -> None:
    message = _evil_alert()
    event = incident_event(title=EVIL)
    incident = msgspec.structs.replace(event.incident, scope={EVIL: EVIL})
    event = msgspec.structs.replace(event, incident=incident)
    f = Filters.parse({"q": EVIL, "service": EVIL})
    listing = index_page(FRAME, f, Page(items=[alert_row(message)]), Page(items=[incident_row(event)]))
    assert _markup(listing) == ["script"]
    assert f'value="{EVIL}"' not in listing
    detail = incident_page(FRAME, event, [alert_row(message)], Known(), None)
    assert _markup(detail) == ["script"]


def test_the_login_page_escapes_where_to_go_next() -> None:
    page = login_page("", EVIL, "tok", token=True, users=True)
    assert _markup(page) == []


def test_only_web_addresses_become_links() -> None:
    assert (
        safe_url("https://grafana.example.com/d/x?a=1&b=2") == "https://grafana.example.com/d/x?a=1&amp;b=2"
    )
    for url in ("javascript:alert(1)", "data:text/html,<b>", "//evil.example", "ftp://x"):
        assert safe_url(url) == "#"


def test_a_read_only_user_sees_the_verdict_but_no_form() -> None:
    reader = Frame(user="bob", csrf="tok", can_give_feedback=False)
    page = alert_page(reader, analyzed(1), None, LinkSettings())
    assert "feedback-form" not in page
    writer = alert_page(FRAME, analyzed(1), None, LinkSettings())
    assert 'name="csrf_token" value="tok"' in writer


def test_every_time_shown_says_it_is_utc() -> None:
    # Slack says "UTC"; a bare time reads as local to whoever is on call in another zone.
    message = analyzed(1)
    page = alert_page(FRAME, message, None, LinkSettings())
    shown = re.findall(r"<time [^>]*>(.*?)</time>", page)
    assert shown, "the page shows times"
    assert all(re.sub(r"<[^>]+>", "", text).endswith(" UTC") for text in shown), shown
    offset = message.received_at.astimezone(timezone(timedelta(hours=2)))
    assert when(offset) == when(message.received_at)  # another zone's moment is shown in UTC


def test_backticked_commands_in_an_analysis_are_code_and_everything_stays_escaped() -> None:
    assert with_code("Roll back: `kubectl -n shop rollout undo deploy/<name>`, then debug") == (
        "Roll back: <code>kubectl -n shop rollout undo deploy/&lt;name&gt;</code>, then debug"
    )
    assert with_code("one ` alone") == "one ` alone"
    assert with_code("`a` and `b` and ` c") == "<code>a</code> and <code>b</code> and ` c"
    message = analyzed(1, remediation=["Run `df -h /data` on the node"])
    assert "<code>df -h /data</code>" in alert_page(FRAME, message, None, LinkSettings())


def test_an_incident_page_counts_the_members_the_history_saw_resolve_since_its_last_event() -> None:
    # The analyst announces joins, causes and the end, not each member resolving: the last event's
    # "2/2 firing" stayed while one of the two had resolved.
    pods = [analyzed(n, labels={"pod": f"cart-{n}"}) for n in (1, 2)]
    members = [
        schemas.IncidentMember(
            alert_id=pod.id,
            alertname="KubePodNotReady",
            status="firing",
            starts_at=pod.alert.starts_at,
            role="root" if n == 0 else "related",
        )
        for n, pod in enumerate(pods)
    ]
    event = incident_event(sequence=2)
    event = msgspec.structs.replace(
        event, incident=msgspec.structs.replace(event.incident, members=members, firing_count=2)
    )
    ended = pods[1].received_at + timedelta(minutes=3)
    rows = [alert_row(pods[0]), msgspec.structs.replace(alert_row(pods[1]), ended_at=ended)]

    page = incident_page(FRAME, event, rows, Known(ended={pods[1].id: ended}, ended_count=1, alerts=2), None)

    assert " · 1/2 firing · " in page
    member_rows = re.findall(r"<tr><td>(root|related)</td><td><a [^>]*>[^<]*</a></td><td>(\w+)</td>", page)
    assert member_rows == [("root", "firing"), ("related", "resolved")]
