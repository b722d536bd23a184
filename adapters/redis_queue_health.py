import time

import structlog
from redis.asyncio import Redis

from adapters.redis_queue_scripts import BEAT, DOWN, FORGET, GROUP, STATS, WAITING, QueueKeys, describe
from domain.errors import QueueUnavailable
from domain.models import Finding, QueueStats
from domain.ports import Dependency, JobQueue

log = structlog.get_logger(__name__)

_FORGET_CONSUMER_MS = 3_600_000
_BEAT_S, _LIVE_MS = 5.0, 30_000  # a worker that has not beaten for 30 s is taken for gone


# Each worker scores itself in a sorted set, so `stats` can count the live ones and `check` tell a queue nobody
# works from a busy one.
class Heartbeat:
    def __init__(self, redis: Redis, keys: QueueKeys, *, consumer: str) -> None:
        self._keys, self._consumer, self._beaten_at = keys, consumer, float("-inf")
        self._beat = redis.register_script(BEAT)
        self._forget = redis.register_script(FORGET)

    async def beat(self) -> None:
        # From the work loop, and while a job runs or waits out an outage, so a busy worker still counts as live.
        if time.monotonic() - self._beaten_at < _BEAT_S:
            return
        await self._beat(keys=[self._keys.workers], args=[self._consumer, _FORGET_CONSUMER_MS])
        self._beaten_at = time.monotonic()

    async def forget_gone(self) -> None:
        gone = await self._forget(keys=[self._keys.jobs], args=[GROUP, _FORGET_CONSUMER_MS, self._consumer, WAITING])
        if gone:
            log.info("queue_consumers_forgotten", count=int(gone))


async def queue_stats(redis: Redis, keys: QueueKeys) -> QueueStats:
    try:
        depth, age_ms, dead, workers = await redis.eval(STATS, 3, keys.jobs, keys.dead, keys.workers, _LIVE_MS)
    except DOWN as exc:
        raise QueueUnavailable(f"Redis did not describe the queue: {describe(exc)}") from exc
    return QueueStats(depth=int(depth), oldest_age_s=int(age_ms) / 1000, dead_letters=int(dead), workers=int(workers))


# For `check`: jobs that wait while no worker runs are webhooks nobody applies.
class RedisQueueHealth(Dependency):
    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue

    name = "Job queue"
    required = False

    async def diagnose(self, *, thorough: bool) -> list[Finding]:
        try:
            stats = await self._queue.stats()
        except QueueUnavailable:
            return []  # the Redis check says why
        if stats.depth and not stats.workers:
            return [
                Finding(
                    check=self.name,
                    ok=False,
                    detail=f"{stats.depth} job(s) waiting, the oldest for {stats.oldest_age_s:.0f} s, "
                    f"and no worker seen in the last {_LIVE_MS // 1000} s",
                    fix="Run `sentry-notion worker`, or serve without --no-worker.",
                )
            ]
        detail = f"{stats.depth} job(s) waiting, {stats.workers} worker(s) seen, {stats.dead_letters} dead letter(s)"
        return [Finding(check=self.name, ok=True, detail=detail)]
