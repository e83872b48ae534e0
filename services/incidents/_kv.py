"""The incident bucket's reads and writes sent side by side, each answer awaited as a future.

nats-py's key-value API makes one request per call and parses its answer as JSON into
dataclasses (a read also decodes base64); a batch of alerts that each open an incident pays
that for half a dozen keys per alert. Here a read is a ``STREAM.MSG.GET`` request and a publish
(a log entry with ``Nats-Expected-Last-Subject-Sequence`` for a compare-and-set, a review, an event)
is sent the same way, all on one reply subscription, their answers decoded with msgspec; the caller
sends a batch's worth and waits once, as the runtime's ``Publisher`` does for stage outputs.

Reads of many keys are one batched direct read (``multi_last``, nats-server 2.11+) per 1,024 keys
and 256 KiB of answer: the server answers with the keys it has, then an end-of-batch status, so a
batch of alerts that are members of nothing yet (the common case: a new alert) costs one request, not
one per alert. A server that does not know batched reads answers with an error status; the pipe then
reads key by key.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Sequence

import msgspec
from loguru import logger
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError

from services.runtime import ApiError, refuse_if_too_large

# JetStream's error codes: no message for the subject (an absent key); the subject's last
# sequence is not the one the write expected (another writer won the compare-and-set).
NO_MESSAGE = 10037
WRONG_LAST_SEQUENCE = 10071
DELETED = (b"KV-Operation: DEL", b"KV-Operation: PURGE")
ANSWER_SECONDS = 10.0
# A publish that JetStream de-duplicates (``Nats-Msg-Id``) and has no answer after this is sent again,
# then after twice as long, until ANSWER_SECONDS: a request or its answer lost in a reconnect or a
# server failover costs a batch half a second, not the store's timeout and a pause of its grouping.
# Well above a busy server's answer (milliseconds); a resend of one that was only slow is a duplicate,
# as long as the stream's duplicate window (STREAM_DUPLICATE_WINDOW_SECONDS) outlasts the resends.
RESEND_SECONDS = 0.5
# The most keys one batched read asks for: nats-server answers 413 when more than 1,024 would be found.
BATCH_READ_MAX = 1024
# The most one batched read's answer carries (the server stops there and says how many it kept back):
# a burst of a few hundred KiB on the connection, never megabytes of a storm's exemplars at once.
BATCH_READ_BYTES = 256 * 1024


class Conflict(Exception):
    """A compare-and-set write found another revision: read again and re-apply."""


class KvError(Exception):
    """The server refused a read or a write (no bucket, no stream, no responders...)."""


class _Stored(msgspec.Struct):
    seq: int = 0
    data: str = ""
    hdrs: str = ""


class _Answer(msgspec.Struct):
    """A publish ack (``seq``) or a message read (``message``), or why not (``error``)."""

    seq: int = 0
    duplicate: bool = False
    message: _Stored | None = None
    error: ApiError | None = None


_decoder = msgspec.json.Decoder(_Answer)
Read = tuple[bytes | None, int]  # the value (None: absent or deleted) and its revision (0: never written)


class Pipe:
    def __init__(self, nc: Client, bucket: str) -> None:
        self.nc = nc
        self.bucket = bucket
        self.get_subject = f"$JS.API.STREAM.MSG.GET.KV_{bucket}"
        self.key_prefix = f"$KV.{bucket}."  # a key's subject in the bucket's stream
        self.direct_subject = f"$JS.API.DIRECT.GET.KV_{bucket}.{self.key_prefix}"
        self.batch_subject = f"$JS.API.DIRECT.GET.KV_{bucket}"
        self.sent = 0
        self.waiting: dict[str, asyncio.Future[Msg]] = {}
        # Requests safe to send again while unanswered (``send``'s ``resend``), by reply subject.
        self.resendable: dict[str, tuple[str, bytes, dict[str, str] | None]] = {}
        # A batched read's messages before its end, by reply subject; the end resolves ``waiting``.
        self.collecting: dict[str, list[Msg]] = {}
        # Reads served by the stream itself (allow_direct), not through the JetStream API: no JSON
        # or base64 on either side. ``open`` turns it on for the bucket.
        self.direct = False
        # Reads of many keys in one request (``multi_last``); ``open`` turns it on for a server that has it.
        self.batched = False
        self.prefix = ""
        self.sub: Subscription | None = None
        self._starting = asyncio.Lock()

    async def _request(
        self,
        subject: str,
        payload: bytes,
        headers: dict[str, str] | None,
        *,
        collect: list[Msg] | None = None,
        resend: bool = False,
    ) -> asyncio.Future[Msg]:
        """The answer's future; with ``collect``, a batched read's messages gather there and the
        future holds its end; with ``resend``, it is sent again while unanswered (``_replies``)."""
        if self.sub is None:
            async with self._starting:
                if self.sub is None:
                    self.prefix = self.nc.new_inbox() + "."
                    self.sub = await self.nc.subscribe(self.prefix + "*", cb=self._answered)
        refuse_if_too_large(payload, headers, self.nc.max_payload)
        self.sent += 1
        reply = f"{self.prefix}{self.sent}"
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self.waiting[reply] = future
        if collect is not None:
            self.collecting[reply] = collect
        if resend:
            self.resendable[reply] = (subject, payload, headers)
        try:
            await self.nc.publish(subject, payload, reply=reply, headers=headers)
        except BaseException:
            del self.waiting[reply]
            self.collecting.pop(reply, None)
            self.resendable.pop(reply, None)
            raise
        return future

    async def _answered(self, msg: Msg) -> None:
        collect = self.collecting.get(msg.subject)
        if collect is not None:
            if msg.headers and "Nats-Sequence" in msg.headers:  # a key's value, not the batch's end
                collect.append(msg)
                return
            del self.collecting[msg.subject]
        future = self.waiting.pop(msg.subject, None)
        self.resendable.pop(msg.subject, None)
        if future is not None and not future.done():
            future.set_result(msg)

    async def _replies(self, futures: Sequence[asyncio.Future[Msg]], what: str = "") -> list[Msg]:
        """The answers; ``what`` is asked ("stream ALERTS"), for the error when nothing answers."""
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                await self._answered_or_resent(futures)
                replies = [future.result() for future in futures]
        finally:
            # Given up on (timed out or cancelled): cancelled and forgotten, or their entries would
            # stay here forever.
            unanswered = [future for future in futures if not future.done() or future.cancelled()]
            if unanswered:
                for future in unanswered:
                    future.cancel()
                self.waiting = {reply: f for reply, f in self.waiting.items() if not f.done()}
                self.collecting = {r: c for r, c in self.collecting.items() if r in self.waiting}
                self.resendable = {r: sent for r, sent in self.resendable.items() if r in self.waiting}
        for reply in replies:
            if reply.headers and reply.headers.get("Status") == "503":
                raise KvError(f"no responders: {what or f'bucket {self.bucket}'} unavailable")
        return replies

    async def _answered_or_resent(self, futures: Sequence[asyncio.Future[Msg]]) -> None:
        """Every future answered; the resendable ones still unanswered sent again (under the same
        reply subject: whichever answer comes first settles it) after RESEND_SECONDS, then after
        twice as long each time. A send again that fails (the connection down) is only a chance
        missed: the first may still be answered."""
        pending = {future for future in futures if not future.done()}
        wait, waited = RESEND_SECONDS, 0.0
        while pending:
            _, pending = await asyncio.wait(pending, timeout=wait)
            waited += wait
            again = [
                (reply, self.resendable[reply])
                for reply, future in self.waiting.items()
                if future in pending and reply in self.resendable
            ]
            try:
                for reply, (subject, payload, headers) in again:
                    await self.nc.publish(subject, payload, reply=reply, headers=headers)
            except NatsError as exc:
                logger.info("{} write(s) unanswered after {}s, not sent again: {}", len(again), waited, exc)
            else:
                if again:
                    logger.info("{} write(s) unanswered after {}s: sent again", len(again), waited)
            wait *= 2

    async def _answers(self, futures: Sequence[asyncio.Future[Msg]]) -> list[_Answer]:
        try:
            return [_decoder.decode(reply.data) for reply in await self._replies(futures)]
        except msgspec.DecodeError as exc:
            raise KvError(f"unreadable answer: {exc}") from None

    # ---- reads ----------------------------------------------------------------------------------
    async def get_many(self, keys: Sequence[str], *, latest: bool = False) -> list[Read]:
        """Each key's value and revision, read side by side. ``latest``: from the stream's leader,
        as a direct read may come from a replica a write or two behind."""
        if self.direct and not latest:
            if self.batched and len(keys) > 1:
                read = await self._get_batched(keys)
                if read is not None:
                    return read
            return await self._get_direct(keys)
        body = [msgspec.json.encode({"last_by_subj": self.key_prefix + key}) for key in keys]
        futures = [await self._request(self.get_subject, payload, None) for payload in body]
        return [_read(answer) for answer in await self._answers(futures)]

    async def _get_direct(self, keys: Sequence[str]) -> list[Read]:
        """Each key a direct read of its own, all in flight at once."""
        futures = [await self._request(f"{self.direct_subject}{key}", b"", None) for key in keys]
        return [_direct(reply) for reply in await self._replies(futures)]

    async def _get_batched(self, keys: Sequence[str]) -> list[Read] | None:
        """``get_many`` as batched direct reads. A batch ends early when its answer reaches
        BATCH_READ_BYTES (or a key expired as it was read): the keys it did not send are asked for
        again, one by one once a round reads none of them. None (and key-by-key reads from now on)
        when the server does not understand the request (400, 408: a server before 2.11)."""
        subjects = [self.key_prefix + key for key in keys]  # what the answers name
        key_of = dict(zip(subjects, keys, strict=True))
        found: dict[str, Read] = {}
        wanted = list(key_of)
        while wanted:
            chunks = [wanted[i : i + BATCH_READ_MAX] for i in range(0, len(wanted), BATCH_READ_MAX)]
            collected: list[list[Msg]] = [[] for _ in chunks]
            futures = [
                await self._request(
                    self.batch_subject,
                    msgspec.json.encode({"multi_last": chunk, "max_bytes": BATCH_READ_BYTES}),
                    None,
                    collect=c,
                )
                for chunk, c in zip(chunks, collected, strict=True)
            ]
            ends = await self._replies(futures)
            unsent: list[str] = []
            for chunk, messages, end in zip(chunks, collected, ends, strict=True):
                asked = set(chunk)
                for msg in messages:
                    subject = (msg.headers or {}).get("Nats-Subject", "")
                    if subject in asked:
                        found[subject] = _direct(msg)
                headers = end.headers or {}
                status, description = headers.get("Status"), headers.get("Description", "")
                if status == "204" and headers.get("Nats-Num-Pending", "0") == "0":
                    continue  # every key it has was sent
                if status == "404" and description == "No Results" and not messages:
                    continue  # it has none of them
                if status in ("400", "408"):  # a request not understood: a server before 2.11
                    logger.warning(
                        "batched reads of bucket {} refused ({} {}); reading key by key",
                        self.bucket,
                        status,
                        description,
                    )
                    self.batched = False
                    return None
                if status not in ("204", "404", "413"):
                    raise KvError(f"batched read refused: {status} {description}")
                unsent += [subject for subject in chunk if subject not in found]
            if len(unsent) == len(wanted):  # not one more key read: the rest one by one
                found.update(zip(unsent, await self._get_direct([key_of[s] for s in unsent]), strict=True))
                break
            wanted = unsent
        return [found.get(subject, (None, 0)) for subject in subjects]

    # ---- writes ---------------------------------------------------------------------------------
    async def send(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None, *, resend: bool = False
    ) -> asyncio.Future[Msg]:
        """A publish whose ack is awaited later (``settle``, ``published``): a key or a stream message.
        ``resend``: sent again while unanswered, for a publish the stream de-duplicates (``Nats-Msg-Id``)
        and that expects nothing of the stream (a compare-and-set sent again would be refused)."""
        return await self._request(subject, payload, headers, resend=resend)

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

    async def published(self, futures: Sequence[asyncio.Future[Msg]]) -> list[bool]:
        """Each sent stream message's ack: True when the stream had it already; a refusal raises KvError."""
        duplicates = []
        for answer in await self._answers(futures):
            if answer.error is not None:
                raise KvError(f"{answer.error.description} ({answer.error.err_code})")
            duplicates.append(answer.duplicate)
        return duplicates

    async def get_by_sequence(self, stream: str, seq: int) -> bytes | None:
        """The body of ``stream``'s message ``seq`` (a direct read); None when it is gone."""
        return (await self.get_sequences(stream, [seq]))[0]

    async def get_sequences(self, stream: str, sequences: Sequence[int]) -> list[bytes | None]:
        """``get_by_sequence`` of each, side by side. What a direct read did not find (a replica a
        few writes behind) or could not ask (direct reads off: the stream updated by a version that
        did not ask for them) is asked of the stream's leader through the JetStream API."""
        if not sequences:
            return []
        body = [msgspec.json.encode({"seq": seq}) for seq in sequences]
        direct = [await self._request(f"$JS.API.DIRECT.GET.{stream}", payload, None) for payload in body]
        try:
            found = [_direct(reply)[0] for reply in await self._replies(direct, f"stream {stream}")]
        except KvError:
            found = [None] * len(sequences)
        missing = [i for i, value in enumerate(found) if value is None]
        if missing:
            api = [await self._request(f"$JS.API.STREAM.MSG.GET.{stream}", body[i], None) for i in missing]
            for i, answer in zip(missing, await self._answers(api), strict=True):
                found[i] = _read(answer)[0]
        return found

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
