import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import fakeredis
import pytest
from pydantic import TypeAdapter
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from structlog.testing import capture_logs

from adapters.redis_store import (
    RedisAlertBudget,
    RedisCache,
    RedisCircuitBreaker,
    RedisLinkRegistry,
    RedisLocks,
    RedisVerificationTokens,
    open_redis,
)
from domain.errors import Conflict, StoreUnavailable
from domain.models import Assignee, Cached, PendingToken
from tests.support.real_redis import REDIS_DOWN, REDIS_URL

PEOPLE = [Assignee(id="u-ada", name="Ada Lovelace", email="ada@example.org"), Assignee(id="u-bob", name="Bob")]


@pytest.fixture(params=["real", "fake"])
async def breaker(request: pytest.FixtureRequest) -> AsyncIterator[RedisCircuitBreaker]:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    if request.param == "fake":
        yield RedisCircuitBreaker(fakeredis.FakeAsyncRedis(), prefix=prefix)
        return
    async with open_redis(url=REDIS_URL) as client:
        yield RedisCircuitBreaker(client, prefix=prefix)
        keys = [k async for k in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)


def people_cache(breaker: RedisCircuitBreaker) -> RedisCache[list[Assignee]]:
    return RedisCache(breaker, name="assignees", value=TypeAdapter(Cached[list[Assignee]]), keep_s=60)


async def test_cached_values_round_trip_with_their_age_and_expiry(breaker: RedisCircuitBreaker) -> None:
    cache = people_cache(breaker)

    assert await cache.load("ws:db") is None
    await cache.store("ws:db", Cached(value=PEOPLE, fetched_at=1234.5))

    assert await cache.load("ws:db") == Cached(value=PEOPLE, fetched_at=1234.5)
    assert await cache.load("ws:other-db") is None
    assert 0 < await breaker.redis.ttl(f"{breaker.prefix}:assignees:ws:db") <= 60


async def test_unreadable_cache_entry_is_a_miss(breaker: RedisCircuitBreaker) -> None:
    await breaker.redis.set(f"{breaker.prefix}:assignees:ws:db", b"not json")

    assert await people_cache(breaker).load("ws:db") is None


async def test_registry_remembers_pages(breaker: RedisCircuitBreaker) -> None:
    registry = RedisLinkRegistry(breaker)

    assert await registry.recall("ws:db:inst:1") is None
    await registry.remember("ws:db:inst:1", "page-1")

    assert await registry.recall("ws:db:inst:1") == "page-1"


async def test_lock_serialises_holders(breaker: RedisCircuitBreaker) -> None:
    locks = RedisLocks(breaker, ttl_s=5, wait_s=5)
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
    assert await breaker.redis.exists(f"{breaker.prefix}:lock:create:1") == 0


async def test_a_lock_held_too_long_is_a_conflict_and_expires(breaker: RedisCircuitBreaker) -> None:
    locks = RedisLocks(breaker, ttl_s=0.3, wait_s=0.05)

    async with locks.hold("create:1"):
        with pytest.raises(Conflict):
            async with locks.hold("create:1"):
                pass
    # A replica that died holding the lock: its key expires with the TTL.
    await breaker.redis.set(f"{breaker.prefix}:lock:create:2", "dead-replica", px=100)
    async with RedisLocks(breaker, ttl_s=1, wait_s=2).hold("create:2"):
        assert await breaker.redis.get(f"{breaker.prefix}:lock:create:2") != b"dead-replica"


async def test_release_never_frees_someone_elses_lock(breaker: RedisCircuitBreaker) -> None:
    locks = RedisLocks(breaker, ttl_s=5, wait_s=1)

    async with locks.hold("create:1"):
        await breaker.redis.set(f"{breaker.prefix}:lock:create:1", "other-holder")

    assert await breaker.redis.get(f"{breaker.prefix}:lock:create:1") == b"other-holder"


async def test_redis_refusing_connections_is_bypassed_and_logged() -> None:
    async with open_redis(url=REDIS_DOWN) as client:
        breaker = RedisCircuitBreaker(client, prefix="down")
        with capture_logs() as logs:
            assert await people_cache(breaker).load("ws:db") is None
            await people_cache(breaker).store("ws:db", Cached(value=PEOPLE, fetched_at=0))
            await RedisLinkRegistry(breaker).remember("k", "page")
            async with RedisLocks(breaker).hold("create:1"):
                ran_unlocked = True

    assert ran_unlocked
    assert [e["event"] for e in logs if e["log_level"] == "warning"][:1] == ["redis_unavailable"]
    assert any(e["event"] == "lock_local_only" for e in logs)


