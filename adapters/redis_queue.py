import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis

from adapters.redis_queue_health import queue_stats
from adapters.redis_queue_scripts import DOWN, ENQUEUE, REPLAY, QueueKeys, describe, text
from adapters.redis_queue_worker import Handle, QueueWorker, wait_unless_stopped
from domain.errors import QueueFull, QueueUnavailable
from domain.models import DeadLetter, Job, QueueStats
from domain.ports import JobQueue

_STREAM_ID = re.compile(r"\d+-\d+")
_PAGE = 500


# Redis Streams with one consumer group shared by every replica. Delivery is at least once: a job whose worker died,
# or whose acknowledgement was lost, runs again, so `handle` must be idempotent.
class RedisJobQueue(JobQueue):
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        consumer: str,
        max_attempts: int = 5,
        backoff_s: Sequence[float] = (1, 5, 30, 120),
        dedupe_s: int = 7 * 86_400,  # a captured delivery sent again within a week is refused (its key is the body)
        claim_idle_s: float = 30,
        block_ms: int = 1000,
        batch: int = 10,
        maxlen: int = 100_000,
        job_timeout_s: float = 300,
        outage_limit_s: float = 3600,
        max_pause_s: float = 60,
        wait: Callable[[asyncio.Event, float], Awaitable[None]] = wait_unless_stopped,
    ) -> None:
        self._redis, self._keys = redis, QueueKeys(prefix)
        self._worker = QueueWorker(
            redis,
            self._keys,
            consumer=consumer,
            max_attempts=max_attempts,
            backoff_s=backoff_s,
            claim_idle_s=claim_idle_s,
            block_ms=block_ms,
            batch=batch,
            maxlen=maxlen,
            job_timeout_s=job_timeout_s,
            outage_limit_s=outage_limit_s,
            max_pause_s=max_pause_s,
            wait=wait,
        )
        self._dedupe_s, self._maxlen = dedupe_s, maxlen
        self._enqueue = redis.register_script(ENQUEUE)
        self._replay = redis.register_script(REPLAY)

    async def enqueue(self, job: Job) -> bool:
        try:
            added = await self._enqueue(
                keys=[self._keys.seen + job.key, self._keys.jobs],
                args=[self._dedupe_s, self._maxlen, job.model_dump_json()],
            )
        except DOWN as exc:
            raise QueueUnavailable(f"Redis did not take the job: {describe(exc)}") from exc
        if added == -1:
            raise QueueFull(f"the job queue holds {self._maxlen} unfinished jobs; is a worker running?")
        return bool(added == 1)

    async def work(self, handle: Handle, *, stop: asyncio.Event) -> None:
        await self._worker.work(handle, stop=stop)

    async def stats(self) -> QueueStats:
        return await queue_stats(self._redis, self._keys)

    async def dead_letters(self) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        start = "-"
        try:
            while True:
                page = _entries(await self._redis.xrange(self._keys.dead, min=start, max="+", count=_PAGE))
                letters.extend(_dead_letter(entry_id, fields) for entry_id, fields in page)
                if len(page) < _PAGE:
                    return letters
                start = f"({page[-1][0]}"
        except DOWN as exc:
            raise QueueUnavailable(f"Redis did not list the dead letters: {describe(exc)}") from exc

    async def replay(self, ids: Sequence[str]) -> list[str]:
        replayed: list[str] = []
        try:
            if ids:
                wanted = [i for i in dict.fromkeys(ids) if _STREAM_ID.fullmatch(i)]
                for at in range(0, len(wanted), 100):
                    replayed += await self._replay_ids(wanted[at : at + 100])
                return replayed
            # Everything present now; letters buried while this runs are left for the next replay.
            newest = _entries(await self._redis.xrevrange(self._keys.dead, max="+", min="-", count=1))
            while newest:
                page = _entries(await self._redis.xrange(self._keys.dead, min="-", max=newest[0][0], count=100))
                if not page:
                    break
                replayed += await self._replay_ids([e[0] for e in page])
        except DOWN as exc:
            raise QueueUnavailable(f"Redis did not replay the dead letters: {describe(exc)}") from exc
        return replayed

    async def _replay_ids(self, ids: list[str]) -> list[str]:
        return [text(i) for i in await self._replay(keys=[self._keys.dead, self._keys.jobs], args=ids)]


def _entries(reply: Any) -> list[tuple[str, dict[Any, Any]]]:
    return [(text(entry_id), fields or {}) for entry_id, fields in reply or [] if entry_id is not None]


def _dead_letter(entry_id: str, fields: dict[Any, Any]) -> DeadLetter:
    def field(name: str) -> str:
        return text(fields.get(name.encode(), fields.get(name, b"")))

    raw = field("job")
    try:
        job = Job.model_validate_json(raw)
    except ValidationError:
        job = Job(kind="unreadable", key=f"unreadable:{field('source')}", body={"raw": raw}, received_at=0)
    return DeadLetter(
        id=entry_id,
        job=job,
        attempts=int(field("attempts") or 0),
        error=field("error"),
        failed_at=float(field("failed_at") or 0),
    )
