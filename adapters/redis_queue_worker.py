import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.redis_queue_health import Heartbeat
from adapters.redis_queue_scripts import DOWN, EXPIRE, FAIL, GROUP, RELEASE, TOUCH, WAITING, QueueKeys, describe, text
from domain.errors import Unavailable
from domain.models import Job

log = structlog.get_logger(__name__)

Handle = Callable[[Job], Awaitable[None]]
_SCAN = 1000  # pending entries examined per round; far more than workers x batch in flight
_PAUSE_S, _MAX_PAUSE_S = 0.5, 5.0
_ERROR_CHARS = 2000
_HANDED_BACK_IDLE_MS = 365 * 86_400_000


async def wait_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


@dataclass(frozen=True)
class _Delivery:
    id: str
    raw: bytes | None  # None when the entry has no job field


# One consumer of the group shared by every replica. It runs its jobs one at a time, retried jobs first, then new
# ones in the order they came.
class QueueWorker:
    def __init__(
        self,
        redis: Redis,
        keys: QueueKeys,
        *,
        consumer: str,
        max_attempts: int,
        backoff_s: Sequence[float],
        claim_idle_s: float,
        block_ms: int,
        batch: int,
        maxlen: int,
        job_timeout_s: float,
        outage_limit_s: float,
        max_pause_s: float,
        wait: Callable[[asyncio.Event, float], Awaitable[None]],
    ) -> None:
        if not consumer or consumer == WAITING:
            raise ValueError(f"consumer must be a non-empty name other than {WAITING!r}")
        if max_attempts < 1 or batch < 1 or not backoff_s or min(backoff_s) < 0 or claim_idle_s <= 0:
            raise ValueError("max_attempts, batch and claim_idle_s must be positive and backoff_s non-empty")
        self._redis, self._keys, self._consumer = redis, keys, consumer
        self._max_attempts, self._batch, self._maxlen = max_attempts, batch, maxlen
        self._backoff_ms = [round(s * 1000) for s in backoff_s]
        self._claim_idle_ms = round(claim_idle_s * 1000)
        self._min_due_ms = min(*self._backoff_ms, self._claim_idle_ms)
        self._beat_s, self._job_timeout_s = claim_idle_s / 3, job_timeout_s
        self._block_ms = _bounded_block_ms(redis, block_ms)
        self._outage_limit_s, self._max_pause_s, self._wait = outage_limit_s, max_pause_s, wait
        self._heartbeat = Heartbeat(redis, keys, consumer=consumer)
        self._fail = redis.register_script(FAIL)
        self._expire = redis.register_script(EXPIRE)
        self._touch = redis.register_script(TOUCH)
        self._release = redis.register_script(RELEASE)

    async def work(self, handle: Handle, *, stop: asyncio.Event) -> None:
        pause, ready = _PAUSE_S, False
        while not stop.is_set():
            try:
                if not ready:
                    await self._prepare()
                    ready = True
                await self._heartbeat.beat()
                await self._round(handle, stop)
                pause = _PAUSE_S
            except DOWN as exc:
                # Also after NOGROUP (Redis restarted empty): preparing again recreates the group.
                log.warning("queue_unavailable", operation="work", error=describe(exc), retry_in_s=pause)
                ready = False
                await wait_unless_stopped(stop, pause)
                pause = min(pause * 2, _MAX_PAUSE_S)

    async def _prepare(self) -> None:
        try:
            # From the stream's start: jobs enqueued before any worker created the group are not skipped.
            await self._redis.xgroup_create(self._keys.jobs, GROUP, id="0", mkstream=True)
        except RedisError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        await self._heartbeat.forget_gone()

    async def _round(self, handle: Handle, stop: asyncio.Event) -> None:
        await self._run_all(await self._reclaim(), handle, stop)
        if stop.is_set():
            return
        reply = await self._redis.xreadgroup(
            GROUP, self._consumer, {self._keys.jobs: ">"}, count=self._batch, block=self._block_ms
        )
        streams: Iterable[Any] = reply.items() if isinstance(reply, dict) else reply or []
        fresh = [_delivery(e) for _, entries in streams for e in entries]
        await self._run_all([d for d in fresh if d is not None], handle, stop)

    async def _reclaim(self) -> list[_Delivery]:
        # Nothing is in hand here (one job at a time), so pending jobs of this very consumer are orphans of an
        # aborted round or of an earlier process with the same name.
        pending = await self._redis.xpending_range(
            self._keys.jobs, GROUP, min="-", max="+", count=_SCAN, idle=self._min_due_ms
        )
        due_ids: dict[int, list[int | bytes | str | memoryview]] = {}
        previous: dict[str, str] = {}  # jobs of other workers, by id
        taken = 0
        for p in pending:
            entry_id, owner = text(p["message_id"]), text(p["consumer"])
            idle, attempts = int(p["time_since_delivered"]), int(p["times_delivered"])
            if owner == self._consumer:
                due = self._min_due_ms
            elif owner == WAITING:
                due = self._backoff_ms[min(max(attempts, 1), len(self._backoff_ms)) - 1]
            else:
                due = self._claim_idle_ms
            if idle < due:
                continue
            if attempts >= self._max_attempts:
                await self._bury_orphan(entry_id, due, attempts)
            elif taken < self._batch:
                due_ids.setdefault(due, []).append(entry_id)
                taken += 1
                if owner not in (WAITING, self._consumer) and idle < _HANDED_BACK_IDLE_MS:
                    previous[entry_id] = owner
        claimed: list[_Delivery] = []
        for due, entry_ids in due_ids.items():
            entries = await self._redis.xclaim(self._keys.jobs, GROUP, self._consumer, due, entry_ids)
            claimed.extend(d for d in map(_delivery, entries) if d is not None)
        for d in claimed:
            if d.id in previous:
                log.warning("job_taken_over", job_id=d.id, previous_worker=previous[d.id])
        return sorted(claimed, key=lambda d: _order(d.id))

    async def _bury_orphan(self, entry_id: str, due_ms: int, attempts: int) -> None:
        error = f"the worker stopped during attempt {attempts} (killed, crashed or stuck)"
        buried = await self._expire(
            keys=[self._keys.jobs, self._keys.dead, self._keys.errors],
            args=[GROUP, entry_id, due_ms, error, time.time(), self._maxlen],
        )
        if buried:
            log.error("job_dead_lettered", job_id=entry_id, attempts=attempts, error=error)

    async def _run_all(self, deliveries: list[_Delivery], handle: Handle, stop: asyncio.Event) -> None:
        if not deliveries:
            return
        held = {d.id for d in deliveries}
        beat = asyncio.create_task(self._keep_alive(held))
        try:
            for at, delivery in enumerate(deliveries):
                # An outage is not the job's fault: the job keeps its place and its attempts, and the worker waits
                # for Notion or Sentry to come back, still holding it, so that jobs run in the order they came.
                outage = _Outage()
                while not stop.is_set() and (pause_s := await self._run(delivery, handle, outage)) is not None:
                    await self._wait(stop, pause_s)
                if stop.is_set():
                    rest = [d.id for d in deliveries[at:]]
                    await self._release(
                        keys=[self._keys.jobs], args=[GROUP, self._consumer, _HANDED_BACK_IDLE_MS, *rest]
                    )
                    return
                held.discard(delivery.id)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _run(self, delivery: _Delivery, handle: Handle, outage: "_Outage") -> float | None:
        """Runs the job once; answers how long to pause before running it again when an outage stopped it."""
        try:
            job = Job.model_validate_json(delivery.raw or b"")
        except ValidationError as exc:
            # Written by another version or by hand: retrying cannot help, so it goes straight to the dead letters.
            log.error("job_unreadable", job_id=delivery.id, problems=exc.error_count())
            await self._give_up(delivery.id, f"unreadable job: {_clip(str(exc))}", max_attempts=0)
            return None
        if job.coalesce:
            # From now on a new event about the same thing needs a run of its own: this one may read too early.
            await self._redis.delete(self._keys.seen + job.key)
        fields = {"job_id": delivery.id, "key": job.key, "kind": job.kind, "action": job.action}
        deadline = asyncio.timeout(self._job_timeout_s)
        try:
            async with deadline:
                await handle(job)
        except Unavailable as exc:
            if (pause_s := outage.pause_s(exc, limit_s=self._outage_limit_s, max_s=self._max_pause_s)) is not None:
                if outage.pauses == 1:  # once per outage; queue_resumed says how long it lasted
                    log.warning("queue_paused", **fields, error=describe(exc), pause_s=round(pause_s, 1))
                return pause_s
            await self._failed(delivery.id, fields, f"unavailable for {self._outage_limit_s:g} s: {describe(exc)}")
            return None
        except Exception as exc:
            error = f"timed out after {self._job_timeout_s:g} s" if deadline.expired() else describe(exc)
            await self._failed(delivery.id, fields, error)
            return None
        if outage.since is not None:
            paused_s = round(time.monotonic() - outage.since, 1)
            log.info("queue_resumed", **fields, paused_s=paused_s, pauses=outage.pauses)
        async with self._redis.pipeline(transaction=True) as done:
            done.xack(self._keys.jobs, GROUP, delivery.id)
            done.xdel(self._keys.jobs, delivery.id)  # the stream then holds only unfinished jobs
            done.hdel(self._keys.errors, delivery.id)
            await done.execute()
        return None

    async def _failed(self, entry_id: str, fields: dict[str, str], error: str) -> None:
        state, attempts = await self._give_up(entry_id, error, max_attempts=self._max_attempts)
        if state == 2:
            log.error("job_dead_lettered", **fields, attempts=attempts, error=error)
        elif state == 1:
            log.warning("job_failed", **fields, attempt=attempts, error=error)
        else:
            log.warning("job_failed_after_take_over", **fields, error=error)

    async def _give_up(self, entry_id: str, error: str, *, max_attempts: int) -> tuple[int, int]:
        state, attempts = await self._fail(
            keys=[self._keys.jobs, self._keys.dead, self._keys.errors],
            args=[GROUP, self._consumer, entry_id, _clip(error), time.time(), max_attempts, self._maxlen, WAITING],
        )
        return int(state), int(attempts)

    async def _keep_alive(self, held: set[str]) -> None:
        while True:
            await asyncio.sleep(self._beat_s)
            if not held:
                continue
            try:
                await self._touch(keys=[self._keys.jobs], args=[GROUP, self._consumer, *held])
                await self._heartbeat.beat()
            except DOWN as exc:
                log.warning("queue_unavailable", operation="keep_alive", error=describe(exc))


