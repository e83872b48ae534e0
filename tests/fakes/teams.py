"""Microsoft Teams webhooks, locally: a classic connector (200 ``1``) or a Workflow (202).

Classic connectors refuse a malformed card with 400 ``Bad payload received by
generic incoming webhook.``, and report Teams' own throttling as 200 with a
``Webhook message delivery failed ... HTTP error 429`` text.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.webhook import FakeHttpServer, Received, Reply

ACCEPTED = Reply(200, "1")
WORKFLOW_ACCEPTED = Reply(202, "")
BAD_PAYLOAD = Reply(400, "Bad payload received by generic incoming webhook.")
THROTTLED_IN_200 = Reply(
    200,
    "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 "
    "with ContextId tcid=0,server=msgapi-canary-eus2-0,cv=deadbeef.0.",
)


def card_errors(message: Any) -> list[str]:
    try:
        attachment = message["attachments"][0]
        card = attachment["content"]
    except (KeyError, IndexError, TypeError):
        return ["no attachment with content"]
    errors = []
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        errors.append("attachment is not an Adaptive Card")
    if card.get("type") != "AdaptiveCard" or not card.get("body"):
        errors.append("card has no body")
    if len(json.dumps(message)) > 28_000:
        errors.append("message above 28 KB")
    return errors


class FakeTeams(FakeHttpServer):
    def default_reply(self, request: Received) -> Reply:
        try:
            message = json.loads(request.body)
        except ValueError:
            return BAD_PAYLOAD
        return BAD_PAYLOAD if card_errors(message) else ACCEPTED
