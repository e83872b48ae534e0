"""The incident bucket's reads and writes sent side by side, each answer awaited as a future.

nats-py's key-value API makes one request per call and parses its answer as JSON into
dataclasses (a read also decodes base64); a batch of alerts that each open an incident pays
that for half a dozen keys per alert. Here a read is a ``STREAM.MSG.GET`` request and a write a
publish to ``$KV.<bucket>.<key>`` (with ``Nats-Expected-Last-Subject-Sequence`` for a
compare-and-set), all on one reply subscription, their answers decoded with msgspec; the caller
sends a batch's worth and waits once, as the runtime's ``Publisher`` does for stage outputs.
Direct reads of many keys are one request (``multi_last``, nats-server 2.11+): the server sends
the keys it has, one message each, then an end-of-batch status, and nothing for the keys it lacks,
so a batch of new alerts reads its memberships in one request and one answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Sequence

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

# JetStream's error codes: no message for the subject (an absent key); the subject's last
# sequence is not the one the write expected (another writer won the compare-and-set).
NO_MESSAGE = 10037
WRONG_LAST_SEQUENCE = 10071
DELETED = (b"KV-Operation: DEL", b"KV-Operation: PURGE")
ANSWER_SECONDS = 10.0
# Keys asked for in one ``multi_last`` read: well under the server's cap on one batch's answers.
MULTI_KEYS = 256
# A multi read's end: "204 EOB" after the messages found, "404 No Results" when none was.
MULTI_END = ("204", "404")


class Conflict(Exception):
    """A compare-and-set write found another revision: read again and re-apply."""


class KvError(Exception):
    """The server refused a read or a write (no bucket, no stream, no responders...)."""


class _ApiError(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _Stored(msgspec.Struct):
    seq: int = 0
    data: str = ""
    hdrs: str = ""


class _Answer(msgspec.Struct):
    """A publish ack (``seq``) or a message read (``message``), or why not (``error``)."""

    seq: int = 0
    duplicate: bool = False
    message: _Stored | None = None
    error: _ApiError | None = None


_decoder = msgspec.json.Decoder(_Answer)
Read = tuple[bytes | None, int]  # the value (None: absent or deleted) and its revision (0: never written)


class Pipe:
    def __init__(self, nc: Client, bucket: str) -> None:
        self.nc = nc
        self.bucket = bucket
        self.get_subject = f"$JS.API.STREAM.MSG.GET.KV_{bucket}"
        self.direct_subject = f"$JS.API.DIRECT.GET.KV_{bucket}.$KV.{bucket}."
        self.multi_subject = f"$JS.API.DIRECT.GET.KV_{bucket}"
        self.sent = 0
        self.waiting: dict[str, asyncio.Future[Msg]] = {}
        # Multi reads in flight: the messages answered so far, and the future their end completes.
        self.gathering: dict[str, tuple[list[Msg], asyncio.Future[list[Msg]]]] = {}
        # Reads served by the stream itself (allow_direct), not through the JetStream API: no JSON
        # or base64 on either side. ``open`` turns it on for the bucket.
        self.direct = False
        # Many keys read in one direct request (``multi_last``): the server must be 2.11 or later.
        self.multi = False
        self.prefix = ""
        self.sub: Subscription | None = None
        self._starting = asyncio.Lock()

    async def _reply_subject(self) -> str:
        if self.sub is None:
            async with self._starting:
                if self.sub is None:
                    self.prefix = self.nc.new_inbox() + "."
                    self.sub = await self.nc.subscribe(self.prefix + "*", cb=self._answered)
        self.sent += 1
        return f"{self.prefix}{self.sent}"

    async def _request(
        self, subject: str, payload: bytes, headers: dict[str, str] | None
    ) -> asyncio.Future[Msg]:
        reply = await self._reply_subject()
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self.waiting[reply] = future
        try:
            await self.nc.publish(subject, payload, reply=reply, headers=headers)
        except BaseException:
            del self.waiting[reply]
            raise
        return future

    async def _answered(self, msg: Msg) -> None:
        gathered = self.gathering.get(msg.subject)
        if gathered is not None:
            messages, ended = gathered
            if msg.headers and msg.headers.get("Status"):
                del self.gathering[msg.subject]
                messages.append(msg)
                if not ended.done():
                    ended.set_result(messages)
            else:
                messages.append(msg)
            return
        future = self.waiting.pop(msg.subject, None)
        if future is not None and not future.done():
            future.set_result(msg)

    async def _replies(self, futures: Sequence[asyncio.Future[Msg]]) -> list[Msg]:
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                replies = list(await asyncio.gather(*futures))
        finally:
            unanswered = [future for future in futures if not future.done()]
            if unanswered:  # given up on: forgotten, or they would wait here forever
                for future in unanswered:
                    future.cancel()
                self.waiting = {reply: f for reply, f in self.waiting.items() if not f.done()}
        for reply in replies:
            if reply.headers and reply.headers.get("Status") == "503":
                raise KvError(f"no responders: bucket {self.bucket} unavailable")
        return replies

    async def _answers(self, futures: Sequence[asyncio.Future[Msg]]) -> list[_Answer]:
        try:
            return [_decoder.decode(reply.data) for reply in await self._replies(futures)]
        except msgspec.DecodeError as exc:
            raise KvError(f"unreadable answer: {exc}") from None

    # ---- reads ----------------------------------------------------------------------------------
    async def get_many(self, keys: Sequence[str], *, latest: bool = False) -> list[Read]:
        """Each key's value and revision, read side by side. ``latest``: from the stream's leader,
        as a direct read may come from a replica a write or two behind."""
        if self.direct and self.multi and not latest and len(keys) > 1:
            return await self._get_multi(keys)
        if self.direct and not latest:
            futures = [await self._request(f"{self.direct_subject}{key}", b"", None) for key in keys]
            return [_direct(reply) for reply in await self._replies(futures)]
        body = [msgspec.json.encode({"last_by_subj": f"$KV.{self.bucket}.{key}"}) for key in keys]
        futures = [await self._request(self.get_subject, payload, None) for payload in body]
        return [_read(answer) for answer in await self._answers(futures)]

    async def _get_multi(self, keys: Sequence[str]) -> list[Read]:
        """``get_many`` as direct ``multi_last`` reads of up to MULTI_KEYS keys each, sent side by side."""
        prefix = f"$KV.{self.bucket}."
        chunks = [list(dict.fromkeys(keys[i : i + MULTI_KEYS])) for i in range(0, len(keys), MULTI_KEYS)]
        futures = []
        for chunk in chunks:
            reply = await self._reply_subject()
            ended: asyncio.Future[list[Msg]] = asyncio.get_running_loop().create_future()
            self.gathering[reply] = ([], ended)
            body = msgspec.json.encode({"multi_last": [prefix + key for key in chunk], "batch": len(chunk)})
            try:
                await self.nc.publish(self.multi_subject, body, reply=reply)
            except BaseException:
                del self.gathering[reply]
                raise
            futures.append(ended)
        found: dict[str, Read] = {}
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                answers = await asyncio.gather(*futures)
        finally:
            if not all(future.done() for future in futures):  # given up on: forgotten
                self.gathering = {r: g for r, g in self.gathering.items() if g[1] not in futures}
                for future in futures:
                    future.cancel()
        for messages in answers:
            *values, end = messages
            status = (end.headers or {}).get("Status", "")
            if status == "503":
                raise KvError(f"no responders: bucket {self.bucket} unavailable")
            if status not in MULTI_END or (end.headers or {}).get("Nats-Num-Pending", "0") != "0":
                raise KvError(f"multi read refused: {status} {(end.headers or {}).get('Description', '')}")
            for value in values:
                found[(value.headers or {}).get("Nats-Subject", "")[len(prefix) :]] = _direct(value)
        return [found.get(key, (None, 0)) for key in keys]

    # ---- writes ---------------------------------------------------------------------------------
    async def send(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> asyncio.Future[Msg]:
        """A publish whose ack is awaited later (``settle``): a key write or a stream message."""
        return await self._request(subject, payload, headers)

    async def write(self, key: str, value: bytes, last: int | None = None) -> asyncio.Future[Msg]:
        """``key`` written; with ``last``, only if its revision is still ``last`` (0: absent)."""
        headers = None if last is None else {"Nats-Expected-Last-Subject-Sequence": str(last)}
        return await self.send(f"$KV.{self.bucket}.{key}", value, headers)

    async def settle(self, futures: Sequence[asyncio.Future[Msg]]) -> list[int | Conflict]:
        """Each write's new revision, or a Conflict; any other refusal raises KvError."""
        results: list[int | Conflict] = []
        for answer in await self._answers(futures):
            if answer.error is None:
                results.append(answer.seq)
            elif answer.error.err_code == WRONG_LAST_SEQUENCE:
                results.append(Conflict(answer.error.description))
            else:
                raise KvError(f"{answer.error.description} ({answer.error.err_code})")
        return results

    async def publish(self, subject: str, payload: bytes, msg_id: str) -> bool:
        """A stream message published once (``Nats-Msg-Id``); True when the stream had it already."""
        return (await self.published([await self.send(subject, payload, {"Nats-Msg-Id": msg_id})]))[0]

    async def published(self, futures: Sequence[asyncio.Future[Msg]]) -> list[bool]:
        """Each sent stream message's ack: True when the stream had it already; a refusal raises KvError."""
        duplicates = []
        for answer in await self._answers(futures):
            if answer.error is not None:
                raise KvError(f"{answer.error.description} ({answer.error.err_code})")
            duplicates.append(answer.duplicate)
        return duplicates

    async def close(self) -> None:
        if self.sub is not None:
            with contextlib.suppress(Exception):
                await self.sub.unsubscribe()


def _read(answer: _Answer) -> Read:
    if answer.error is not None:
        if answer.error.err_code == NO_MESSAGE:
            return None, 0
        raise KvError(f"{answer.error.description} ({answer.error.err_code})")
    stored = answer.message
    if stored is None:
        return None, 0
    if stored.hdrs and any(op in base64.b64decode(stored.hdrs) for op in DELETED):
        return None, stored.seq
    return (base64.b64decode(stored.data) if stored.data else None), stored.seq


def _direct(reply: Msg) -> Read:
    headers = reply.headers or {}
    status = headers.get("Status")
    if status == "404":
        return None, 0
    if status:
        raise KvError(f"direct read refused: {status} {headers.get('Description', '')}")
    revision = int(headers.get("Nats-Sequence", "0"))
    if headers.get("KV-Operation") in ("DEL", "PURGE"):
        return None, revision
    return reply.data or None, revision
