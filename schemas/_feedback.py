"""Feedback: a person's verdict on an analysis, kept and replayable.

Feedback   alerts.feedback   confirm an analysis, or correct its category and give the actual cause and fix
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas._analysis import Category
from schemas._messages import SCHEMA_VERSION, UtcTime

Verdict = Literal["confirmed", "corrected"]
FeedbackTarget = Literal["alert", "incident"]
# Where the verdict was given.
FeedbackChannel = Literal["console", "api", "slack"]

MAX_FEEDBACK_TEXT = 4000


class Feedback(msgspec.Struct, kw_only=True, frozen=True):
    """``alerts.feedback``: one verdict; a later verdict on the same target replaces an earlier one."""

    schema: int = SCHEMA_VERSION
    id: str
    target: FeedbackTarget
    # The alert's id (``AnalyzedAlert.id``) or the incident's id.
    target_id: str
    verdict: Verdict
    # The analysis' category, and the category the person says is right (equal when confirmed).
    category: str = ""
    corrected_category: Category | None = None
    actual_cause: Annotated[str, msgspec.Meta(max_length=MAX_FEEDBACK_TEXT)] = ""
    actual_fix: Annotated[str, msgspec.Meta(max_length=MAX_FEEDBACK_TEXT)] = ""
    # Who gave it: a user name from the console's authentication or Slack's user id; never a secret.
    author: str = ""
    channel: FeedbackChannel = "api"
    given_at: UtcTime
