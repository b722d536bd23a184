import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar, cast

import structlog
from pydantic import TypeAdapter, ValidationError
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adapters.memory import HELD_KEEP_S, HOUR_S, KEPT_TOKENS, MemoryAlertBudget, MemoryLinkRegistry, MemoryLocks
from adapters.urls import without_credentials
from domain.errors import STILL_RUNNING, Conflict, StoreUnavailable
from domain.models import Cached, Finding, HeldAlert, PendingToken
from domain.ports import AlertBudget, Cache, Dependency, LinkRegistry, Locks, SyncState, VerificationTokens

log = structlog.get_logger(__name__)
T = TypeVar("T")
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
_REFUND = "if tonumber(redis.call('get', KEYS[1]) or '0') > 0 then return redis.call('decr', KEYS[1]) end return 0"
_ACQUIRE = (
    "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end "
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end "
    "return 0"
)


@contextlib.asynccontextmanager
async def open_redis(*, url: str) -> AsyncIterator["Redis"]:
    # Short timeouts: Redis is a cache here, and a slow one must not hold up Sentry's requests.
    # A blocking pool makes a burst wait briefly for a connection instead of failing as if Redis were down.
    pool = BlockingConnectionPool.from_url(
        url, max_connections=64, timeout=0.5, socket_connect_timeout=0.5, socket_timeout=0.5, health_check_interval=30
    )
    client: Redis = Redis(connection_pool=pool)
    try:
        yield client
    finally:
        await client.aclose()


# Bypasses Redis for a moment once it is down, so an outage costs one timeout, not one per request.
# A slow reply alone does not count as down: the locks would then stop excluding other replicas.
class RedisCircuitBreaker:
    def __init__(self, redis: "Redis", *, prefix: str, cooldown_s: float = 2.0, failures_to_open: int = 3) -> None:
        self.redis, self.prefix, self._cooldown_s, self._failures_to_open = redis, prefix, cooldown_s, failures_to_open
        self._opened_at: float | None = None
        self._failures = 0

    @property
    def open(self) -> bool:
        return self._opened_at is not None and time.monotonic() < self._opened_at + self._cooldown_s

    async def run(self, operation: str, call: Awaitable[T]) -> T | None:
        if self.open:
            if asyncio.iscoroutine(call):
                call.close()
            return None
        half_open = self._opened_at is not None  # the cooldown is over: this call tries Redis again
        try:
            result = await call
        except (TimeoutError, RedisError, OSError) as exc:
            self._failures += 1
            error = str(exc) or type(exc).__name__
            if half_open or _unreachable(exc) or self._failures >= self._failures_to_open:
                self._opened_at = time.monotonic()
                log.warning("redis_unavailable", operation=operation, error=error, failures=self._failures)
            else:
                log.warning("redis_call_failed", operation=operation, error=error, failures=self._failures)
            return None
        self._failures, self._opened_at = 0, None
        return result


def _unreachable(exc: BaseException) -> bool:
    # A refused or dropped connection means Redis is down; a timeout may only mean it is slow. redis-py reports a
    # full pool ("No connection available") as a ConnectionError caused by a timeout.
    slow = (TimeoutError, RedisTimeoutError)
    if isinstance(exc, slow) or isinstance(exc.__cause__, slow):
        return False
    return isinstance(exc, (RedisConnectionError, OSError))


class RedisHealth(Dependency):
    def __init__(self, redis: "Redis", *, url: str, variables: str = "REDIS_URL") -> None:
        self._redis, self._where, self._variables = redis, without_credentials(url), variables

    name = "Redis"
    required = False  # the cache, locks and links then stay within each replica

    async def diagnose(self, *, thorough: bool) -> list[Finding]:
        try:
            await self._redis.ping()
        except (TimeoutError, RedisError, OSError) as exc:
            return [
                Finding(
                    check="Redis",
                    ok=False,
                    detail=f"does not answer at {self._where}: {exc or type(exc).__name__}",
                    fix=f"Start Redis or fix {self._variables}. Until then each replica caches alone and duplicate "
                    "protection relies on the Sentry Link column.",
                )
            ]
        return [Finding(check="Redis", ok=True, detail=f"answers at {self._where}")]


