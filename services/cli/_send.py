"""``aiops send``: one alert through the running pipeline, posted as Alertmanager posts it, and its analysis.

What the original design's test-alert.sh did: check that ingest is up, post an alert, show the answer.
The alert is a bundled sample (``--sample NAME``) or built from ``--label``/``--annotation``. Its
analysis is recognised on ``alerts.analyzed`` by the alert's id (``schemas.alert_id``, the id ingest
gives it), subscribed to before posting so that a fast pipeline cannot answer unseen.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

import schemas
from services.cli._common import nats_connection, note, out, render
from services.cli._demo import sample_webhooks
from services.cli._probes import service_urls
from services.cli._whereabouts import id_of, whereabouts

HEALTH_CHECK_SECONDS = 3.0
# Ingest answers once JetStream stored the alert (INGEST_PUBLISH_TIMEOUT_SECONDS, 5 s, at most).
POST_SECONDS = 15.0


def samples() -> dict[str, dict[str, Any]]:
    """The bundled sample webhooks by alert name."""
    return {webhook["alerts"][0]["labels"]["alertname"]: webhook for webhook in sample_webhooks()}


def sample_webhook(name: str) -> dict[str, Any]:
    by_lower = {key.lower(): webhook for key, webhook in samples().items()}
    if name.lower() not in by_lower:
        raise SystemExit(f"aiops send: no sample named {name!r}; choose one of: {', '.join(samples())}")
    return by_lower[name.lower()]


def pairs(values: list[str], option: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in values:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"aiops send: {option} takes NAME=VALUE, got {pair!r}")
        found[name.strip()] = value
    return found


def built_webhook(labels: dict[str, str], annotations: dict[str, str], now: datetime) -> dict[str, Any]:
    """A one-alert notification in Alertmanager's webhook v4 shape, as its webhook receiver posts it."""
    if not labels.get("alertname"):
        raise SystemExit("aiops send: --label alertname=NAME is required (every alert has a name)")
    name = labels["alertname"]
    return {
        "receiver": "aiops",
        "status": "firing",
        "version": "4",
        "externalURL": "",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "groupLabels": {"alertname": name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                # A fresh start time: a new firing episode, so a new id and a new analysis.
                "startsAt": now.isoformat().replace("+00:00", "Z"),
                "endsAt": schemas.GO_ZERO_TIME,
                "generatorURL": "",
                "fingerprint": schemas.label_fingerprint(labels),
            }
        ],
    }


def _auth_headers() -> dict[str, str]:
    token = os.environ.get("INGEST_AUTH_TOKEN", "")
    return {"Authorization": f"Bearer {token}"} if token else {}


async def _check_ingest(http: aiohttp.ClientSession, url: str) -> None:
    try:
        async with http.get(f"{url}/readyz") as response:
            status, body = response.status, await response.read()
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise SystemExit(
            f"aiops send: no pipeline running: nothing answers at {url} "
            "(start it with `just up`; set INGEST_PORT or --url if it runs elsewhere)"
        ) from exc
    if status != 200:
        try:
            reason = orjson.loads(body).get("reason", status)
        except (orjson.JSONDecodeError, AttributeError):
            reason = f"/readyz answered {status}"
        raise SystemExit(f"aiops send: ingest at {url} is not ready: {reason}")


async def _post(http: aiohttp.ClientSession, url: str, webhook: dict[str, Any]) -> list[str]:
    headers = {"Content-Type": "application/json", **_auth_headers()}
    try:
        async with http.post(
            f"{url}/webhook/alertmanager",
            data=orjson.dumps(webhook),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=POST_SECONDS),
        ) as r:
            body = await r.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SystemExit(f"aiops send: ingest did not answer the post: {type(exc).__name__}") from exc
    if r.status == 401:
        raise SystemExit(
            "aiops send: ingest refused the credentials (401): set INGEST_AUTH_TOKEN to its token"
        )
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = {}
    if r.status != 200 or not isinstance(answer, dict) or "ids" not in answer:
        reason = answer.get("error") if isinstance(answer, dict) else None
        raise SystemExit(
            f"aiops send: ingest answered {r.status}: {reason or body[:200].decode(errors='replace')}"
        )
    return [str(alert_id) for alert_id in answer["ids"]]


async def send(webhook: dict[str, Any], url: str | None, wait_seconds: float, json_output: bool) -> int:
    url = (url or service_urls()["ingest"]).rstrip("/")
    names = ", ".join(alert["labels"]["alertname"] for alert in webhook["alerts"])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HEALTH_CHECK_SECONDS)) as http:
        await _check_ingest(http, url)
        async with nats_connection("send") as nc:
            analyzed = await nc.subscribe(schemas.ANALYZED)
            posted_at = datetime.now(UTC)
            stored = await _post(http, url, webhook)
            waiting = set(stored)
            shown = ", ".join(schemas.short_id(alert_id) for alert_id in stored)
            tell = note if json_output else out
            tell(f"sent {names} ({shown}) to {url}; waiting up to {wait_seconds:g} s for the analysis")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait_seconds
            while waiting:
                try:
                    msg = await analyzed.next_msg(timeout=max(0.01, deadline - loop.time()))
                except TimeoutError:
                    break
                # Every analysis of the pipeline passes here: only the ones sent are decoded.
                if id_of(msg.data) not in waiting:
                    continue
                try:
                    message = schemas.decode(msg.data, schemas.AnalyzedAlert)
                except (schemas.DecodeError, schemas.ValidationError):
                    continue
                if message.replay is not None:
                    continue
                waiting.discard(message.id)
                out(msg.data.decode() if json_output else "\n" + render(message))
            if not waiting:
                return 0
            stages = service_urls(urlsplit(url).hostname or "127.0.0.1")
            missing = sorted(waiting)
            found = await asyncio.gather(
                *(whereabouts(nc.jetstream(), alert_id, posted_at, stages) for alert_id in missing)
            )
            reasons = [
                f"aiops send: no analysis of {schemas.short_id(alert_id)} within {wait_seconds:g} s: {where}"
                for alert_id, where in zip(missing, found, strict=True)
            ]
    raise SystemExit("\n".join(reasons))


async def send_command(args: argparse.Namespace) -> int:
    if args.list:
        for name, webhook in samples().items():
            alert = webhook["alerts"][0]
            severity, summary = alert["labels"].get("severity", ""), alert["annotations"].get("summary", "")
            out(f"{name:<32} {severity:<9} {summary}")
        return 0
    if args.label or args.annotation:
        if args.sample:
            raise SystemExit("aiops send: give --sample or --label/--annotation, not both")
        webhook = built_webhook(
            pairs(args.label, "--label"), pairs(args.annotation, "--annotation"), datetime.now(UTC)
        )
    else:
        webhook = sample_webhook(args.sample) if args.sample else next(iter(samples().values()))
    return await send(webhook, args.url, args.timeout, args.json)
