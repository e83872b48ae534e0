"""A person's verdict on an analysis: validated, published on ``alerts.feedback``, written to history.

``POST /api/feedback`` takes JSON or a form (the console's own form posts one). Its fields:

    target             "alert" (default) or "incident"
    target_id          the alert's or the incident's id
    verdict            "confirmed" or "corrected"
    corrected_category (corrected) the category the person says is right
    actual_cause, actual_fix   free text, at most schemas.MAX_FEEDBACK_TEXT characters each
    id                 optional, chosen by the client so that a retried POST is stored once

A malformed body is answered 400 with ``{"error": reason}`` and nothing is stored. The stream is the
record: the verdict is published first (``Nats-Msg-Id`` = its id, so a retry is not doubled), then
written through ``History`` so the page that posted it shows it at once; when that write fails the
history service's ``history-feedback`` consumer stores it from the stream anyway.

The console app registers these routes with ``add_routes(app, FeedbackDeps(...))``; its middleware
decides who may post (authentication, CSRF) before the handler runs, and ``FeedbackDeps.allowed``
is checked once more here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web
from loguru import logger
from nats.aio.client import Client

import schemas
from services.console._verdict import FeedbackRefused, parse_feedback

if TYPE_CHECKING:
    from services.history import History

FEEDBACK_PATH = "/api/feedback"
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class FeedbackDeps:
    """What the feedback routes need from the console app that registers them."""

    nc: Client
    # The history when the console has one open (None while the database is down or not configured).
    history: Callable[[], History | None]
    # Who is posting, as the console's authentication names them; never a secret.
    author: Callable[[web.Request], str]
    # Whether that person may give feedback (read-only users may not).
    allowed: Callable[[web.Request], bool] = lambda _request: True
    # Slack's signing secret: the Slack interactivity endpoint is off without it.
    slack_signing_secret: str = ""
    publish_timeout: float = 5.0


async def _analysed_category(history: History, feedback: schemas.Feedback) -> str:
    """The category the analysis gave; FeedbackRefused (404) when history knows no such target."""
    if feedback.target == "alert":
        alert = await history.alert(feedback.target_id)
        if alert is None:
            raise FeedbackRefused(f"no alert {feedback.target_id} in history", status=404)
        return str(alert.analysis.category)
    event = await history.incident(feedback.target_id)
    if event is None:
        raise FeedbackRefused(f"no incident {feedback.target_id} in history", status=404)
    analysis = event.incident.analysis
    return str(analysis.category) if analysis is not None else ""


async def record(deps: FeedbackDeps, feedback: schemas.Feedback) -> dict[str, Any]:
    """Publish the verdict, then write it to history; what the poster is told."""
    history = deps.history()
    stored = False
    if history is not None:
        try:
            category = await _analysed_category(history, feedback)
        except FeedbackRefused:
            raise
        # History down: the stream still takes the verdict; the consumer stores it later.
        except Exception as exc:
            logger.warning("feedback {}: history unavailable ({}), publishing only", feedback.id, exc)
            history = None
        else:
            feedback = msgspec.structs.replace(feedback, category=category)
    try:
        ack = await deps.nc.jetstream().publish(
            schemas.FEEDBACK,
            schemas.encode(feedback),
            timeout=deps.publish_timeout,
            headers={schemas.MSG_ID_HEADER: feedback.id},
        )
    except Exception as exc:
        logger.error("feedback {} not published: {}", feedback.id, exc)
        raise FeedbackRefused("the verdict could not be stored now: try again", status=503) from exc
    if history is not None:
        try:
            await history.write(feedback=[feedback])
            stored = True
        except Exception as exc:
            logger.warning("feedback {} published, history write failed (stored later): {}", feedback.id, exc)
    logger.info(
        "feedback {} on {} {}: {} via {}",
        feedback.id,
        feedback.target,
        feedback.target_id,
        feedback.verdict,
        feedback.channel,
    )
    return {"id": feedback.id, "published": True, "duplicate": bool(ack.duplicate), "stored": stored}


async def _fields(request: web.Request) -> tuple[Mapping[str, Any], bool]:
    """The body's fields and whether they came as JSON (strict) or from a form."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise FeedbackRefused(f"body larger than {MAX_BODY_BYTES} bytes", status=413)
    content_type = request.content_type.lower()
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        return {k: v for k, v in form.items() if isinstance(v, str)}, False
    if content_type not in ("application/json", "application/octet-stream") and not content_type.endswith(
        "+json"
    ):
        raise FeedbackRefused(f"unsupported Content-Type {content_type[:60]!r}: send JSON or a form", 415)
    body = await request.read()
    if len(body) > MAX_BODY_BYTES:
        raise FeedbackRefused(f"body larger than {MAX_BODY_BYTES} bytes", status=413)
    try:
        fields = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise FeedbackRefused(f"body is not JSON: {exc}") from exc
    if not isinstance(fields, dict):
        raise FeedbackRefused("body must be a JSON object")
    return fields, True


def _local_path(target: object) -> bool:
    """A path on this site, never another host (``//evil.example``, ``/\\evil.example``)."""
    return isinstance(target, str) and target.startswith("/") and not target.startswith(("//", "/\\"))


def _refused(exc: FeedbackRefused) -> web.Response:
    return web.json_response({"error": exc.reason}, status=exc.status)


def feedback_endpoint(deps: FeedbackDeps) -> Callable[[web.Request], Any]:
    async def post_feedback(request: web.Request) -> web.Response:
        if not deps.allowed(request):
            return web.json_response({"error": "you may read but not give feedback"}, status=403)
        try:
            fields, strict = await _fields(request)
            author = deps.author(request)
            feedback = parse_feedback(
                fields, author=author, channel="console" if not strict else "api", strict=strict
            )
            answer = await record(deps, feedback)
        except FeedbackRefused as exc:
            logger.info("feedback refused ({}): {}", exc.status, exc.reason[:200])
            return _refused(exc)
        back = fields.get("next", "") if not strict else ""
        # A form posted without JavaScript: back to the page it came from, which shows the verdict.
        if _local_path(back) and "text/html" in request.headers.get("Accept", ""):
            raise web.HTTPSeeOther(back)
        return web.json_response(answer, status=200)

    return post_feedback


def add_routes(app: web.Application, deps: FeedbackDeps) -> None:
    """``POST /api/feedback``, ``GET /api/{alerts,incidents}/{id}/similar`` (memory) and, when Slack's
    signing secret is set, Slack's interactivity endpoint."""
    from services.console import _similar, _slack_actions

    app.router.add_post(FEEDBACK_PATH, feedback_endpoint(deps))
    _similar.add_routes(app, deps)
    _slack_actions.add_routes(app, deps)
