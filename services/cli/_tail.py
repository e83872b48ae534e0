"""``aiops tail``: follow alerts.analyzed and print each analysis readably."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from nats.js.api import ConsumerConfig, DeliverPolicy

import schemas
from services.cli._common import nats_connection, out, render
from services.cli._window import require_stream


async def tail(since: timedelta | None, json_output: bool, limit: int | None) -> int:
    async with nats_connection("tail") as nc:
        js = nc.jetstream()
        await require_stream(js, schemas.ANALYZED)
        if since is None:
            sub = await js.subscribe(
                schemas.ANALYZED, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
            )
        else:
            start = datetime.now(UTC) - since
            sub = await js.subscribe(
                schemas.ANALYZED,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.BY_START_TIME,
                config=ConsumerConfig(opt_start_time=start),
            )
        shown = 0
        while limit is None or shown < limit:
            try:
                msg = await sub.next_msg(timeout=3600)
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                break
            if json_output:
                out(msg.data.decode())
            else:
                try:
                    out(render(schemas.decode(msg.data, schemas.AnalyzedAlert)) + "\n")
                except (schemas.DecodeError, schemas.ValidationError) as exc:
                    out(f"(unreadable message on {schemas.ANALYZED}: {exc})")
            shown += 1
    return 0
