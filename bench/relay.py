"""The baseline: a bare nats-py relay hop (fetch, republish with a message id, ack), no decoding.

``python -m bench.relay URL STREAM NAME FROM [TO]`` relays messages from the durable consumer
NAME of STREAM (filtered on FROM) to TO; without TO it only acks, like a sink.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import nats
from nats.js.api import AckPolicy, ConsumerConfig


async def relay(url: str, stream: str, name: str, source: str, target: str | None) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_consumer(
        stream,
        ConsumerConfig(
            durable_name=name, filter_subject=source, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=20000
        ),
    )
    sub = await js.pull_subscribe_bind(durable=name, stream=stream)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    while not stop.is_set():
        try:
            messages = await sub.fetch(256, timeout=0.5)
        except (TimeoutError, nats.errors.TimeoutError):
            continue
        if target is not None:
            acks = [
                await js.publish_async(
                    target, m.data, headers={"Nats-Msg-Id": f"{name}:{(m.header or {})['Nats-Msg-Id']}"}
                )
                for m in messages
            ]
            await asyncio.gather(*acks)
        for m in messages:
            await m.ack()
    await nc.close()


if __name__ == "__main__":
    url, stream, name, source = sys.argv[1:5]
    asyncio.run(relay(url, stream, name, source, sys.argv[5] if len(sys.argv) > 5 else None))
