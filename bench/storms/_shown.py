"""The notifications a person sees: what a destination that cannot edit messages posts.

Events are what the analyst publishes (``opened``, ``updated``, ``resolved``). A Slack message edited
in place shows every event without a new notification; an incoming webhook cannot edit, so the
notifier posts ``opened``, then an ``updated`` only for a change a person needs (a new root about
another subject, severity up, reopened: ``services.notifier._incident_view.needs_post``) at most once per
NOTIFY_INCIDENT_UPDATE_SECONDS (a held one carries every change until it is posted), and
``resolved``. This counts those posts, opening and updates, per storm.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from services.incidents._simulate import Run
from services.notifier._incident_view import needs_post

UPDATE_SECONDS = float(os.environ.get("NOTIFY_INCIDENT_UPDATE_SECONDS") or 300)


def shown(run: Run, update_seconds: float = UPDATE_SECONDS) -> int:
    """Opening and update posts a person receives (resolutions are counted apart)."""
    gap = timedelta(seconds=update_seconds)
    posts = 0
    last_post: dict[str, datetime] = {}
    held_until: dict[str, datetime] = {}  # an update waiting for its slot, posted then
    for note in run.notifications:
        if note.kind == "opened":
            posts += 1
            last_post[note.incident] = note.at
        elif note.kind == "updated" and needs_post(note.changes, note.root_refined):
            held = held_until.get(note.incident)
            if held is not None and note.at <= held:
                continue  # carried by the update already held
            post_at = max(note.at, last_post.get(note.incident, note.at) + gap)
            posts += 1
            last_post[note.incident] = held_until[note.incident] = post_at
    return posts
