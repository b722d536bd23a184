import asyncio
import math
import time

import structlog

from adapters.redis_store import RedisCircuitBreaker
from domain import deadline
from domain.errors import RateLimited

log = structlog.get_logger(__name__)

# GCRA with a reservation: every caller gets the next free slot and sleeps until it, so replicas
# queue fairly on one shared key. Redis's own clock keeps replicas with skewed clocks in step.
# ARGV: interval, burst, max_wait, below, hold (ms). A caller takes a slot only if its wait is at most
# max_wait and the bucket's backlog (how far the schedule runs ahead of now) is below `below` (-1: any).
# Returns the wait, or minus the time until the caller may try again. A hold instead pushes the
# schedule so that nobody sends anything before it is over, then resumes at the steady rate.
# Searches also pass KEYS[2], their own schedule at their share of the rate (ARGV 6 and 7: its interval
# and burst), so that even with nothing else to do they never take more than that share.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, burst, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local below, hold = tonumber(ARGV[4]), tonumber(ARGV[5])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local own
if #KEYS > 1 then
  own = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), now)
  local early = own - now - tonumber(ARGV[7])
  if early > 0 then return -math.max(1, math.ceil(early)) end
end
local wait = 0
if hold > 0 then
  tat = math.max(tat, now + hold + burst)
else
  wait = math.max(0, tat - now - burst)
  local over = below >= 0 and tat - now - below + 1 or 0
  if wait > max_wait or over > 0 then return -math.max(1, math.ceil(math.max(wait, over))) end
  tat = tat + interval
end
redis.call('SET', KEYS[1], tat, 'PX', math.ceil(tat - now + 1000))
if own then
  own = own + tonumber(ARGV[6])
  redis.call('SET', KEYS[2], own, 'PX', math.ceil(own - now + 1000))
