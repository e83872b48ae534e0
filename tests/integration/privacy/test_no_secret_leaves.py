"""A payments alert whose logs and annotations carry secrets, through all four services on a real nats-server
with a Loki and a Slack that speak the real APIs: no secret on alerts.raw, alerts.enriched, alerts.analyzed,
in a dead letter, or in what Slack received; the placeholders say what was there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import nats
import orjson

import schemas
from tests.fakes import slack as slack_api
from tests.fakes.loki import FakeLoki, LogLine
from tests.fakes.slack import FakeSlack
from tests.support.nats_server import NatsServer
from tests.support.services import running_pipeline
from tests.support.stream import read_subject

PASSWORD = "Maple774-OcAa2"
API_KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
AWS_KEY_ID = "AKIACZU6EOUGFHPAZCHD"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwiaWF0IjoxNzE1Njc4OTAwfQ."
    "Xk2dQm9vR1tB7yHq3pLzW0aCfE8sN5uJ6oTgIhVbKcY"
)
SECRETS = [PASSWORD, API_KEY, AWS_KEY_ID, JWT, JWT.split(".")[2]]
STARTS_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def log_lines() -> list[LogLine]:
    base = STARTS_AT.timestamp()
    stream = {"service_name": "payments", "host": "pay-1"}
    lines = [
        f'level=error msg="db connect failed" dsn=postgres://payments:{PASSWORD}@pg-1.payments.svc:5432/pay',
        f'{{"level":"error","msg":"fraud api refused","api_key":"{API_KEY}","status":401}}',
        f'level=warn msg="s3 put denied" aws_access_key_id={AWS_KEY_ID} bucket=invoices',
        f'level=info msg="request" method=POST path=/charge headers="Authorization: Bearer {JWT}" status=401',
    ]
    return [
        LogLine(stream, base + 10 * i + second, line) for second in range(3) for i, line in enumerate(lines)
    ]


def webhook(alertnames: list[str]) -> bytes:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": name, "service": "payments", "severity": "critical"},
            "annotations": {
                "summary": "Payments cannot reach its database",
                "description": f"last error: connect to postgres://payments:{PASSWORD}@pg-1:5432 failed, "
                f"caller presented Authorization: Bearer {JWT}",
            },
            "startsAt": STARTS_AT.isoformat(),
        }
        for name in alertnames
    ]
    return orjson.dumps({"version": "4", "status": "firing", "receiver": "r", "alerts": alerts})


async def test_no_planted_secret_leaves_the_pipeline(nats_server: NatsServer, slack: FakeSlack) -> None:
    # Slack refuses the first notification: it becomes a dead letter carrying the analyzed alert.
    slack.answer(slack_api.NO_SERVICE)
    async with FakeLoki(log_lines()) as loki:
        env = {"loki_url": loki.url, "slack_webhook_url": slack.url, "retry_backoff_seconds": "0.1"}
        async with running_pipeline(nats_server.url, ingest=env, stages=env) as running:
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{running.url}/webhook/alertmanager",
                    data=webhook(["PaymentsDbErrors", "PaymentsErrorRate"]),
                    headers={"Content-Type": "application/json"},
                ) as response,
            ):
                assert response.status == 200
            posts = await slack.wait_for(2, within=30)
            nc = await nats.connect(nats_server.url)
            js = nc.jetstream()
            raw = await read_subject(js, schemas.RAW, schemas.RawAlert, count=2)
            enriched = await read_subject(js, schemas.ENRICHED, schemas.EnrichedAlert, count=2)
            analyzed = await read_subject(js, schemas.ANALYZED, schemas.AnalyzedAlert, count=2)
            dead = await read_subject(js, schemas.DEAD, schemas.DeadLetter, count=1)
            await nc.close()

    published = {
        "alerts.raw": [schemas.encode(m).decode() for m in raw],
        "alerts.enriched": [schemas.encode(m).decode() for m in enriched],
        "alerts.analyzed": [schemas.encode(m).decode() for m in analyzed],
        "dead letters": [schemas.encode(m).decode() for m in dead],
        "slack": [post.body.decode() for post in posts],
    }
    leaks = [
        (where, secret[:12])
        for where, texts in published.items()
        for text in texts
        for secret in SECRETS
        if secret in text
    ]
    assert leaks == []
    # The evidence still says what was carried, and the non-secret text of the lines is there.
    evidence = "\n".join(published["alerts.enriched"])
    for placeholder in (
        "<secret:password>",
        "<secret:openai-key>",
        "<secret:aws-access-key>",
        "<secret:jwt>",
    ):
        assert placeholder in evidence
    assert "pg-1.payments.svc:5432/pay" in evidence
    assert "bucket=invoices" in evidence
    assert all(m.alert.annotations["summary"] == "Payments cannot reach its database" for m in analyzed)
    assert dead[0].stage == "notifier"