class _Outage:
    """How long one job has met an outage, and how long to pause before trying it again."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.pauses = 0

    def pause_s(self, exc: Unavailable, *, limit_s: float, max_s: float) -> float | None:
        """The pause before the next try, or None once the outage has lasted `limit_s`: then it counts as a failure."""
        now = time.monotonic()
        self.since = now if self.since is None else self.since
        if now - self.since >= limit_s:
            return None
        self.pauses += 1
        if exc.retry_after_s is not None:
            return min(max(exc.retry_after_s, 0.1), max_s)
        return min(_PAUSE_S * 2.0 ** (self.pauses - 1), max_s)


def _bounded_block_ms(redis: Redis, block_ms: int) -> int:
    # A blocked XREADGROUP must answer within the client's socket timeout, or it fails as if Redis were down.
    pool = getattr(redis, "connection_pool", None)
    timeout = getattr(pool, "connection_kwargs", {}).get("socket_timeout")
    if isinstance(timeout, int | float) and timeout > 0:
        block_ms = min(block_ms, int(timeout * 1000 / 2))
    return max(block_ms, 1)  # BLOCK 0 would wait forever


def _delivery(entry: Any) -> _Delivery | None:
    entry_id, fields = entry
    if entry_id is None:  # deleted while pending
        return None
    raw = (fields or {}).get(b"job", (fields or {}).get("job"))
    return _Delivery(text(entry_id), raw.encode() if isinstance(raw, str) else raw)


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _clip(error: str) -> str:
    return error if len(error) <= _ERROR_CHARS else error[: _ERROR_CHARS - 1] + "…"
