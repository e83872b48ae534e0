"""A local HTTP receiver that records every post and answers from a script.

The base of the Slack, PagerDuty and Teams fakes; on its own it stands in for a
generic webhook receiver (200 by default, or any scripted answer).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/plain"
    # Keep the connection open without answering until released (or the client gives up).
    hang: bool = False


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    reply: Reply
    method: str = "POST"
    query: str = ""

    def json(self) -> Any:
        return json.loads(self.body)


class FakeHttpServer:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: deque[Reply] = deque()
        self.released = asyncio.Event()
        self._arrival = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.reply.status < 300 and not r.reply.hang]

    def answer(self, *replies: Reply) -> None:
        """Answer the next posts with these replies, in order; then the default."""
        self.script.extend(replies)

    def default_reply(self, request: Received) -> Reply:
        return Reply(200, "ok")

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        self.released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int, within: float = 5.0) -> list[Received]:
        """Wait until ``count`` posts arrived; fail with what did arrive."""

        async def arrived() -> None:
            async with self._arrival:
                await self._arrival.wait_for(lambda: len(self.received) >= count)

        try:
            await asyncio.wait_for(arrived(), within)
        except TimeoutError:
            raise AssertionError(f"expected {count} posts, got {len(self.received)}") from None
        return self.received

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        seen = (request.path, dict(request.headers), body)
        probe = Received(*seen, Reply(), request.method, request.query_string)
        reply = self.script.popleft() if self.script else self.default_reply(probe)
        async with self._arrival:
            self.received.append(Received(*seen, reply, request.method, request.query_string))
            self._arrival.notify_all()
        if reply.hang:
            await self.released.wait()
        return web.Response(
            status=reply.status, text=reply.body, headers=reply.headers, content_type=reply.content_type
        )


class FakeWebhook(FakeHttpServer):
    """A receiver of generic webhook posts: 200 with an empty JSON body."""

    def default_reply(self, request: Received) -> Reply:
        return Reply(200, "{}", content_type="application/json")