async def test_a_value_redis_cannot_forget_is_said_to_be_maybe_still_there() -> None:
    server = fakeredis.FakeServer()
    cache = people_cache(RedisCircuitBreaker(fakeredis.FakeAsyncRedis(server=server), prefix="p"))
    await cache.store("ws:db", Cached(value=PEOPLE, fetched_at=0))
    server.connected = False

    with pytest.raises(StoreUnavailable):
        await cache.forget("ws:db")


async def test_redis_dying_mid_run_then_coming_back() -> None:
    server = fakeredis.FakeServer()
    breaker = RedisCircuitBreaker(fakeredis.FakeAsyncRedis(server=server), prefix="p", cooldown_s=0.0)
    registry = RedisLinkRegistry(breaker)
    await registry.remember("k", "page-1")

    server.connected = False
    assert await registry.recall("k") is None
    await registry.remember("k2", "page-2")

    server.connected = True
    assert await registry.recall("k") == "page-1"
    assert await registry.recall("k2") is None


async def test_after_redis_drops_the_connection_it_is_left_alone_for_the_cooldown() -> None:
    server = fakeredis.FakeServer()
    breaker = RedisCircuitBreaker(fakeredis.FakeAsyncRedis(server=server), prefix="p", cooldown_s=60)
    await RedisLinkRegistry(breaker).remember("k", "page-1")

    server.connected = False
    assert await RedisLinkRegistry(breaker).recall("k") is None
    server.connected = True

    assert await RedisLinkRegistry(breaker).recall("k") is None  # still bypassed: no call made
    assert await Redis.get(breaker.redis, "p:link:k") == b"page-1"


async def test_an_unconfirmed_create_is_remembered_until_the_page_is(breaker: RedisCircuitBreaker) -> None:
    registry = RedisLinkRegistry(breaker)

    await registry.mark_unconfirmed("k", ttl_s=30)
    assert await registry.is_unconfirmed("k")
    assert 0 < await breaker.redis.pttl(f"{breaker.prefix}:unconfirmed:k") <= 30_000

    await registry.remember("k", "page-1")
    assert not await registry.is_unconfirmed("k")
    assert await registry.recall("k") == "page-1"


def _pool_wait() -> Exception:
    # How redis-py's BlockingConnectionPool reports that no connection came free in time.
    error = RedisConnectionError("No connection available.")
    error.__cause__ = TimeoutError()
    return error


SLOW = {"reply": lambda: RedisTimeoutError("Timeout reading from socket"), "pool": _pool_wait}


