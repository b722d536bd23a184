import asyncio
import uuid
from collections.abc import AsyncIterator

import fakeredis
import pytest

from adapters.rate_limit import NotionRateLimiter
from adapters.redis_store import RedisCircuitBreaker, open_redis
from domain import budget
from domain.errors import RateLimited


@pytest.fixture(params=["real", "fake"])
async def guard(request: pytest.FixtureRequest) -> AsyncIterator[RedisCircuitBreaker]:
    if request.param == "fake":
        yield RedisCircuitBreaker(fakeredis.FakeAsyncRedis(), prefix="rl")
        return
    async with open_redis(url="redis://127.0.0.1:6379/15") as client:
        yield RedisCircuitBreaker(client, prefix="rl")


async def granted(limiters: list[NotionRateLimiter], attempts: int) -> int:
    async def one(limiter: NotionRateLimiter) -> bool:
        try:
            await limiter.acquire()
        except RateLimited:
            return False
        return True

    results = await asyncio.gather(*(one(limiters[n % len(limiters)]) for n in range(attempts)))
    return sum(results)


async def test_replicas_share_one_budget(guard: RedisCircuitBreaker) -> None:
    # 6 a minute with a burst of 3: the next slot is 10 s away, longer than anyone may wait here.
    key = f"rl:{uuid.uuid4().hex}"
    replicas = [NotionRateLimiter(guard, key=key, per_minute=6, burst=3, max_wait_s=1) for _ in range(3)]

    assert await granted(replicas, 12) == 3
    await guard.redis.delete(key)


async def test_a_wait_beyond_the_request_budget_fails_fast_with_the_time_to_wait(guard: RedisCircuitBreaker) -> None:
    key = f"rl:{uuid.uuid4().hex}"
    limiter = NotionRateLimiter(guard, key=key, per_minute=6, burst=1, max_wait_s=30)
    await limiter.acquire()

    with budget.within(0.5), pytest.raises(RateLimited, match="NOTION_RATE_LIMIT") as caught:
        await limiter.acquire()

    assert 9 <= caught.value.retry_after_s <= 10
    await guard.redis.delete(key)


async def test_a_short_wait_is_taken(guard: RedisCircuitBreaker) -> None:
    key = f"rl:{uuid.uuid4().hex}"
    limiter = NotionRateLimiter(guard, key=key, per_minute=1200, burst=1, max_wait_s=1)

    assert await granted([limiter], 3) == 3
    await guard.redis.delete(key)


async def test_without_redis_each_process_keeps_its_own_budget() -> None:
    async with open_redis(url="redis://127.0.0.1:1/0") as client:
        down = RedisCircuitBreaker(client, prefix="rl")
        replicas = [NotionRateLimiter(down, key="rl:x", per_minute=6, burst=3, max_wait_s=1) for _ in range(2)]

        assert await granted(replicas, 10) == 6


async def test_odd_rates_work_on_redis(guard: RedisCircuitBreaker) -> None:
    # 60,000 ms divided by 180 or 100,000 is no whole number; Redis must still accept the expiry.
    for rate in (180, 100_000, 7):
        key = f"rl:{uuid.uuid4().hex}"
        await NotionRateLimiter(guard, key=key, per_minute=rate, max_wait_s=1).acquire()
        assert await guard.redis.pttl(key) > 0
        await guard.redis.delete(key)
