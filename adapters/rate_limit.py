import asyncio
import math
import time

import structlog

from adapters.redis_store import RedisCircuitBreaker
from domain import budget
from domain.errors import RateLimited

log = structlog.get_logger(__name__)

# GCRA with a reservation: every caller gets the next free slot and sleeps until it, so replicas
# queue fairly on one shared key. Redis's own clock keeps replicas with skewed clocks in step.
# Returns the wait in ms, or minus the wait when it is longer than the caller can afford.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, burst, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = math.max(0, tat - now - burst)
if wait > max_wait then return -wait end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil(tat + interval - now + 1000))
return wait
"""


class LocalRateLimiter:
    def __init__(self, *, per_minute: int, burst: int) -> None:
        self._interval_s = 60.0 / per_minute
        self._burst_s = self._interval_s * (burst - 1)
        self._tat = 0.0

    def reserve(self, max_wait_s: float) -> float:
        now = time.monotonic()
        tat = max(self._tat, now)
        wait = max(0.0, tat - now - self._burst_s)
        if wait > max_wait_s:
            return -wait
        self._tat = tat + self._interval_s
        return wait


class NotionRateLimiter:
    """Keeps all replicas together under one Notion budget; alone when Redis is down."""

    def __init__(
        self, guard: RedisCircuitBreaker | None, *, key: str, per_minute: int, burst: int = 0, max_wait_s: float = 30.0
    ) -> None:
        # Notion counts requests per 60-second window and lets a window be spent in a burst.
        burst = burst or max(1, per_minute // 6)
        self._guard, self._key, self._max_wait_s = guard, key, max_wait_s
        self._interval_ms, self._burst_ms = 60_000 / per_minute, 60_000 / per_minute * (burst - 1)
        self._local = LocalRateLimiter(per_minute=per_minute, burst=burst)
        # A registered script is sent by its hash: one small command per Notion call.
        self._script = guard.redis.register_script(_GCRA) if guard is not None else None

    async def acquire(self) -> None:
        left = budget.remaining()
        max_wait_s = self._max_wait_s if left is None else min(self._max_wait_s, left)
        wait_s = await self._shared(max_wait_s)
        if wait_s is None:  # Redis is down: fall back to this process's own budget
            wait_s = self._local.reserve(max_wait_s)
        if wait_s < 0:
            retry_after = max(1, math.ceil(-wait_s))
            raise RateLimited(
                f"The Notion rate limit set by NOTION_RATE_LIMIT is used up; try again in {retry_after} seconds.",
                retry_after,
            )
        if wait_s > 0:
            await asyncio.sleep(wait_s)

    async def _shared(self, max_wait_s: float) -> float | None:
        if self._guard is None or self._script is None:
            return None
        call = self._script(keys=[self._key], args=[self._interval_ms, self._burst_ms, max_wait_s * 1000])
        result = await self._guard.run("rate_limit", call)
        return None if result is None else float(result) / 1000
