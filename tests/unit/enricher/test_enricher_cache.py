"""During a storm, identical queries are asked once; failures are not remembered."""

from __future__ import annotations

import asyncio

import pytest

from services.enricher._cache import TtlCache


async def test_concurrent_identical_queries_share_one_request() -> None:
    calls = 0
    release = asyncio.Event()

    async def query() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "series"

    cache = TtlCache(ttl_seconds=30)
    waiting = [asyncio.create_task(cache.get_or_run(("prometheus", "up == 0"), query)) for _ in range(20)]
    await asyncio.sleep(0)  # let every caller reach the cache before the answer
    release.set()
    assert await asyncio.gather(*waiting) == ["series"] * 20
    assert calls == 1
    assert await cache.get_or_run(("prometheus", "up == 0"), query) == "series"
    assert calls == 1
    assert cache.hits == 20


async def test_a_failed_query_is_asked_again() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TimeoutError("prometheus did not answer")
        return "series"

    cache = TtlCache(ttl_seconds=30)
    with pytest.raises(TimeoutError):
        await cache.get_or_run("q", flaky)
    assert await cache.get_or_run("q", flaky) == "series"
    assert calls == 2


async def test_different_queries_are_not_confused_and_a_zero_ttl_disables_the_cache() -> None:
    async def answer(value: str) -> str:
        return value

    cache = TtlCache(ttl_seconds=30)
    assert await cache.get_or_run("a", lambda: answer("A")) == "A"
    assert await cache.get_or_run("b", lambda: answer("B")) == "B"
    off = TtlCache(ttl_seconds=0)
    assert await off.get_or_run("a", lambda: answer("1")) == "1"
    assert await off.get_or_run("a", lambda: answer("2")) == "2"
