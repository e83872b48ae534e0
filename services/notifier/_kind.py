"""What a kind of destination declares, so that a new destination is one module.

A kind's module ends in ``KIND = DestinationKind(...)`` and is registered in
``_kinds.py``. It declares:

- ``settings``: its environment variables, a ``SettingsPart`` declared in its module and
  composed into NotifierSettings, and ``from_settings``, the destinations they describe;
  ``spec``: its routes-file keys;
- ``check``: its validation, a ConfigError naming the setting, never the URL or secret;
- ``default_rate``: posts per second when the routes file does not say (0: unpaced);
- ``render`` one request per alert, and ``judge`` what an answer means (retry,
  dead-letter, done). The notifier does the rest: the delivery ledger, the flap
  guard, pacing, retries and dead letters.

A kind whose delivery is a conversation (Jira: create, comment, transition) gives
``converse`` instead of ``render`` and keeps its own records in the ledger; a kind
that can tell at start-up that it cannot work (a refused token, an unknown project)
gives ``probe``.

Incident events (``schemas.IncidentEvent``) reach a kind as one alert standing for the
incident (``_incident_view.as_alert``), through ``render`` or ``converse``, unless it gives
``incident``: its own delivery of an event (Slack edits one message, a webhook posts the event).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import aiohttp
import msgspec

import schemas
from services.notifier._http import Answer, Request, Verdict, judge_http, post
from services.notifier._ledger import Ledger
from services.notifier._view import AlertView
from services.runtime import ConfigError, SettingsPart


class DestinationSpec(
    msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, tag_field="type"
):
    """A destination in the routes file: these keys for every kind, plus the kind's own (a subclass)."""

    url: str = ""
    secret: str = ""
    send_resolved: bool = True
    # Posts per second; 0 means unpaced, below 0 the kind's default.
    rate_per_second: float = -1.0

    def __repr__(self) -> str:
        # Its values are URLs and tokens: never print them.
        return f"{type(self).__name__}(...)"

    __str__ = __repr__


class Destination(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    type: str
    url: str = ""
    # HMAC key of a webhook; the routing key of PagerDuty; an API key or token.
    secret: str = ""
    send_resolved: bool = True
    rate_per_second: float = -1.0
    # The kind's own routes-file keys (its ``spec``), ${VARS} expanded.
    options: DestinationSpec | None = None

    def __repr__(self) -> str:
        # URLs of Slack and Teams webhooks are credentials: never print them.
        return f"Destination(name={self.name!r}, type={self.type!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class Result:
    """How one delivery went: delivered, retry, rejected, or a quiet outcome (duplicate, skipped)."""

    outcome: str
    answer: Answer | None = None
    # Why, and after how long, to try again when not the answer's (an incident update held back).
    reason: str = ""
    delay: float | None = None


@dataclass(frozen=True)
class Exchange:
    """What a conversation may use: requests with the notifier's timeout, and the ledger."""

    session: aiohttp.ClientSession
    ledger: Ledger
    timeout: float
    message: schemas.AnalyzedAlert

    async def call(self, request: Request) -> Answer:
        return await post(self.session, request, self.timeout)


JSON_HEADERS = {"Content-Type": "application/json", "User-Agent": "aiops-pipeline-notifier"}


def _nothing(settings: Any) -> list[Destination]:
    return []


def _fine(destination: Destination, names: Mapping[str, str]) -> None:
    return None


@dataclass(frozen=True)
class IncidentExchange:
    """What a kind's delivery of incident events may use; the ledger keeps what it told whom."""

    session: aiohttp.ClientSession
    ledger: Ledger
    timeout: float
    clock: Callable[[], datetime]
    # Where a message cannot be edited: at most one update per incident this often.
    update_seconds: float

    async def call(self, request: Request) -> Answer:
        return await post(self.session, request, self.timeout)


Render = Callable[[Destination, AlertView, int], Request]
Converse = Callable[[Exchange, Destination, AlertView], Awaitable[Result]]
Probe = Callable[[aiohttp.ClientSession, Destination, float], Awaitable[None]]
DeliverIncident = Callable[[IncidentExchange, Destination, schemas.IncidentEvent], Awaitable[Result]]


@dataclass(frozen=True)
class DestinationKind:
    name: str
    spec: type[DestinationSpec]
    default_rate: float = 0.0
    # Whether it posts to a URL (``url``), the one it posts to when none is given.
    needs_url: bool = True
    default_url: str = ""
    # The routes-file key of its secret when it needs one ("routing_key"); ``secret`` works too.
    secret_option: str = ""
    # Delivered at once, without the ledger, the flap guard or pacing (the log).
    immediate: bool = False
    # Its environment variables (fields ``foo_bar`` read from ``FOO_BAR``): none by default.
    settings: type[SettingsPart] = SettingsPart
    from_settings: Callable[[Any], list[Destination]] = _nothing
    # Which environment variable holds each option, for errors about env-made destinations.
    env_names: Mapping[str, str] = field(default_factory=dict)
    check: Callable[[Destination, Mapping[str, str]], None] = _fine
    render: Render | None = None
    judge: Callable[[Answer], Verdict] = judge_http
    converse: Converse | None = None
    probe: Probe | None = None
    incident: DeliverIncident | None = None


def needs(destination: Destination, option: str, names: Mapping[str, str], what: str = "") -> ConfigError:
    """The error for a missing or bad option, naming where it is set (never its value)."""
    setting = names.get(option, option)
    return ConfigError(f"destination {destination.name!r} needs {what or option} ({setting})")


def tagged(name: str) -> type[DestinationSpec]:
    """The routes-file spec of a kind with no keys of its own."""
    spec = msgspec.defstruct(
        f"{name.title()}Spec", [], bases=(DestinationSpec,), tag=name, kw_only=True, frozen=True
    )
    return cast(type[DestinationSpec], spec)