end
return math.ceil(wait)
"""

# Jobs leave the last tenth of the burst to writes a person waits on; searches leave what their share does not take.
_JOBS_SHARE = 0.9
# A Retry-After beyond this is more likely a misread date than Notion's wish; the job queue retries later anyway.
_LONGEST_HOLD_S = 300.0


class LocalRateLimiter:
    def __init__(self, *, per_minute: float, burst: int) -> None:
        self._interval_s = 60.0 / per_minute
        self._burst_s = self._interval_s * (burst - 1)
        self._tat = 0.0

    def reserve(self, max_wait_s: float, below_s: float = math.inf) -> float:
        now = time.monotonic()
        tat = max(self._tat, now)
        wait = max(0.0, tat - now - self._burst_s)
        over = tat - now - below_s
        if wait > max_wait_s or over >= 0:
            return -max(wait, over + 0.001)
        self._tat = tat + self._interval_s
        return wait

    def hold_off(self, seconds: float) -> None:
        now = time.monotonic()
        self._tat = max(self._tat, now + seconds + self._burst_s)

    def give_back(self) -> None:
        self._tat -= self._interval_s


class NotionRateLimiter:
    """Keeps all replicas together under one Notion budget; alone when Redis is down.

    Writes a person waits on take any slot of the burst and queue for the next one; jobs (no deadline) take
    one while the bucket is below 90 % and otherwise poll; searches take one while it is below their share
    and otherwise fail at once, so a burst of them never delays a write.
    """

    def __init__(
        self,
        breaker: RedisCircuitBreaker | None,
        *,
        key: str,
        per_minute: int,
        burst: int = 0,
        max_wait_s: float = 30.0,
        job_wait_s: float = 120.0,
        search_share: float = 0.5,
    ) -> None:
        # Notion counts requests per 60-second window and lets a window be spent in a burst.
        burst = burst or max(1, per_minute // 6)
        self._breaker, self._key, self._max_wait_s, self._job_wait_s = breaker, key, max_wait_s, job_wait_s
        self._interval_ms, self._burst_ms = 60_000 / per_minute, 60_000 / per_minute * (burst - 1)
        capacity_ms = self._interval_ms * burst
        self._below_ms = {
            "interactive": math.inf,
            "job": _JOBS_SHARE * capacity_ms,
            "search": search_share * capacity_ms,
        }
        self._local = LocalRateLimiter(per_minute=per_minute, burst=burst)
        # Searches' own schedule: their share of the rate and of the burst, on a key of their own.
        search_burst = max(1, math.ceil(search_share * burst))
        self._search_key, self._search_interval_ms = f"{key}:searches", 60_000 / (search_share * per_minute)
        self._search_burst_ms = self._search_interval_ms * (search_burst - 1)
        self._local_searches = LocalRateLimiter(per_minute=search_share * per_minute, burst=search_burst)
        # A registered script is sent by its hash: one small command per Notion call.
        self._script = breaker.redis.register_script(_GCRA) if breaker is not None else None

    async def acquire(self) -> None:
        priority, left = deadline.priority(), deadline.remaining()
        if priority == "interactive":
            max_wait_s = self._max_wait_s if left is None else min(self._max_wait_s, left)
            wait_s = await self._reserve(max_wait_s, math.inf)
        else:
            # Jobs and searches never queue: a slot reserved ahead would sit in front of the next write.
            below_s, search = self._below_ms[priority] / 1000, priority == "search"
            give_up_at = time.monotonic() + (self._job_wait_s if left is None else min(self._job_wait_s, left))
            wait_s = await self._reserve(0.0, below_s, search=search)
            while priority == "job" and wait_s < 0 and time.monotonic() - wait_s <= give_up_at:
                await asyncio.sleep(-wait_s)
                wait_s = await self._reserve(0.0, below_s)
        if wait_s < 0:
            retry_after = max(1, math.ceil(-wait_s))
            spent = (
                "Searches have used their share (NOTION_SEARCH_SHARE) of the Notion rate limit"
                if priority == "search"
                # A hold Notion asked for (429) lands in the same shared budget: name both causes.
                else "Notion's request budget is spent (NOTION_RATE_LIMIT, or a wait Notion asked for with a 429)"
            )
            raise RateLimited(f"{spent}; try again in {retry_after} seconds.", retry_after)
        if wait_s > 0:
            await asyncio.sleep(wait_s)

    async def hold_off(self, seconds: float) -> None:
        """Holds every replica and worker off Notion for `seconds`, as Notion's Retry-After asks."""
        seconds = min(seconds, _LONGEST_HOLD_S)
        if seconds <= 0:
            return
        log.warning("notion_hold_off", seconds=seconds)
        self._local.hold_off(seconds)  # also when Redis answers: the pause must outlive a Redis outage
        await self._shared(0.0, math.inf, hold_s=seconds)

    async def _reserve(self, max_wait_s: float, below_s: float, *, search: bool = False) -> float:
        wait_s = await self._shared(max_wait_s, below_s, search=search)
        if wait_s is None:  # Redis is down: fall back to this process's own budget
            wait_s = self._local_searches.reserve(0.0) if search else 0.0
            if wait_s >= 0:
                wait_s = self._local.reserve(max_wait_s, below_s)
                if search and wait_s < 0:
                    self._local_searches.give_back()
        return wait_s

    async def _shared(
        self, max_wait_s: float, below_s: float, hold_s: float = 0.0, *, search: bool = False
    ) -> float | None:
        if self._breaker is None or self._script is None:
            return None
        below_ms = below_s * 1000 if math.isfinite(below_s) else -1
        keys, args = [self._key], [self._interval_ms, self._burst_ms, max_wait_s * 1000, below_ms, hold_s * 1000]
        if search:
            keys, args = [*keys, self._search_key], [*args, self._search_interval_ms, self._search_burst_ms]
        result = await self._breaker.run("rate_limit", self._script(keys=keys, args=args))
        return None if result is None else float(result) / 1000
