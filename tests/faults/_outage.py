"""A front for a fake provider that can be taken down: answer 500, or refuse connections outright."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

Mode = Literal["up", "500", "refused"]


class OutageFront:
    """Forwards to ``target`` (e.g. a FakeLlm's URL) while up; the URL to configure is ``url``."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = f"{parts.scheme}://{parts.netloc}"
        self.path = parts.path
        self.mode: Mode = "up"
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def start(self) -> OutageFront:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self._http = aiohttp.ClientSession()
        await self._listen()
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def fail(self) -> None:
        self.mode = "500"

    async def refuse(self) -> None:
        """New connections are refused; requests on kept-alive ones are cut."""
        self.mode = "refused"
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def restore(self) -> None:
        self.mode = "up"
        if self._site is None:
            await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await self._site.start()
        self.port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "refused":
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("provider unreachable")
        if self.mode == "500":
            error = {"error": {"message": "internal error (outage)", "type": "server_error"}}
            return web.json_response(error, status=500)
        assert self._http is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        async with self._http.request(
            request.method, self.target + request.path, data=await request.read(), headers=headers
        ) as answer:
            return web.Response(
                status=answer.status, body=await answer.read(), content_type=answer.content_type
            )
