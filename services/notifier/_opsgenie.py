"""Opsgenie Alert API v2: create an alert per firing episode, close it when the episode resolves.

The ``alias`` is the same for a firing and its resolution (a hash of the episode),
so Opsgenie deduplicates re-sends into one alert and the close finds it.
Severity becomes the priority: critical P1, error/high P2, warning P3, low P4, info P5;
any other severity P3 (Opsgenie's own default).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import aiohttp
import orjson
from loguru import logger

import schemas
from services.notifier._clip import clip
from services.notifier._http import Request, judge_http, post
from services.notifier._kind import (
    JSON_HEADERS,
    Destination,
    DestinationKind,
    DestinationSpec,
    needs,
)
from services.notifier._view import AlertView
from services.runtime import ConfigError, SettingsPart, doc

US_URL = "https://api.opsgenie.com"
EU_URL = "https://api.eu.opsgenie.com"
PRIORITY = {"critical": "P1", "error": "P2", "high": "P2", "warning": "P3", "low": "P4", "info": "P5"}
MESSAGE_LIMIT, DESCRIPTION_LIMIT, TAG_LIMIT, MAX_TAGS, DETAIL_LIMIT = 130, 15000, 50, 20, 500


class OpsgenieSpec(DestinationSpec, tag="opsgenie", kw_only=True, frozen=True):
    api_key: str = ""
    tags: list[str] = []


def alias(v: AlertView) -> str:
    return "aiops-" + hashlib.sha256(schemas.episode_key(v.alert).encode()).hexdigest()[:40]


def _description(v: AlertView) -> str:
    a = v.analysis
    lines = [a.summary, "", f"Root cause ({a.category}, {v.confidence} confidence): {a.root_cause}"]
    if a.evidence:
        lines += ["", "Evidence:", *(f"- {item}" for item in a.evidence)]
    if a.remediation:
        lines += ["", "Remediation:", *(f"{i}. {step}" for i, step in enumerate(a.remediation, start=1))]
    lines += ["", *(f"{link.text}: {link.url}" for link in v.links), f"analyzer: {v.analyzer_text}"]
    return clip("\n".join(lines), DESCRIPTION_LIMIT)


def opsgenie_alert(v: AlertView, tags: list[str]) -> dict[str, Any]:
    a = v.analysis
    details = {
        **v.alert.labels,
        "category": a.category,
        "confidence": v.confidence,
        "root_cause": a.root_cause,
        "analyzer": v.analyzer_text,
        "alert_id": v.message.id,
    }
    all_tags = dict.fromkeys([*tags, a.category, f"severity:{v.severity}"])
    return {
        "message": clip(f"[{v.severity.upper()}] {v.name}: {a.summary}", MESSAGE_LIMIT),
        "alias": alias(v),
        "description": _description(v),
        "priority": PRIORITY.get(v.severity, "P3"),
        "tags": [clip(tag, TAG_LIMIT) for tag in all_tags][:MAX_TAGS],
        "details": {key: clip(value, DETAIL_LIMIT) for key, value in details.items()},
        "entity": v.where,
        "source": "aiops-pipeline",
    }


def opsgenie_close(v: AlertView) -> dict[str, Any]:
    return {"source": "aiops-pipeline", "note": f"Resolved after {v.fired_for_text}."}


def _headers(destination: Destination) -> dict[str, str]:
    return {**JSON_HEADERS, "Authorization": f"GenieKey {destination.secret}"}


def _request(destination: Destination, v: AlertView, now: int) -> Request:
    base = destination.url.rstrip("/")
    headers = _headers(destination)
    if v.resolved:
        url = f"{base}/v2/alerts/{quote(alias(v), safe='')}/close?identifierType=alias"
        return Request(url, orjson.dumps(opsgenie_close(v)), headers)
    tags = destination.options.tags if isinstance(destination.options, OpsgenieSpec) else []
    return Request(f"{base}/v2/alerts", orjson.dumps(opsgenie_alert(v, tags)), headers)


def _check(destination: Destination, names: Mapping[str, str]) -> None:
    if urlsplit(destination.url).path not in ("", "/"):
        raise needs(destination, "url", names, f"the API's base url ({US_URL} or {EU_URL}), no path")


async def _probe(session: aiohttp.ClientSession, destination: Destination, limit_seconds: float) -> None:
    """A key Opsgenie does not know stops the service; a key without read access (403) may still create."""
    count = Request(
        f"{destination.url.rstrip('/')}/v2/alerts/count", b"", _headers(destination), method="GET"
    )
    answer = await post(session, count, limit_seconds)
    if answer.status == 401:
        raise ConfigError(
            f"destination {destination.name!r}: Opsgenie refused the key (HTTP 401); "
            "check api_key (OPSGENIE_API_KEY) and url (OPSGENIE_URL: EU accounts use the EU API)"
        )
    if judge_http(answer) != "delivered":
        logger.warning(
            "{}: Opsgenie did not confirm the key at start-up ({})", destination.name, answer.describe()
        )


class OpsgenieSettings(SettingsPart, kw_only=True, frozen=True):
    opsgenie_api_key: Annotated[str, doc("Opsgenie API integration key (Alert API v2)", secret=True)] = ""
    opsgenie_url: Annotated[str, doc(f"Opsgenie API base URL; in the EU {EU_URL}")] = US_URL


def _from_settings(s: Any) -> list[Destination]:
    if not s.opsgenie_api_key:
        return []
    return [
        Destination(
            name="opsgenie",
            type="opsgenie",
            url=s.opsgenie_url,
            secret=s.opsgenie_api_key,
            send_resolved=s.send_resolved,
        )
    ]


KIND = DestinationKind(
    name="opsgenie",
    spec=OpsgenieSpec,
    # Opsgenie's API integrations take a few hundred requests a minute; 2/s stays well inside.
    default_rate=2.0,
    default_url=US_URL,
    secret_option="api_key",
    settings=OpsgenieSettings,
    from_settings=_from_settings,
    env_names={"url": "OPSGENIE_URL", "api_key": "OPSGENIE_API_KEY"},
    check=_check,
    render=_request,
    probe=_probe,
)
