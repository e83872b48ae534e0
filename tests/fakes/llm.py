"""A local chat-completions server that speaks the OpenAI wire format, scriptable per request.

    fake = await FakeLlm().start()            # base_url: fake.url (also answers under /v1)
    fake.script("status:429:Retry-After=1", "invalid", "valid")
    ...                                       # then the default: a valid answer, after fake.delay

Steps: ``valid``, ``invalid`` (not JSON), ``badschema`` (JSON of the wrong shape), ``status:CODE``
with optional ``:Header=value``, ``slow:SECONDS``. Every request is recorded with its time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DEFAULT_ANSWER: dict[str, Any] = {
    "summary": "checkout-api is OOM-killed",
    "root_cause": "The container exceeds its memory limit and is OOMKilled.",
    "category": "memory_pressure",
    "confidence": 0.8,
    "evidence": ["log: OOMKilled x4"],
    "remediation": ["kubectl -n shop describe pod checkout-api-1"],
}


@dataclass
class Request:
    at: float
    body: dict[str, Any]
    path: str

    @property
    def user_text(self) -> str:
        return "\n".join(m["content"] for m in self.body["messages"] if m["role"] == "user")


@dataclass
class FakeLlm:
    delay: float = 0.0
    answer: Callable[[dict[str, Any]], dict[str, Any]] = lambda body: DEFAULT_ANSWER
    requests: list[Request] = field(default_factory=list)
    _steps: deque[str] = field(default_factory=deque)
    _runner: web.AppRunner | None = None
    url: str = ""

    def script(self, *steps: str) -> None:
        self._steps.extend(steps)

    @property
    def calls(self) -> int:
        return len(self.requests)

    async def start(self) -> FakeLlm:
        app = web.Application()
        app.router.add_post("/chat/completions", self._complete)
        app.router.add_post("/v1/chat/completions", self._complete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization", "") == "":
            return web.json_response({"error": {"message": "missing key"}}, status=401)
        body = await request.json()
        self.requests.append(Request(time.monotonic(), body, request.path))
        step = self._steps.popleft() if self._steps else "valid"
        kind, _, rest = step.partition(":")
        if kind == "status":
            code, _, header = rest.partition(":")
            headers = dict([header.split("=", 1)]) if header else {}
            error = {"error": {"message": f"fake error {code}", "type": "fake", "code": code}}
            return web.json_response(error, status=int(code), headers=headers)
        await asyncio.sleep(float(rest) if kind == "slow" else self.delay)
        if kind == "invalid":
            content = "Sure! The root cause is probably memory. {category: memory"
        elif kind == "badschema":
            content = json.dumps({"cause": "memory", "confidence": "high"})
        else:
            content = json.dumps(self.answer(body))
        prompt_chars = sum(len(m["content"]) for m in body["messages"])
        return web.json_response(
            {
                "id": f"chatcmpl-fake-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_chars // 4,
                    "completion_tokens": len(content) // 4,
                    "total_tokens": prompt_chars // 4 + len(content) // 4,
                },
            }
        )