class SlowReplies(fakeredis.FakeAsyncRedis):
    """Runs each command, then loses the reply of the next `late` ones, as a socket timeout does."""

    def __init__(self, *, late: int, error: Callable[[], Exception], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.late, self._error = late, error

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        result = await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        if self.late > 0:
            self.late -= 1
            raise self._error()
        return result


@pytest.mark.parametrize("slow", SLOW)
async def test_slow_replies_never_let_two_replicas_hold_one_lock(slow: str) -> None:
    server = fakeredis.FakeServer()
    replicas = [
        RedisLocks(RedisCircuitBreaker(SlowReplies(server=server, late=2, error=SLOW[slow]), prefix="p"), wait_s=5),
        RedisLocks(RedisCircuitBreaker(fakeredis.FakeAsyncRedis(server=server), prefix="p"), wait_s=5),
    ]
    inside, overlaps, done = 0, 0, 0

    async def hold(locks: RedisLocks) -> None:
        nonlocal inside, overlaps, done
        async with locks.hold("create:1"):
            inside += 1
            overlaps += inside > 1
            await asyncio.sleep(0.05)
            inside -= 1
            done += 1

    with capture_logs() as logs:
        await asyncio.gather(*(hold(locks) for locks in replicas * 2))

    assert (overlaps, done) == (0, 4)
    assert not any(e["event"] in ("lock_local_only", "redis_unavailable") for e in logs)
    assert await fakeredis.FakeAsyncRedis(server=server).exists("p:lock:create:1") == 0


async def test_a_slow_reply_with_no_time_to_wait_is_a_conflict_that_leaves_no_lock_behind() -> None:
    server = fakeredis.FakeServer()
    breaker = RedisCircuitBreaker(SlowReplies(server=server, late=1, error=SLOW["reply"]), prefix="p")

    with pytest.raises(Conflict):
        async with RedisLocks(breaker).hold("create:1", wait_s=0):
            pass

    assert not breaker.open
    assert await fakeredis.FakeAsyncRedis(server=server).exists("p:lock:create:1") == 0


async def test_the_breaker_opens_after_consecutive_timeouts_and_half_opens_after_the_cooldown() -> None:
    redis = SlowReplies(late=2, error=SLOW["reply"])
    breaker = RedisCircuitBreaker(redis, prefix="p", cooldown_s=0.2, failures_to_open=3)

    assert await breaker.run("t", redis.set("k", 1)) is None
    assert await breaker.run("t", redis.set("k", 1)) is None
    assert await breaker.run("t", redis.get("k")) == b"1"  # a success in between starts the count again
    redis.late = 3
    for _ in range(2):
        assert await breaker.run("t", redis.get("k")) is None
        assert not breaker.open
    assert await breaker.run("t", redis.get("k")) is None
    assert breaker.open
    assert await breaker.run("t", redis.get("k")) is None  # bypassed: the reply is not even asked for
    assert redis.late == 0

    await asyncio.sleep(0.25)
    assert not breaker.open
    redis.late = 1
    assert await breaker.run("t", redis.get("k")) is None  # half-open: one failure opens it again
    assert breaker.open


async def test_a_held_lock_is_renewed_until_it_is_released(breaker: RedisCircuitBreaker) -> None:
    locks = RedisLocks(breaker, ttl_s=0.3, wait_s=0)
    name = f"{breaker.prefix}:lock:create:1"

    async with locks.hold("create:1"):
        for _ in range(15):  # five times the TTL
            with pytest.raises(Conflict):
                async with locks.hold("create:1"):
                    pass
            await asyncio.sleep(0.1)
        assert 0 < await breaker.redis.pttl(name) <= 300

    assert await breaker.redis.exists(name) == 0


async def test_a_lock_taken_over_while_held_is_logged_and_not_renewed(breaker: RedisCircuitBreaker) -> None:
    name = f"{breaker.prefix}:lock:create:1"

    with capture_logs() as logs:
        async with RedisLocks(breaker, ttl_s=0.3).hold("create:1"):
            await breaker.redis.set(name, "other-replica", px=5000)
            await asyncio.sleep(0.25)

    assert [e["key"] for e in logs if e["event"] == "lock_lost"] == ["create:1"]
    assert await breaker.redis.pttl(name) > 4000


async def test_handshake_tokens_are_kept_newest_first_few_and_for_a_week(breaker: RedisCircuitBreaker) -> None:
    tokens = RedisVerificationTokens(breaker, keep_s=7 * 86400)
    now = time.time()
    for n in range(7):
        assert await tokens.offer(f"secret_{n}", now - 100 + n)
    await tokens.offer("secret_2", now)  # Notion's Resend token: the same token, newer

    newest = [("secret_2", now), ("secret_6", now - 94), ("secret_5", now - 95), ("secret_4", now - 96)]
    assert await tokens.pending() == [
        PendingToken(token=t, received_at=at) for t, at in [*newest, ("secret_3", now - 97)]
    ]
    assert 0 < await breaker.redis.ttl(f"{breaker.prefix}:notion:verification_tokens") <= 7 * 86400
    await tokens.offer("secret_new", now + 8 * 86400)  # a week later: the others have expired
    assert [t.token for t in await tokens.pending()] == ["secret_new"]


async def test_handshake_tokens_without_redis_are_not_kept_and_cannot_be_read() -> None:
    async with open_redis(url=REDIS_DOWN) as client:
        tokens = RedisVerificationTokens(RedisCircuitBreaker(client, prefix="down"))
        with capture_logs() as logs:
            assert await tokens.offer("secret_unkept", 1.0) is False
        with pytest.raises(StoreUnavailable):
            await tokens.pending()

    assert [entry["event"] for entry in logs] == ["redis_unavailable"]
    assert "secret_unkept" not in repr(logs)


async def test_an_alert_refund_never_leaves_a_count_below_zero(breaker: RedisCircuitBreaker) -> None:
    now = [3_600.0 * 1000 + 3_599]
    budget = RedisAlertBudget(breaker, clock=lambda: now[0])
    assert await budget.admit("42", 1)
    now[0] += 1  # the hour turns before the create fails and gives its slot back

    await budget.refund("42")

    counts = [key async for key in breaker.redis.scan_iter(f"{breaker.prefix}:alerts:count:*")]
    assert [await breaker.redis.get(key) for key in sorted(counts)] in ([b"1"], ["1"])  # last hour's, left as it was
    assert await budget.admit("42", 1)  # this hour's slot is still whole
    assert not await budget.admit("42", 1)
