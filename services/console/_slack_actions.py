"""Slack's interactivity endpoint: the "Confirm" and "Wrong cause" buttons of a notification.

Slack signs each request (https://api.slack.com/authentication/verifying-requests-from-slack):
``X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{X-Slack-Request-Timestamp}:{raw body}">`` keyed
with the app's signing secret. A missing, forged or stale signature (timestamp more than five
minutes away, against replays) is answered 401 and nothing of the request is read further.

The body is a form with one field, ``payload``: a ``block_actions`` JSON document naming the user
and the action. The notifier's feedback block (services/notifier/_slack.py) puts the target in
the block's ``block_id`` (``aiops_feedback|alert:<id>``) and the verdict in the action:

    aiops_confirm       button "Confirm"              -> verdict confirmed
    aiops_wrong_cause   button "Wrong cause"          -> verdict corrected, category not given yet
    aiops_category      select "Right category…"      -> verdict corrected with that category

This route is authenticated by the signature alone: the console's login and CSRF checks must
let ``SLACK_ACTIONS_PATH`` through (Slack has neither a session nor a CSRF token).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qs

import msgspec
from aiohttp import web
from loguru import logger

import schemas
from services.console._feedback import FeedbackDeps, record
from services.console._verdict import FeedbackRefused, parse_feedback
from services.runtime import SettingsPart, doc

SLACK_ACTIONS_PATH = "/slack/actions"
MAX_AGE_SECONDS = 5 * 60
MAX_BODY_BYTES = 1024 * 1024
BLOCK_PREFIX = "aiops_feedback|"
CONFIRM, WRONG_CAUSE, CATEGORY = "aiops_confirm", "aiops_wrong_cause", "aiops_category"


class SlackActionSettings(SettingsPart, kw_only=True, frozen=True):
    slack_signing_secret: Annotated[
        str, doc("Slack app signing secret: turns on the Slack buttons' endpoint /slack/actions", secret=True)
    ] = ""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature of a request body."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str | None, given: str | None, body: bytes, now: float) -> str | None:
    """None when Slack signed ``body`` within five minutes of ``now``; otherwise why not."""
    if not timestamp or not given:
        return "missing Slack signature headers"
    try:
        sent = int(timestamp)
    except ValueError:
        return "bad X-Slack-Request-Timestamp"
    if abs(now - sent) > MAX_AGE_SECONDS:
        return "stale Slack request timestamp"
    if not hmac.compare_digest(signature(secret, timestamp, body).encode(), given.encode()):
        return "wrong Slack signature"
    return None


class _User(msgspec.Struct):
    id: str
    username: str = ""


class _Option(msgspec.Struct):
    value: str


class _Action(msgspec.Struct):
    action_id: str
    block_id: str = ""
    value: str = ""
    selected_option: _Option | None = None
    action_ts: str = ""


class _Payload(msgspec.Struct):
    type: str
    user: _User | None = None
    actions: list[_Action] = []


def feedback_from_payload(payload: bytes | str) -> list[schemas.Feedback]:
    """The verdicts a ``block_actions`` payload gives (other actions and types give none)."""
    try:
        decoded = msgspec.json.decode(payload, type=_Payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FeedbackRefused(f"unreadable Slack payload: {exc}") from exc
    if decoded.type != "block_actions" or decoded.user is None:
        return []
    verdicts = []
    for action in decoded.actions:
        if not action.block_id.startswith(BLOCK_PREFIX):
            continue
        target, _, target_id = action.block_id.removeprefix(BLOCK_PREFIX).partition(":")
        fields: dict[str, Any] = {"target": target, "target_id": target_id}
        if action.action_id == CONFIRM:
            fields["verdict"] = "confirmed"
        elif action.action_id == WRONG_CAUSE:
            fields["verdict"] = "corrected"
        elif action.action_id == CATEGORY and action.selected_option is not None:
            fields |= {"verdict": "corrected", "corrected_category": action.selected_option.value}
        else:
            continue
        feedback = parse_feedback(fields, author=decoded.user.id, channel="slack")
        if action.action_ts:
            # Slack's own time of the click: the same click delivered twice is one verdict.
            key = f"{feedback.target_id}|{feedback.author}|{action.action_id}|{action.action_ts}"
            feedback = msgspec.structs.replace(feedback, id=hashlib.sha256(key.encode()).hexdigest()[:32])
        verdicts.append(feedback)
    return verdicts


def _unauthorized(reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=401)


def slack_endpoint(
    deps: FeedbackDeps, clock: Callable[[], float] = time.time
) -> Callable[[web.Request], Any]:
    async def slack_actions(request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return web.json_response({"error": "body too large"}, status=413)
        body = await request.read()
        headers = request.headers
        refusal = verify(
            deps.slack_signing_secret,
            headers.get("X-Slack-Request-Timestamp"),
            headers.get("X-Slack-Signature"),
            body,
            clock(),
        )
        if refusal:
            logger.warning("Slack action refused: {}", refusal)
            return _unauthorized(refusal)
        form = parse_qs(body.decode("utf-8", errors="replace"))
        try:
            if "payload" not in form:
                raise FeedbackRefused("no payload field in the Slack request")
            for feedback in feedback_from_payload(form["payload"][0]):
                await record(deps, feedback)
        except FeedbackRefused as exc:
            logger.info("Slack action not taken ({}): {}", exc.status, exc.reason[:200])
            return web.json_response({"error": exc.reason}, status=exc.status)
        # Slack wants 200 within three seconds; the message itself is left as it is.
        return web.Response(status=200)

    return slack_actions


def add_routes(app: web.Application, deps: FeedbackDeps) -> None:
    """The endpoint, when a signing secret is set (without one nothing could be verified)."""
    if deps.slack_signing_secret:
        app.router.add_post(SLACK_ACTIONS_PATH, slack_endpoint(deps))
