import asyncio
import uuid
from collections.abc import AsyncIterator

import fakeredis
import pytest

from adapters.rate_limit import NotionRateLimiter
from adapters.redis_store import RedisCircuitBreaker, open_redis
from domain import deadline
from domain.errors import RateLimited
from tests.support.real_redis import REDIS_DOWN, REDIS_URL


@pytest.fixture(params=["real", "fake"])
async def guard(request: pytest.FixtureRequest) -> AsyncIterator[RedisCircuitBreaker]:
    if request.param == "fake":
        yield RedisCircuitBreaker(fakeredis.FakeAsyncRedis(), prefix="rl")
        return
    async with open_redis(url=REDIS_URL) as client:
        yield RedisCircuitBreaker(client, prefix="rl")


async def granted(limiters: list[NotionRateLimiter], attempts: int) -> int:
    """Slots taken by concurrent callers of the current priority (a job when there is no deadline)."""

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

    with deadline.within(25):
        assert await granted(replicas, 12) == 3
    await guard.redis.delete(key)


async def test_a_wait_beyond_the_request_budget_fails_fast_with_the_time_to_wait(guard: RedisCircuitBreaker) -> None:
    key = f"rl:{uuid.uuid4().hex}"
    limiter = NotionRateLimiter(guard, key=key, per_minute=6, burst=1, max_wait_s=30)
    await limiter.acquire()

    with deadline.within(0.5), pytest.raises(RateLimited, match="NOTION_RATE_LIMIT") as caught:
        await limiter.acquire()

    assert 9 <= caught.value.retry_after_s <= 10
    await guard.redis.delete(key)


async def test_a_short_wait_is_taken(guard: RedisCircuitBreaker) -> None:
    key = f"rl:{uuid.uuid4().hex}"
    limiter = NotionRateLimiter(guard, key=key, per_minute=1200, burst=1, max_wait_s=1)

    assert await granted([limiter], 3) == 3
    await guard.redis.delete(key)


async def test_without_redis_each_process_keeps_its_own_budget() -> None:
    async with open_redis(url=REDIS_DOWN) as client:
        down = RedisCircuitBreaker(client, prefix="rl")
        replicas = [NotionRateLimiter(down, key="rl:x", per_minute=6, burst=3, max_wait_s=1) for _ in range(2)]

        with deadline.within(25):
            assert await granted(replicas, 10) == 6


async def test_odd_rates_work_on_redis(guard: RedisCircuitBreaker) -> None:
    # 60,000 ms divided by 180 or 100,000 is no whole number; Redis must still accept the expiry.
    for rate in (180, 100_000, 7):
        key = f"rl:{uuid.uuid4().hex}"
        await NotionRateLimiter(guard, key=key, per_minute=rate, max_wait_s=1).acquire()
        assert await guard.redis.pttl(key) > 0
        await guard.redis.delete(key)


@pytest.fixture(params=["real", "fake", "down"])
async def shared(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RedisCircuitBreaker, str]]:
    # "down": every replica falls back to its own budget, with the same priorities.
    key = f"rl:{uuid.uuid4().hex}"
    if request.param == "fake":
        yield RedisCircuitBreaker(fakeredis.FakeAsyncRedis(), prefix="rl"), key
        return
    url = REDIS_DOWN if request.param == "down" else REDIS_URL
    async with open_redis(url=url) as client:
        yield RedisCircuitBreaker(client, prefix="rl"), key
        if request.param == "real":
            await client.delete(key, f"{key}:searches")


def never_waiting(guard: RedisCircuitBreaker, key: str) -> NotionRateLimiter:
    # 6 a minute with a burst of 15: a slot frees every 10 s, so nothing frees up during the test.
    return NotionRateLimiter(guard, key=key, per_minute=6, burst=15, max_wait_s=0, job_wait_s=0, search_share=0.5)


async def test_searches_jobs_and_writes_each_stop_at_their_own_share(shared: tuple[RedisCircuitBreaker, str]) -> None:
    limiter = never_waiting(*shared)

    with deadline.within(2.5, priority="search"):
        searches = await granted([limiter], 20)
    jobs = await granted([limiter], 20)  # no deadline: a webhook job
    with deadline.within(25, priority="interactive"):
        writes = await granted([limiter], 20)

    # Half of the burst of 15 for searches, up to 90 % with jobs, the rest for writes.
    assert (searches, jobs, writes) == (8, 6, 1)


async def test_a_search_burst_leaves_the_writes_their_part(shared: tuple[RedisCircuitBreaker, str]) -> None:
    limiter = never_waiting(*shared)

    with deadline.within(2.5, priority="search"):
        assert await granted([limiter], 100) == 8
        with pytest.raises(RateLimited, match="NOTION_SEARCH_SHARE") as caught:
            await limiter.acquire()
    with deadline.within(25, priority="interactive"):
        writes = await granted([limiter], 20)

    # Searches have a schedule of their own at half the rate, one every 20 s: never more than their share.
    assert 19 <= caught.value.retry_after_s <= 20
    assert writes == 7


async def test_a_job_polls_instead_of_reserving_a_slot_ahead(shared: tuple[RedisCircuitBreaker, str]) -> None:
    guard, key = shared
    limiter = NotionRateLimiter(guard, key=key, per_minute=6, burst=15, max_wait_s=0, job_wait_s=2)
    with deadline.within(25, priority="interactive"):
        assert await granted([limiter], 14) == 14

    # The bucket stays above 90 % for 5 s, longer than the job may wait: it gets no slot, and reserves none.
    with pytest.raises(RateLimited) as caught:
        await limiter.acquire()
    with deadline.within(25, priority="interactive"):
        assert await granted([limiter], 20) == 1

    assert 4 <= caught.value.retry_after_s <= 6


async def test_a_hold_off_stops_every_replica_until_it_is_over(guard: RedisCircuitBreaker) -> None:
    key = f"rl:{uuid.uuid4().hex}"
    told, other = (NotionRateLimiter(guard, key=key, per_minute=600, max_wait_s=5, job_wait_s=5) for _ in range(2))

    await told.hold_off(49)

    with deadline.within(25), pytest.raises(RateLimited) as caught:
        await other.acquire()
    assert 48 <= caught.value.retry_after_s <= 49
    with deadline.within(2.5, priority="search"), pytest.raises(RateLimited) as caught:
        await other.acquire()
    assert caught.value.retry_after_s >= 49  # and then only once the writes' part is free again
    with pytest.raises(RateLimited):  # a job waits only as long as it may
        await other.acquire()
    await guard.redis.delete(key)


async def test_without_redis_a_hold_off_still_holds_this_process() -> None:
    async with open_redis(url=REDIS_DOWN) as client:
        limiter = NotionRateLimiter(RedisCircuitBreaker(client, prefix="rl"), key="rl:x", per_minute=600, max_wait_s=5)
        await limiter.hold_off(30)

        with deadline.within(25), pytest.raises(RateLimited) as caught:
            await limiter.acquire()

    assert 29 <= caught.value.retry_after_s <= 30
