"""``aiops replay``: a past window fed back through the later stages, marked, and only notified on request."""

from __future__ import annotations

from datetime import UTC, datetime

import nats
import pytest
from nats.aio.client import Client

import schemas
from services.runtime import NatsSettings, ensure_stream
from tests.fakes.llm import FakeLlm
from tests.fakes.slack import FakeSlack
from tests.integration.cli.conftest import aiops, pipeline, post_webhook
from tests.support.nats_server import NatsServer
from tests.support.stream import caught_up, read_subject, subject_count, wait_for_count


def _raw(name: str, severity: str) -> schemas.RawAlert:
    alert = schemas.Alert(
        status="firing", labels={"alertname": name, "severity": severity}, starts_at=datetime.now(UTC)
    )
    return schemas.RawAlert(id=schemas.alert_id(alert), alert=alert, received_at=datetime.now(UTC))


async def _store(nc: Client, *messages: schemas.RawAlert) -> None:
    js = nc.jetstream()
    for message in messages:
        await js.publish(schemas.RAW, schemas.encode(message), headers={schemas.MSG_ID_HEADER: message.id})


def _replayed_names(stdout: str) -> set[str]:
    return {line.split()[-1] for line in stdout.splitlines() if line.startswith("would replay ")}


async def test_window_and_match_select_what_is_replayed(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        await ensure_stream(nc.jetstream(), NatsSettings(nats_url=nats_server.url))
        await _store(nc, _raw("EarlyCritical", "critical"), _raw("EarlyWarning", "warning"))
        between = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        await _store(nc, _raw("LateCritical", "critical"))

        since_between = await aiops(nats_server.url, "replay", "--since", between, "--dry-run")
        until_between = await aiops(
            nats_server.url, "replay", "--since", "1h", "--until", between, "--dry-run"
        )
        critical = await aiops(
            nats_server.url, "replay", "--since", "1h", "--match", "severity=critical", "--dry-run"
        )
        bad_match = await aiops(nats_server.url, "replay", "--since", "1h", "--match", "severity")
        stored = await subject_count(nc.jetstream(), schemas.RAW)
    finally:
        await nc.close()

    assert since_between.code == 0, since_between.stderr
    assert _replayed_names(since_between.stdout) == {"LateCritical"}
    assert _replayed_names(until_between.stdout) == {"EarlyCritical", "EarlyWarning"}
    assert _replayed_names(critical.stdout) == {"EarlyCritical", "LateCritical"}
    assert "1 skipped" in critical.stdout
    # A dry run lists; it publishes nothing.
    assert stored == 3
    assert bad_match.code != 0
    assert "--match takes LABEL=VALUE" in bad_match.stderr


@pytest.mark.timeout(90)
async def test_reanalyze_replays_make_new_marked_analyses_and_notify_only_on_request(
    nats_server: NatsServer, slack: FakeSlack, fake_llm: FakeLlm
) -> None:
    env = {
        "slack_webhook_url": slack.url,
        "llm_api_key": "sk-test-not-a-secret",
        "llm_base_url": fake_llm.url,
    }
    async with pipeline(nats_server.url, **env) as ingest:
        await post_webhook(ingest, "firing_two_alerts.json")
        await slack.wait_for(2, within=30)
        assert fake_llm.calls == 2
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        try:
            quiet = await aiops(
                nats_server.url, "replay", "--since", "1h", "--subject", "alerts.enriched", "--reanalyze"
            )
            await wait_for_count(js, schemas.ANALYZED, 4, timeout=20)
            await caught_up(js, "notifier")
            calls_after_reanalyze, posts_after_quiet_replay = fake_llm.calls, len(slack.received)

            loud = await aiops(
                nats_server.url, "replay", "--since", "1h", "--subject", "alerts.enriched", "--notify"
            )
            await slack.wait_for(4, within=30)
            analyzed = await read_subject(js, schemas.ANALYZED, schemas.AnalyzedAlert, count=6)
        finally:
            await nc.close()

    assert quiet.code == 0, quiet.stderr
    assert "2 alert(s) replayed as" in quiet.stdout
    # The model was asked again for each replayed alert, and nobody was paged about it.
    degraded = [m.analysis.degraded_reason for m in analyzed if m.analysis.degraded]
    assert calls_after_reanalyze == 4, degraded
    assert posts_after_quiet_replay == 2
    # The second replay skips the first one's copies, reuses the fresh analyses and notifies.
    assert "2 alert(s) replayed as" in loud.stdout
    assert "2 skipped" in loud.stdout
    assert fake_llm.calls == 4
    originals, reanalysed, notified = analyzed[:2], analyzed[2:4], analyzed[4:]
    assert all(m.replay is None for m in originals)
    assert {m.id for m in reanalysed} == {m.id for m in originals} == {m.id for m in notified}
    assert all(m.replay is not None and m.replay.reanalyze and not m.replay.notify for m in reanalysed)
    assert all(m.analysis.analyzer == "llm" and not m.analysis.reused for m in reanalysed)
    assert all(m.replay is not None and m.replay.notify and m.analysis.reused for m in notified)
    # Two runs, two replay ids: the de-duplication window kept both.
    assert len({m.replay.id for m in reanalysed + notified if m.replay}) == 2
    replay_posts = " ".join(post.body.decode() for post in slack.received[2:])
    assert "HighCPUUsage" in replay_posts
    assert "DiskSpaceLow" in replay_posts


async def test_replaying_raw_alerts_enriches_them_again(nats_server: NatsServer) -> None:
    async with pipeline(nats_server.url) as ingest:
        await post_webhook(ingest, "firing_two_alerts.json")
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        try:
            await wait_for_count(js, schemas.ANALYZED, 2, timeout=20)
            run = await aiops(
                nats_server.url, "replay", "--since", "10m", "--match", "alertname=DiskSpaceLow"
            )
            enriched = await read_subject(js, schemas.ENRICHED, schemas.EnrichedAlert, count=3)
            analyzed = await read_subject(js, schemas.ANALYZED, schemas.AnalyzedAlert, count=3)
        finally:
            await nc.close()

    assert run.code == 0, run.stderr
    assert "1 alert(s) replayed" in run.stdout
    replayed = analyzed[2]
    assert replayed.replay is not None
    assert replayed.alert.labels["alertname"] == "DiskSpaceLow"
    assert replayed.analysis.category == "disk_capacity"
    # Re-enriched now, not copied: a new enrichment time than the original's.
    assert enriched[2].replay is not None
    assert enriched[2].enriched_at > enriched[1].enriched_at