class RedisCache(Cache[T]):
    def __init__(self, breaker: RedisCircuitBreaker, *, name: str, value: TypeAdapter[Cached[T]], keep_s: int) -> None:
        # Entries outlive their freshness by far, so a stale value can be served while it is refreshed.
        self._breaker, self._name, self._value, self._keep_s = breaker, name, value, keep_s

    async def load(self, key: str) -> Cached[T] | None:
        raw = await self._breaker.run(f"{self._name}.load", self._breaker.redis.get(self._key(key)))
        entry = None
        if raw is not None:
            with contextlib.suppress(ValidationError):  # written by another version: fetch again
                entry = self._value.validate_json(raw)
        return entry

    async def store(self, key: str, entry: Cached[T]) -> None:
        data = self._value.dump_json(entry)
        await self._breaker.run(f"{self._name}.store", self._breaker.redis.set(self._key(key), data, ex=self._keep_s))

    async def forget(self, key: str) -> None:
        if await self._breaker.run(f"{self._name}.forget", self._breaker.redis.delete(self._key(key))) is None:
            raise StoreUnavailable(f"Redis could not forget the cached {self._name} {key}.")

    def _key(self, key: str) -> str:
        return f"{self._breaker.prefix}:{self._name}:{key}"


class RedisLinkRegistry(LinkRegistry):
    def __init__(self, breaker: RedisCircuitBreaker) -> None:
        self._breaker = breaker
        self._local = MemoryLinkRegistry()

    async def recall(self, key: str) -> str | None:
        raw = await self._breaker.run("links.recall", self._breaker.redis.get(f"{self._breaker.prefix}:link:{key}"))
        return raw.decode() if isinstance(raw, bytes) else raw

    async def remember(self, key: str, page_id: str) -> None:
        await self._local.clear_unconfirmed(key)
        async with self._breaker.redis.pipeline(transaction=True) as both:
            both.set(f"{self._breaker.prefix}:link:{key}", page_id)
            both.delete(f"{self._breaker.prefix}:unconfirmed:{key}")
            await self._breaker.run("links.remember", both.execute())

    async def mark_unconfirmed(self, key: str, ttl_s: float) -> None:
        # Kept in this process too: with Redis down, a retry reaching this replica still finds the mark.
        await self._local.mark_unconfirmed(key, ttl_s)
        name = f"{self._breaker.prefix}:unconfirmed:{key}"
        await self._breaker.run("links.unconfirmed", self._breaker.redis.set(name, 1, px=int(ttl_s * 1000)))

    async def clear_unconfirmed(self, key: str) -> None:
        await self._local.clear_unconfirmed(key)
        await self._breaker.run(
            "links.unconfirmed", self._breaker.redis.delete(f"{self._breaker.prefix}:unconfirmed:{key}")
        )

    async def is_unconfirmed(self, key: str) -> bool:
        if await self._local.is_unconfirmed(key):
            return True
        found = await self._breaker.run(
            "links.unconfirmed", self._breaker.redis.exists(f"{self._breaker.prefix}:unconfirmed:{key}")
        )
        return bool(found)


class RedisSyncState(SyncState):
    def __init__(self, breaker: RedisCircuitBreaker, *, keep_s: int = 90 * 86400) -> None:
        # Facts about an issue matter while it lives; a quarter of silence lets them go.
        self._breaker, self._keep_s = breaker, keep_s

    async def get(self, key: str) -> str | None:
        raw = await self._breaker.run("sync.get", self._breaker.redis.get(f"{self._breaker.prefix}:sync:{key}"))
        return raw.decode() if isinstance(raw, bytes) else raw

    async def put(self, key: str, value: str) -> None:
        name = f"{self._breaker.prefix}:sync:{key}"
        await self._breaker.run("sync.put", self._breaker.redis.set(name, value, ex=self._keep_s))


class RedisLocks(Locks):
    def __init__(self, breaker: RedisCircuitBreaker, *, ttl_s: float = 60.0, wait_s: float = 20.0) -> None:
        # The TTL only frees the lock of a replica that died: a live holder renews it every third of it.
        self._breaker, self._ttl_ms, self._wait_s = breaker, int(ttl_s * 1000), wait_s
        # With Redis down, replicas cannot exclude each other; this process still excludes itself.
        self._local = MemoryLocks(wait_s=wait_s)

    @contextlib.asynccontextmanager
    async def hold(self, key: str, *, wait_s: float | None = None) -> AsyncIterator[None]:
        name, token = f"{self._breaker.prefix}:lock:{key}", secrets.token_hex(16)
        deadline = time.monotonic() + (self._wait_s if wait_s is None else wait_s)
        unsure = False  # an attempt failed: its SET may still have reached Redis
        while True:
            taken = await self._breaker.run("lock.acquire", self._acquire(name, token))
            if taken is None and self._breaker.open:
                log.warning("lock_local_only", key=key)
                async with self._local.hold(key, wait_s=wait_s):
                    yield
                return
            if taken:
                break
            unsure = unsure or taken is None
            if time.monotonic() >= deadline:
                if unsure:
                    await self._release(name, token)
                raise Conflict(STILL_RUNNING)
            await asyncio.sleep(0.05)
        renewal = asyncio.create_task(self._renew(key, name, token))
        try:
            yield
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            await self._release(name, token)

    async def _acquire(self, name: str, token: str) -> bool:
        # Also true when the key already holds our token: an earlier attempt whose reply was lost did take it.
        return bool(await self._breaker.redis.eval(_ACQUIRE, 1, name, token, self._ttl_ms))

    async def _renew(self, key: str, name: str, token: str) -> None:
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            renewed = await self._breaker.run(
                "lock.renew", self._breaker.redis.eval(_RENEW, 1, name, token, self._ttl_ms)
            )
            if renewed == 0:  # expired or taken over while Redis could not be reached: nothing left to renew
                log.warning("lock_lost", key=key)
                return

    async def _release(self, name: str, token: str) -> None:
        await self._breaker.run("lock.release", self._breaker.redis.eval(_RELEASE, 1, name, token))


