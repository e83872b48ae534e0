"""The daily token budget's arithmetic: the cap, the UTC day, a tally that cannot be reached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.analyst import BudgetExhausted, LocalTally, TokenBudget


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Unreachable(LocalTally):
    """A tally whose store goes away and comes back, as a key-value bucket does in an outage."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def read(self, day: str) -> int:
        if self.down:
            raise ConnectionError("no responders")
        return await super().read(day)

    async def add(self, day: str, tokens: int) -> int:
        if self.down:
            raise ConnectionError("no responders")
        return await super().add(day, tokens)


async def test_the_cap_holds_until_midnight_utc_and_says_when_it_resets() -> None:
    clock = Clock(datetime(2024, 5, 14, 23, 59, tzinfo=UTC))
    budget = TokenBudget(1000, LocalTally(), clock)
    await budget.check()
    await budget.spend(999)
    await budget.check()  # under the cap: one more call may go
    await budget.spend(400)
    with pytest.raises(BudgetExhausted) as raised:
        await budget.check()
    assert str(raised.value) == (
        "LLM_DAILY_TOKENS=1000 reached (1399 tokens used on 2024-05-14 UTC); resets at 2024-05-15 00:00 UTC"
    )
    clock.now += timedelta(minutes=1)
    await budget.check()  # a new UTC day, a new budget
    assert await budget.used() == 0


async def test_a_day_is_a_utc_day_whatever_the_clock_zone() -> None:
    # 01:30 in Berlin on the 15th is still the 14th in UTC.
    clock = Clock(datetime(2024, 5, 15, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")))
    budget = TokenBudget(10, LocalTally(), clock)
    await budget.spend(10)
    assert budget.day() == "2024-05-14"
    with pytest.raises(BudgetExhausted, match="resets at 2024-05-15 00:00 UTC"):
        await budget.check()


async def test_no_cap_never_refuses() -> None:
    budget = TokenBudget(0, LocalTally())
    await budget.spend(10**9)
    await budget.check()


async def test_tokens_spent_during_an_outage_are_counted_and_sent_later() -> None:
    tally = Unreachable()
    budget = TokenBudget(1000, tally, Clock(datetime(2024, 5, 14, 12, tzinfo=UTC)))
    await budget.spend(300)
    tally.down = True
    await budget.spend(800)  # cannot be written: kept by the replica
    with pytest.raises(BudgetExhausted):
        await budget.check()  # the replica still knows what it spent
    tally.down = False
    await budget.spend(0)
    assert await tally.read("2024-05-14") == 1100
