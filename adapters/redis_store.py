import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import structlog
from pydantic import TypeAdapter, ValidationError
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from adapters.memory import MemoryLinkRegistry, MemoryLocks
from domain.errors import STILL_RUNNING, Conflict
from domain.models import Cached, Finding
from domain.ports import Cache, Dependency, LinkRegistry, Locks, SyncState

log = structlog.get_logger(__name__)
T = TypeVar("T")
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


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


# Bypasses Redis for a moment after it fails, so an outage costs one timeout, not one per request.
class RedisGuard:
    def __init__(self, redis: "Redis", *, prefix: str, cooldown_s: float = 2.0) -> None:
        self.redis, self.prefix, self._cooldown_s = redis, prefix, cooldown_s
        self._down_until = 0.0

    async def run(self, operation: str, call: Awaitable[T]) -> T | None:
        if time.monotonic() < self._down_until:
            if asyncio.iscoroutine(call):
                call.close()
            return None
        try:
            return await call
        except (TimeoutError, RedisError, OSError) as exc:
            self._down_until = time.monotonic() + self._cooldown_s
            log.warning("redis_unavailable", operation=operation, error=str(exc) or type(exc).__name__)
            return None


class RedisHealth(Dependency):
    def __init__(self, redis: "Redis", *, url: str) -> None:
        self._redis, self._where = redis, _without_password(url)

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
                    fix="Start Redis or fix REDIS_URL. Until then each replica caches alone and duplicate "
                    "protection relies on the Sentry Link column.",
                )
            ]
        return [Finding(check="Redis", ok=True, detail=f"answers at {self._where}")]


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))


class RedisCache(Cache[T]):
    def __init__(self, guard: RedisGuard, *, name: str, value: TypeAdapter[Cached[T]], keep_s: int) -> None:
        # Entries outlive their freshness by far, so a stale value can be served while it is refreshed.
        self._guard, self._name, self._value, self._keep_s = guard, name, value, keep_s

    async def load(self, key: str) -> Cached[T] | None:
        raw = await self._guard.run(f"{self._name}.load", self._guard.redis.get(self._key(key)))
        entry = None
        if raw is not None:
            with contextlib.suppress(ValidationError):  # written by another version: fetch again
                entry = self._value.validate_json(raw)
        return entry

    async def store(self, key: str, entry: Cached[T]) -> None:
        data = self._value.dump_json(entry)
        await self._guard.run(f"{self._name}.store", self._guard.redis.set(self._key(key), data, ex=self._keep_s))

    def _key(self, key: str) -> str:
        return f"{self._guard.prefix}:{self._name}:{key}"


class RedisLinkRegistry(LinkRegistry):
    def __init__(self, guard: RedisGuard) -> None:
        self._guard = guard
        self._local = MemoryLinkRegistry()

    async def recall(self, key: str) -> str | None:
        raw = await self._guard.run("links.recall", self._guard.redis.get(f"{self._guard.prefix}:link:{key}"))
        return raw.decode() if isinstance(raw, bytes) else raw

    async def remember(self, key: str, page_id: str) -> None:
        await self._local.clear_unconfirmed(key)
        async with self._guard.redis.pipeline(transaction=True) as both:
            both.set(f"{self._guard.prefix}:link:{key}", page_id)
            both.delete(f"{self._guard.prefix}:unconfirmed:{key}")
            await self._guard.run("links.remember", both.execute())

    async def mark_unconfirmed(self, key: str, ttl_s: float) -> None:
        # Kept in this process too: with Redis down, a retry reaching this replica still finds the mark.
        await self._local.mark_unconfirmed(key, ttl_s)
        name = f"{self._guard.prefix}:unconfirmed:{key}"
        await self._guard.run("links.unconfirmed", self._guard.redis.set(name, 1, px=int(ttl_s * 1000)))

    async def clear_unconfirmed(self, key: str) -> None:
        await self._local.clear_unconfirmed(key)
        await self._guard.run("links.unconfirmed", self._guard.redis.delete(f"{self._guard.prefix}:unconfirmed:{key}"))

    async def is_unconfirmed(self, key: str) -> bool:
        if await self._local.is_unconfirmed(key):
            return True
        found = await self._guard.run(
            "links.unconfirmed", self._guard.redis.exists(f"{self._guard.prefix}:unconfirmed:{key}")
        )
        return bool(found)


class RedisSyncState(SyncState):
    def __init__(self, guard: RedisGuard, *, keep_s: int = 90 * 86400) -> None:
        # Facts about an issue matter while it lives; a quarter of silence lets them go.
        self._guard, self._keep_s = guard, keep_s

    async def get(self, key: str) -> str | None:
        raw = await self._guard.run("sync.get", self._guard.redis.get(f"{self._guard.prefix}:sync:{key}"))
        return raw.decode() if isinstance(raw, bytes) else raw

    async def put(self, key: str, value: str) -> None:
        name = f"{self._guard.prefix}:sync:{key}"
        await self._guard.run("sync.put", self._guard.redis.set(name, value, ex=self._keep_s))


class RedisLocks(Locks):
    def __init__(self, guard: RedisGuard, *, ttl_s: float = 60.0, wait_s: float = 20.0) -> None:
        self._guard, self._ttl_ms, self._wait_s = guard, int(ttl_s * 1000), wait_s
        # With Redis down, replicas cannot exclude each other; this process still excludes itself.
        self._local = MemoryLocks(wait_s=wait_s)

    @contextlib.asynccontextmanager
    async def hold(self, key: str, *, wait_s: float | None = None) -> AsyncIterator[None]:
        name, token = f"{self._guard.prefix}:lock:{key}", secrets.token_hex(16)
        deadline = time.monotonic() + (self._wait_s if wait_s is None else wait_s)
        while True:
            taken = await self._guard.run("lock.acquire", self._acquire(name, token))
            if taken is None:
                log.warning("lock_local_only", key=key)
                async with self._local.hold(key, wait_s=wait_s):
                    yield
                return
            if taken:
                break
            if time.monotonic() >= deadline:
                raise Conflict(STILL_RUNNING)
            await asyncio.sleep(0.05)
        try:
            yield
        finally:
            if taken:
                await self._guard.run("lock.release", self._guard.redis.eval(_RELEASE, 1, name, token))

    async def _acquire(self, name: str, token: str) -> bool:
        # SET NX answers nil when the key is taken: make that False, so None keeps meaning "Redis is down".
        return bool(await self._guard.redis.set(name, token, nx=True, px=self._ttl_ms))