class RedisVerificationTokens(VerificationTokens):
    shared = True

    def __init__(self, breaker: RedisCircuitBreaker, *, keep_s: int = 7 * 86400) -> None:
        # A week: time enough for an operator to come back to Notion's Verify dialog.
        self._breaker, self._keep_s = breaker, keep_s
        self._key = f"{breaker.prefix}:notion:verification_tokens"  # a sorted set: token by time received

    async def offer(self, token: str, received_at: float) -> bool:
        async with self._breaker.redis.pipeline(transaction=True) as kept:
            kept.zadd(self._key, {token: received_at})
            kept.zremrangebyscore(self._key, "-inf", received_at - self._keep_s)
            kept.zremrangebyrank(self._key, 0, -KEPT_TOKENS - 1)
            kept.expire(self._key, self._keep_s)
            # The circuit breaker logs `redis_unavailable` when this fails; the token is never logged.
            return await self._breaker.run("notion_tokens.offer", kept.execute()) is not None

    async def pending(self) -> list[PendingToken]:
        try:
            found = cast(
                list[tuple[bytes, float]],
                await self._breaker.redis.zrange(self._key, 0, -1, desc=True, withscores=True),
            )
        except (TimeoutError, RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis does not answer: {exc or type(exc).__name__}") from exc
        return [PendingToken(token=token.decode(), received_at=at) for token, at in found]


class RedisAlertBudget(AlertBudget):
    def __init__(self, breaker: RedisCircuitBreaker, *, clock: Callable[[], float] = time.time) -> None:
        self._breaker, self._clock = breaker, clock
        self._held_key = f"{breaker.prefix}:alerts:held"  # a sorted set: each held alert's JSON by time
        self._local = MemoryAlertBudget(clock=clock)  # counts while Redis cannot

    def _count_key(self, rule: str) -> str:
        return f"{self._breaker.prefix}:alerts:count:{rule}:{int(self._clock() // HOUR_S)}"

    async def admit(self, rule: str, limit: int) -> bool:
        key = self._count_key(rule)  # once: an hour may turn between two readings of the clock
        async with self._breaker.redis.pipeline(transaction=True) as count:
            count.incr(key)
            count.expire(key, 2 * HOUR_S)
            done = await self._breaker.run("alerts.admit", count.execute())
        if done is None:
            return await self._local.admit(rule, limit)
        return int(done[0]) <= limit

    async def refund(self, rule: str) -> None:
        # Never below zero, nor on a key the hour's turn or its expiry removed: a bare DECR would leave -1 for ever.
        refunded = self._breaker.redis.eval(_REFUND, 1, self._count_key(rule))
        if await self._breaker.run("alerts.refund", refunded) is None:
            await self._local.refund(rule)

    async def hold(self, alert: HeldAlert) -> bool:
        warned = f"{self._breaker.prefix}:alerts:warned:{alert.rule}:{int(alert.at // HOUR_S)}"
        async with self._breaker.redis.pipeline(transaction=True) as kept:
            kept.zadd(self._held_key, {alert.model_dump_json(): alert.at})
            kept.zremrangebyscore(self._held_key, "-inf", alert.at - HELD_KEEP_S)
            kept.expire(self._held_key, HELD_KEEP_S)
            kept.set(warned, 1, nx=True, ex=HOUR_S)
            done = await self._breaker.run("alerts.hold", kept.execute())
        if done is None:
            return await self._local.hold(alert)
        return bool(done[-1])

    async def held(self) -> list[HeldAlert]:
        try:
            found = cast(list[bytes], await self._breaker.redis.zrange(self._held_key, 0, -1))
        except (TimeoutError, RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis does not answer: {exc or type(exc).__name__}") from exc
        kept = []
        for raw in found:
            with contextlib.suppress(ValidationError):  # written by another version
                kept.append(HeldAlert.model_validate_json(raw))
        return kept
