"""Verdicts over real sockets: POST /api/feedback and Slack's buttons, stored in SQLite and on the stream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import msgspec
import nats
import orjson
import pytest
from aiohttp import web
from nats.aio.client import Client

import schemas
from services.analyst.eval import DEFAULT_DIR
from services.analyst.eval._scenarios import load_scenario
from services.console._feedback import FeedbackDeps, add_routes
from services.console._slack_actions import signature
from services.history import History
from services.notifier._slack import feedback_actions
from services.runtime import StageSettings, provision
from tests.support.nats_server import NatsServer, free_port
from tests.support.services import settings_for
from tests.support.stream import read_subject, subject_count

SECRET = "slack-signing-secret-for-tests"


@dataclass
class Console:
    url: str
    nc: Client
    history: History
    alert: schemas.AnalyzedAlert
    up: list[bool]  # [False] makes the history unreachable, as when the database is down

    async def published(self) -> int:
        return await subject_count(self.nc.jetstream(), schemas.FEEDBACK)


@pytest.fixture
async def console(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[Console]:
    nc = await nats.connect(nats_server.url)
    await provision(nc.jetstream(), settings_for(StageSettings, nats_server.url))
    history = await History.open(f"sqlite:///{tmp_path / 'history.db'}")
    message = load_scenario(DEFAULT_DIR / "03-latency-db-pool.yaml").message
    analysis = schemas.Analysis(
        summary="checkout is slow",
        root_cause="traffic",
        category="traffic_spike",
        confidence=0.7,
        analyzer="rules",
    )
    alert = schemas.analyzed(message, analysis, datetime.now(UTC))
    await history.write(alerts=[alert])
    up = [True]
    app = web.Application()
    add_routes(
        app,
        FeedbackDeps(
            nc=nc,
            history=lambda: history if up[0] else None,
            author=lambda request: request.headers.get("X-Test-User", "ada"),
            allowed=lambda request: request.headers.get("X-Test-User") != "reader",
            slack_signing_secret=SECRET,
        ),
    )
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Console(f"http://127.0.0.1:{port}", nc, history, alert, up)
    finally:
        await runner.cleanup()
        await history.close()
        await nc.close()


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as response:
        text = await response.read()
        return response.status, orjson.loads(text) if text else {}


def as_json(fields: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    return orjson.dumps(fields), {"Content-Type": "application/json"}


async def test_a_correction_is_published_and_stored_with_the_analysed_category(console: Console) -> None:
    body, headers = as_json(
        {
            "target_id": console.alert.id,
            "verdict": "corrected",
            "corrected_category": "dependency_failure",
            "actual_cause": "the orders database pool was exhausted",
            "actual_fix": "pool size 20 -> 50",
        }
    )
    status, answer = await post(f"{console.url}/api/feedback", body, headers)
    assert status == 200, answer
    assert answer["stored"] is True
    assert answer["duplicate"] is False
    stored = await console.history.feedback_for(console.alert.id)
    assert stored is not None
    assert (stored.verdict, stored.category, stored.corrected_category) == (
        "corrected",
        "traffic_spike",
        "dependency_failure",
    )
    assert (stored.author, stored.channel, stored.actual_fix) == ("ada", "api", "pool size 20 -> 50")
    [published] = await read_subject(console.nc.jetstream(), schemas.FEEDBACK, schemas.Feedback, count=1)
    assert published == stored
    assert published.id == answer["id"]


async def test_the_consoles_form_posts_a_confirmation(console: Console) -> None:
    form = urlencode(
        {"target_id": console.alert.id, "verdict": "confirmed", "csrf_token": "checked-by-the-app"}
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, answer = await post(f"{console.url}/api/feedback", form.encode(), headers)
    assert status == 200, answer
    stored = await console.history.feedback_for(console.alert.id)
    assert stored is not None
    assert (stored.verdict, stored.channel) == ("confirmed", "console")


async def test_a_retried_post_with_its_own_id_is_one_verdict(console: Console) -> None:
    body, headers = as_json({"id": "client-7", "target_id": console.alert.id, "verdict": "confirmed"})
    first = await post(f"{console.url}/api/feedback", body, headers)
    again = await post(f"{console.url}/api/feedback", body, headers)
    assert (first[0], again[0]) == (200, 200)
    assert again[1]["duplicate"] is True
    assert await console.published() == 1


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (b"{not json", "application/json", 400, "body is not JSON"),
        (b"[1, 2]", "application/json", 400, "body must be a JSON object"),
        (b'{"verdict": "confirmed"}', "application/json", 400, "target_id is required"),
        (b'{"target_id": "x1", "verdict": "perhaps"}', "application/json", 400, "verdict must be one of"),
        (b"verdict=confirmed", "text/plain", 415, "send JSON or a form"),
        (
            b'{"target_id": "no-such-alert", "verdict": "confirmed"}',
            "application/json",
            404,
            "no alert no-such-alert",
        ),
    ],
)
async def test_malformed_feedback_is_answered_with_the_reason_and_nothing_is_stored(
    console: Console, body: bytes, content_type: str, status: int, reason: str
) -> None:
    got, answer = await post(f"{console.url}/api/feedback", body, {"Content-Type": content_type})
    assert got == status
    assert reason in str(answer["error"])
    assert await console.published() == 0
    assert await console.history.feedback_for(console.alert.id) is None


async def test_a_reader_may_not_give_feedback(console: Console) -> None:
    body, headers = as_json({"target_id": console.alert.id, "verdict": "confirmed"})
    status, _ = await post(f"{console.url}/api/feedback", body, {**headers, "X-Test-User": "reader"})
    assert status == 403
    assert await console.published() == 0


async def test_with_the_database_down_the_verdict_still_reaches_the_stream(console: Console) -> None:
    console.up[0] = False
    body, headers = as_json({"target_id": console.alert.id, "verdict": "confirmed"})
    status, answer = await post(f"{console.url}/api/feedback", body, headers)
    assert (status, answer["stored"]) == (200, False)
    # The history service's feedback consumer stores it from there.
    assert await console.published() == 1


def slack_click(alert_id: str, element: int) -> bytes:
    [block] = feedback_actions("alert", alert_id)
    action = {
        "action_id": block["elements"][element]["action_id"],
        "block_id": block["block_id"],
        "action_ts": "1.2",
    }
    payload = {"type": "block_actions", "user": {"id": "U024BE7LH"}, "actions": [action]}
    return urlencode({"payload": orjson.dumps(payload).decode()}).encode()


def slack_headers(body: bytes, *, age: float = 0, secret: str = SECRET) -> dict[str, str]:
    timestamp = str(int(time.time() - age))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature(secret, timestamp, body),
    }


async def test_a_signed_slack_click_stores_and_publishes_the_verdict(console: Console) -> None:
    body = slack_click(console.alert.id, 0)
    status, _ = await post(f"{console.url}/slack/actions", body, slack_headers(body))
    assert status == 200
    stored = await console.history.feedback_for(console.alert.id)
    assert stored is not None
    assert (stored.verdict, stored.author, stored.channel) == ("confirmed", "U024BE7LH", "slack")
    assert await console.published() == 1


@pytest.mark.parametrize(
    ("headers_of", "reason"),
    [
        (lambda body: slack_headers(body, secret="a-guess"), "wrong Slack signature"),
        (lambda body: slack_headers(body, age=301), "stale Slack request timestamp"),
        (
            lambda body: {"Content-Type": "application/x-www-form-urlencoded"},
            "missing Slack signature headers",
        ),
    ],
    ids=["forged", "stale", "unsigned"],
)
async def test_a_forged_or_stale_slack_request_is_refused_and_nothing_is_stored(
    console: Console, headers_of: object, reason: str
) -> None:
    body = slack_click(console.alert.id, 1)
    status, answer = await post(f"{console.url}/slack/actions", body, headers_of(body))  # type: ignore[operator]
    assert (status, answer["error"]) == (401, reason)
    assert await console.history.feedback_for(console.alert.id) is None
    assert await console.published() == 0


@pytest.mark.parametrize(
    ("back", "location"),
    [("/alerts/abc", "/alerts/abc"), ("//evil.example/", None), ("https://evil.example/", None)],
)
async def test_a_form_posted_without_javascript_goes_back_to_its_page_on_this_site_only(
    console: Console, back: str, location: str | None
) -> None:
    form = urlencode({"target_id": console.alert.id, "verdict": "confirmed", "next": back}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html,*/*;q=0.8"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{console.url}/api/feedback", data=form, headers=headers, allow_redirects=False
        ) as response,
    ):
        if location is None:
            assert response.status == 200
        else:
            assert (response.status, response.headers["Location"]) == (303, location)
    assert await console.published() == 1


async def get(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, orjson.loads(await response.read())


async def test_the_console_asks_history_for_similar_past_alerts(console: Console) -> None:
    earlier = msgspec.structs.replace(
        console.alert.alert, starts_at=console.alert.alert.starts_at - timedelta(days=2)
    )
    past = msgspec.structs.replace(
        console.alert, alert=earlier, id=schemas.alert_id(earlier), received_at=earlier.starts_at
    )
    await console.history.write(alerts=[past])
    body, headers = as_json(
        {
            "target_id": past.id,
            "verdict": "corrected",
            "corrected_category": "dependency_failure",
            "actual_cause": "<b>pool</b> exhausted",
        }
    )
    assert (await post(f"{console.url}/api/feedback", body, headers))[0] == 200

    status, answer = await get(f"{console.url}/api/alerts/{console.alert.id}/similar")
    assert status == 200, answer
    found = answer["similar"]
    assert isinstance(found, list)
    [similar] = found
    assert (similar["id"], similar["cause"], similar["category"]) == (
        past.id,
        "<b>pool</b> exhausted",
        "dependency_failure",
    )
    assert answer["fired_this_week"] == 1
    assert (await get(f"{console.url}/api/alerts/no-such-alert/similar"))[0] == 404
    console.up[0] = False
    assert (await get(f"{console.url}/api/alerts/{console.alert.id}/similar"))[0] == 503
