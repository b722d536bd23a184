import asyncio
import uuid
from collections.abc import AsyncIterator

import fakeredis
import pytest
from pydantic import TypeAdapter
from redis.asyncio import Redis
from structlog.testing import capture_logs

from adapters.redis_store import RedisCache, RedisGuard, RedisLinkRegistry, RedisLocks, open_redis
from domain.errors import Conflict
from domain.models import Assignee, Cached

PEOPLE = [Assignee(id="u-ada", name="Ada Lovelace", email="ada@example.org"), Assignee(id="u-bob", name="Bob")]
REAL_REDIS = "redis://127.0.0.1:6379/15"


@pytest.fixture(params=["real", "fake"])
async def guard(request: pytest.FixtureRequest) -> AsyncIterator[RedisGuard]:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    if request.param == "fake":
        yield RedisGuard(fakeredis.FakeAsyncRedis(), prefix=prefix)
        return
    async with open_redis(url=REAL_REDIS) as client:
        yield RedisGuard(client, prefix=prefix)
        keys = [k async for k in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)


def people_cache(guard: RedisGuard) -> RedisCache[list[Assignee]]:
    return RedisCache(guard, name="assignees", value=TypeAdapter(Cached[list[Assignee]]), keep_s=60)


async def test_cached_values_round_trip_with_their_age_and_expiry(guard: RedisGuard) -> None:
    cache = people_cache(guard)

    assert await cache.load("ws:db") is None
    await cache.store("ws:db", Cached(value=PEOPLE, fetched_at=1234.5))

    assert await cache.load("ws:db") == Cached(value=PEOPLE, fetched_at=1234.5)
    assert await cache.load("ws:other-db") is None
    assert 0 < await guard.redis.ttl(f"{guard.prefix}:assignees:ws:db") <= 60


async def test_unreadable_cache_entry_is_a_miss(guard: RedisGuard) -> None:
    await guard.redis.set(f"{guard.prefix}:assignees:ws:db", b"not json")

    assert await people_cache(guard).load("ws:db") is None


async def test_registry_remembers_pages(guard: RedisGuard) -> None:
    registry = RedisLinkRegistry(guard)

    assert await registry.recall("ws:db:inst:1") is None
    await registry.remember("ws:db:inst:1", "page-1")

    assert await registry.recall("ws:db:inst:1") == "page-1"


async def test_lock_serialises_holders(guard: RedisGuard) -> None:
    locks = RedisLocks(guard, ttl_s=5, wait_s=5)
    inside, overlaps = 0, 0

    async def hold() -> None:
        nonlocal inside, overlaps
        async with locks.hold("create:1"):
            inside += 1
            overlaps += inside > 1
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(hold() for _ in range(5)))

    assert overlaps == 0
    assert await guard.redis.exists(f"{guard.prefix}:lock:create:1") == 0


async def test_a_lock_held_too_long_is_a_conflict_and_expires(guard: RedisGuard) -> None:
    locks = RedisLocks(guard, ttl_s=0.3, wait_s=0.05)

    async with locks.hold("create:1"):
        with pytest.raises(Conflict):
            async with locks.hold("create:1"):
                pass
    # A replica that died holding the lock: its key expires with the TTL.
    await guard.redis.set(f"{guard.prefix}:lock:create:2", "dead-replica", px=100)
    async with RedisLocks(guard, ttl_s=1, wait_s=2).hold("create:2"):
        assert await guard.redis.get(f"{guard.prefix}:lock:create:2") != b"dead-replica"


async def test_release_never_frees_someone_elses_lock(guard: RedisGuard) -> None:
    locks = RedisLocks(guard, ttl_s=5, wait_s=1)

    async with locks.hold("create:1"):
        await guard.redis.set(f"{guard.prefix}:lock:create:1", "other-holder")

    assert await guard.redis.get(f"{guard.prefix}:lock:create:1") == b"other-holder"


async def test_redis_refusing_connections_is_bypassed_and_logged() -> None:
    async with open_redis(url="redis://127.0.0.1:1/0") as client:
        guard = RedisGuard(client, prefix="down")
        with capture_logs() as logs:
            assert await people_cache(guard).load("ws:db") is None
            await people_cache(guard).store("ws:db", Cached(value=PEOPLE, fetched_at=0))
            await RedisLinkRegistry(guard).remember("k", "page")
            async with RedisLocks(guard).hold("create:1"):
                ran_unlocked = True

    assert ran_unlocked
    assert [e["event"] for e in logs if e["log_level"] == "warning"][:1] == ["redis_unavailable"]
    assert any(e["event"] == "lock_local_only" for e in logs)


async def test_redis_dying_mid_run_then_coming_back() -> None:
    server = fakeredis.FakeServer()
    guard = RedisGuard(fakeredis.FakeAsyncRedis(server=server), prefix="p", cooldown_s=0.0)
    registry = RedisLinkRegistry(guard)
    await registry.remember("k", "page-1")

    server.connected = False
    assert await registry.recall("k") is None
    await registry.remember("k2", "page-2")

    server.connected = True
    assert await registry.recall("k") == "page-1"
    assert await registry.recall("k2") is None


async def test_after_a_failure_redis_is_left_alone_for_the_cooldown() -> None:
    server = fakeredis.FakeServer()
    guard = RedisGuard(fakeredis.FakeAsyncRedis(server=server), prefix="p", cooldown_s=60)
    await RedisLinkRegistry(guard).remember("k", "page-1")

    server.connected = False
    assert await RedisLinkRegistry(guard).recall("k") is None
    server.connected = True

    assert await RedisLinkRegistry(guard).recall("k") is None  # still bypassed: no call made
    assert await Redis.get(guard.redis, "p:link:k") == b"page-1"


async def test_an_unconfirmed_create_is_remembered_until_the_page_is(guard: RedisGuard) -> None:
    registry = RedisLinkRegistry(guard)

    await registry.mark_unconfirmed("k", ttl_s=30)
    assert await registry.is_unconfirmed("k")
    assert 0 < await guard.redis.pttl(f"{guard.prefix}:unconfirmed:k") <= 30_000

    await registry.remember("k", "page-1")
    assert not await registry.is_unconfirmed("k")
    assert await registry.recall("k") == "page-1"
