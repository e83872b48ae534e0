"""The daily token budget (``LLM_DAILY_TOKENS``): a hard cap on what the LLM may cost per UTC day.

    exhausted()  before each request: None while the day's tokens are under the cap, else the reason
    spend(n)     after each answer: adds the provider's prompt+completion tokens to the day's total

Replicas share one total in a JetStream key-value bucket, one key per UTC day, updated with a
compare-and-set on the key's revision so concurrent replicas never lose each other's tokens. A request
already in flight when the cap is reached still counts, so a day may end a few calls above the cap.
If the bucket cannot be read or written, the replica goes on with what it knows (the last total it
read plus its own unsent tokens) and sends those tokens with its next successful write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from loguru import logger
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.analyst._errors import BudgetExhausted
from services.runtime import NatsSettings, key_value_bucket


class Tally(Protocol):
    async def read(self, day: str) -> int: ...

    async def add(self, day: str, tokens: int) -> int: ...


class LocalTally:
    """One process's count: for the eval and the bench, which run without NATS."""

    def __init__(self) -> None:
        self._days: dict[str, int] = {}

    async def read(self, day: str) -> int:
        return self._days.get(day, 0)

    async def add(self, day: str, tokens: int) -> int:
        self._days[day] = self._days.get(day, 0) + tokens
        return self._days[day]


class SharedTally:
    """The day's total in a key-value bucket, shared by every replica of the analyst."""

    def __init__(self, kv: KeyValue, attempts: int = 50) -> None:
        self.kv = kv
        self.attempts = attempts

    @classmethod
    async def open(
        cls, js: JetStreamContext, bucket: str, settings: NatsSettings | None = None
    ) -> SharedTally:
        # Two days: yesterday's key stays readable across midnight, then expires by itself.
        description = "LLM tokens spent per UTC day, shared by the analyst replicas (aiops analyst)"
        return cls(await key_value_bucket(js, settings or NatsSettings(), bucket, description, 2 * 86400))

    async def read(self, day: str) -> int:
        try:
            entry = await self.kv.get(_key(day))
        except KeyNotFoundError:
            return 0
        return _decode(entry.value)

    async def add(self, day: str, tokens: int) -> int:
        key = _key(day)
        for _ in range(self.attempts):
            try:
                entry = await self.kv.get(key)
            except KeyNotFoundError:
                try:
                    await self.kv.create(key, str(tokens).encode())
                    return tokens
                except KeyWrongLastSequenceError:
                    continue  # another replica created it first: add to theirs
            total = _decode(entry.value) + tokens
            try:
                await self.kv.update(key, str(total).encode(), last=entry.revision)
                return total
            except KeyWrongLastSequenceError:
                continue  # another replica wrote in between: read its total and add again
        raise RuntimeError(f"token budget: {self.attempts} conflicting updates of {key}")


class TokenBudget:
    def __init__(
        self,
        limit: int,
        tally: Tally,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.limit = limit
        self.tally = tally
        self.clock = clock
        self._known: dict[str, int] = {}  # the last total read or written, per day
        self._unsent: dict[str, int] = {}  # tokens spent while the tally could not be written
        self._announced: set[str] = set()

    def day(self) -> str:
        return self.clock().astimezone(UTC).date().isoformat()

    async def used(self) -> int:
        """The day's tokens as far as this replica can tell."""
        day = self.day()
        try:
            self._known = {day: await self.tally.read(day)}
        except Exception as exc:
            logger.warning("token budget unreadable ({}); using the last known total", type(exc).__name__)
        return self._known.get(day, 0) + self._unsent.get(day, 0)

    async def check(self) -> None:
        """Raise BudgetExhausted once the day's tokens have reached the cap (0 = no cap)."""
        if self.limit <= 0:
            return
        used = await self.used()
        if used < self.limit:
            return
        day = self.day()
        if day not in self._announced:
            self._announced = {day}
            logger.warning(
                "LLM_DAILY_TOKENS reached ({:,} of {:,}): the rules analyst answers", used, self.limit
            )
        raise BudgetExhausted(self.reason(used))

    def reason(self, used: int) -> str:
        today = self.clock().astimezone(UTC).date()
        resets = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
        return (
            f"LLM_DAILY_TOKENS={self.limit} reached ({used} tokens used on {today.isoformat()} UTC); "
            f"resets at {resets:%Y-%m-%d %H:%M} UTC"
        )

    async def spend(self, tokens: int) -> int:
        """Add tokens to the day's total; returns the total this replica knows of."""
        if tokens <= 0 and not self._unsent:
            return self._known.get(self.day(), 0)
        day = self.day()
        # Yesterday's unsent tokens belong to a day whose cap no longer matters.
        pending = self._unsent.pop(day, 0) + tokens
        self._unsent.clear()
        try:
            self._known = {day: await self.tally.add(day, pending)}
        except Exception as exc:
            logger.warning(
                "token budget not updated ({}); keeping {} tokens to send later", type(exc).__name__, pending
            )
            self._unsent[day] = pending
        return self._known.get(day, 0) + self._unsent.get(day, 0)


def _key(day: str) -> str:
    return f"tokens.{day}"


def _decode(value: bytes | None) -> int:
    try:
        return max(0, int(value or b"0"))
    except ValueError:
        return 0  # a value nobody of ours wrote: start the day's count again rather than stop
