"""A TCP hop between a client and a real nats-server that loses or holds back messages on request: a
lost acknowledgement, a lost publish, or a subscription running late, as a network or a server
failover makes them, without touching the client's code.

Both sides are read frame by frame (the NATS protocol: a control line, and for ``MSG``/``HMSG`` from
the server, ``PUB``/``HPUB`` from the client, the byte count of what follows it), so a message is lost
or held whole and the stream stays readable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

# Which message to lose (the server's, or the client's publish): by subject and payload (headers left out).
Losing = Callable[[bytes, bytes], bool]


@dataclass
class NatsProxy:
    upstream_port: int
    lost: list[bytes] = field(default_factory=list)  # the payloads of the messages lost so far
    _losing: list[tuple[Losing, asyncio.Event]] = field(default_factory=list)
    _losing_sent: list[tuple[Losing, asyncio.Event]] = field(default_factory=list)
    _held: list[tuple[asyncio.StreamWriter, bytes]] | None = None  # while holding: what waits
    _server: asyncio.Server | None = None
    _pumps: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> str:
        """The URL a client connects to instead of the server's."""
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"nats://127.0.0.1:{port}"

    def lose_next(self, which: Losing) -> asyncio.Event:
        """The server's next message that ``which`` picks is never delivered to the client; the
        event is set once it was lost."""
        lost = asyncio.Event()
        self._losing.append((which, lost))
        return lost

    def lose_next_sent(self, which: Losing) -> asyncio.Event:
        """The client's next publish that ``which`` picks never reaches the server; the event is set
        once it was lost."""
        lost = asyncio.Event()
        self._losing_sent.append((which, lost))
        return lost

    def hold(self) -> None:
        """The server's messages (but those lost) wait here until ``release``, in order."""
        self._held = []

    async def release(self) -> None:
        held, self._held = self._held or [], None
        for writer, frame in held:
            writer.write(frame)
            await writer.drain()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _connected(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        pumps = {
            asyncio.ensure_future(self._from_client(client_in, server_out)),
            asyncio.ensure_future(self._from_server(server_in, client_out)),
        }
        self._pumps.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            # One side closed (the other's pump then fails on its socket): nothing to report.
            await asyncio.gather(*pumps, return_exceptions=True)
            self._pumps.difference_update(pumps)
            for writer in (server_out, client_out):
                with contextlib.suppress(Exception):
                    writer.close()

    async def _from_server(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._pump(reader, writer, (b"MSG", b"HMSG"), self._losing, holding=True)

    async def _from_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._pump(reader, writer, (b"PUB", b"HPUB"), self._losing_sent, holding=False)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        carrying: tuple[bytes, bytes],
        losing: list[tuple[Losing, asyncio.Event]],
        *,
        holding: bool,
    ) -> None:
        """Frames passed on whole; ``carrying``: the verbs followed by a payload (without headers,
        with them), whose messages ``losing`` may pick; ``holding``: what ``hold`` holds back."""
        with_headers = carrying[1]
        while True:
            line = await reader.readuntil(b"\r\n")
            words = line.split()
            body = b""
            if words and words[0].upper() in carrying:
                body = await reader.readexactly(int(words[-1]) + 2)  # what follows, and its CRLF
                headers = int(words[-2]) if words[0].upper() == with_headers else 0
                if self._lost(words[1], body[headers:-2], losing):
                    continue
            if holding and self._held is not None:
                self._held.append((writer, line + body))
                continue
            writer.write(line + body)
            await writer.drain()

    def _lost(self, subject: bytes, payload: bytes, losing: list[tuple[Losing, asyncio.Event]]) -> bool:
        for entry in losing:
            which, lost = entry
            if which(subject, payload):
                losing.remove(entry)
                self.lost.append(payload)
                lost.set()
                return True
        return False
