"""``aiops demo``: the whole pipeline on embedded defaults, fed with realistic sample alerts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import orjson

import schemas
from services.cli._common import out, render
from services.cli._supervisor import Supervisor


def sample_webhooks(now: datetime | None = None) -> list[dict[str, Any]]:
    """The bundled samples as a fresh episode: each run gets its own alert ids."""
    now = now or datetime.now(UTC)
    webhooks: list[dict[str, Any]] = orjson.loads(
        resources.files("services.cli").joinpath("samples/webhooks.json").read_bytes()
    )
    for index, webhook in enumerate(webhooks):
        for alert in webhook["alerts"]:
            alert["startsAt"] = (now - timedelta(minutes=5 + index)).isoformat().replace("+00:00", "Z")
            alert["endsAt"] = schemas.GO_ZERO_TIME
    return webhooks


async def _post_all(url: str, webhooks: list[dict[str, Any]]) -> set[str]:
    token = os.environ.get("INGEST_AUTH_TOKEN", "")
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    ids: set[str] = set()
    async with aiohttp.ClientSession() as http:
        for webhook in webhooks:
            async with http.post(
                f"{url}/webhook/alertmanager", data=orjson.dumps(webhook), headers=headers
            ) as r:
                body = await r.json()
                if r.status != 200:
                    raise SystemExit(f"aiops demo: ingest answered {r.status}: {body}")
                ids.update(body["ids"])
    return ids


async def _notifier_caught_up(js: Any) -> bool:
    info = await js.consumer_info(schemas.STREAM, "notifier")
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


async def demo(data_dir: Path, once: bool, give_up_after: float) -> int:
    log_dir = data_dir / "logs"
    async with Supervisor(data_dir, log_dir=log_dir) as supervisor:
        stop = asyncio.Event()

        def stopping() -> None:
            # Ctrl-C in a terminal reaches nats-server and the services too: `stopping` set first
            # makes their exits the stop, not a failure to report.
            supervisor.stopping.set()
            stop.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping)
        url = await supervisor.wait_ready()
        import nats

        nc = await nats.connect(supervisor.env["NATS_URL"], error_cb=_quiet)
        js = nc.jetstream()
        analyzed = await nc.subscribe(schemas.ANALYZED)
        webhooks = sample_webhooks()
        out(
            f"pipeline up (logs in {log_dir}), console {supervisor.console_url};"
            f" sending {len(webhooks)} sample alerts to {url}\n"
        )
        expected = await _post_all(url, webhooks)
        pending = set(expected)
        deadline = loop.time() + give_up_after
        try:
            while not stop.is_set():
                if once and not pending and await _notifier_caught_up(js):
                    out(f"demo: all {len(expected)} sample alerts analysed and notified")
                    return 0
                if once and loop.time() > deadline:
                    out(f"demo: gave up after {give_up_after:.0f}s; {len(pending)} not analysed ({log_dir})")
                    return 1
                with contextlib.suppress(TimeoutError):
                    msg = await analyzed.next_msg(timeout=0.5)
                    try:
                        message = schemas.decode(msg.data, schemas.AnalyzedAlert)
                    except (schemas.DecodeError, schemas.ValidationError) as exc:
                        # Anyone may publish on the subject; the demo shows it and goes on.
                        out(f"demo: a message on {schemas.ANALYZED} that is no analysis ({str(exc)[:120]})\n")
                        continue
                    out(render(message) + "\n")
                    # Said when the last sample's analysis arrives; later ones (an alert of one's own,
                    # a redelivery) are just printed.
                    if message.id in pending:
                        pending.discard(message.id)
                        if not pending and not once:
                            out(_next_steps(supervisor.console_url))
                await supervisor._check_alive()
            out("stopping…")
        finally:
            await nc.close()
    return 0


def _next_steps(console_url: str) -> str:
    """Said once the samples are analysed: what a first-time user can look at while it runs."""
    # The command as this shell finds it: `aiops` with the venv active, else its path from here.
    aiops = "aiops" if shutil.which("aiops") else os.path.relpath(Path(sys.executable).parent / "aiops")
    return (
        "all samples analysed; the pipeline keeps running (Ctrl-C stops it). Next, in another terminal:\n"
        f"  {console_url:<32}  the console: alerts and incidents\n"
        f"  {aiops + ' status':<32}  every stage, backlog, dead letters, deliveries\n"
        f"  {aiops + ' tail --since 1h':<32}  these analyses again, then new ones\n"
        f"  {aiops + ' send --list':<32}  the samples; --sample NAME sends one again\n"
    )


async def _quiet(_: Exception) -> None:
    """This reader's own connection errors: nats-server's exit is reported by the supervisor."""
