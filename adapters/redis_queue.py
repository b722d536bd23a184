import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.errors import QueueUnavailable, Unavailable
from domain.models import DeadLetter, Finding, Job, QueueStats
from domain.ports import Dependency, JobQueue

log = structlog.get_logger(__name__)

GROUP = "workers"
# Failed jobs are handed to this consumer while they wait out their backoff: no worker runs them, so their idle
# time counts from the failure, and XPENDING tells them apart from jobs of a worker that died mid-job.
WAITING = "waiting-for-retry"
_DOWN = (RedisError, OSError, TimeoutError)
_STREAM_ID = re.compile(r"\d+-\d+")
_SCAN = 1000  # pending entries examined per round; far more than workers x batch in flight
_PAGE = 500
_FORGET_CONSUMER_MS = 3_600_000
_PAUSE_S, _MAX_PAUSE_S = 0.5, 5.0
_ERROR_CHARS = 2000
_HANDED_BACK_IDLE_MS = 365 * 86_400_000
_BEAT_S, _LIVE_MS = 5.0, 30_000  # a worker that has not beaten for 30 s is taken for gone

_TAKE_JOB = """
local function take_job(fields)
  for i = 1, #fields, 2 do
    if fields[i] == 'job' then return fields[i + 1] end
  end
  return ''
end
"""

# KEYS: seen, jobs. ARGV: dedupe_s, maxlen, job JSON.
# A full queue refuses the job rather than trimming: MAXLEN would silently drop the oldest unfinished jobs,
# while a refusal lets the caller run the job inline or log it as lost.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[2]) then return -1 end
redis.call('SET', KEYS[1], 1, 'EX', ARGV[1])
redis.call('XADD', KEYS[2], '*', 'job', ARGV[3])
return 1
"""

# KEYS: jobs, dead, errors. ARGV[1]: group.
_BURY = (
    _TAKE_JOB
    + """
local function bury(id, attempts, err, now, maxlen)
  local raw = ''
  local entry = redis.call('XRANGE', KEYS[1], id, id)
  if #entry > 0 then raw = take_job(entry[1][2]) end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*',
    'job', raw, 'attempts', attempts, 'error', err, 'failed_at', now, 'source', id)
  redis.call('XACK', KEYS[1], ARGV[1], id)
  redis.call('XDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[3], id)
end
"""
)

# After `handle` raised. ARGV: group, consumer, id, error, now, max_attempts, dead_maxlen, waiting consumer.
# Answers {0, 0} when another worker took the job over meanwhile, {1, attempts} to retry, {2, attempts} when buried.
_FAIL = (
    _BURY
    + """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then return {0, 0} end
local attempts = tonumber(p[1][4])
if attempts >= tonumber(ARGV[6]) then
  bury(ARGV[3], attempts, ARGV[4], ARGV[5], ARGV[7])
  return {2, attempts}
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[8], 0, ARGV[3], 'JUSTID')
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
return {1, attempts}
"""
)

# A job whose last attempt never finished (the worker died). ARGV: group, id, min_idle_ms, error, now, dead_maxlen.
# The idle check makes it a no-op if another worker claimed the job since we looked.
_EXPIRE = (
    _BURY
    + """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
local err = ARGV[4]
local earlier = redis.call('HGET', KEYS[3], ARGV[2])
if earlier then err = err .. '; before that: ' .. earlier end
bury(ARGV[2], tonumber(p[1][4]), err, ARGV[5], ARGV[6])
return 1
"""
)

# KEYS: jobs. ARGV: group, consumer, ids. Resets the idle time of jobs this worker still holds, so a long job is
# not taken for the job of a dead worker; a job already taken over is left to its new owner.
_TOUCH = """
local n = 0
for i = 3, #ARGV do
  if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2]) > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    n = n + 1
  end
end
return n
"""

# KEYS: jobs. ARGV: group, consumer, idle_ms, ids. Jobs read but not started when the worker stops: they look idle for
# long past any claim_idle_s, so any worker takes them at once, and the delivery that never ran is not an attempt.
_RELEASE = """
for i = 4, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p > 0 then
    local count = math.max(tonumber(p[1][4]) - 1, 0)
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'RETRYCOUNT', count, 'JUSTID')
  end
end
return 0
"""

# KEYS: jobs. ARGV: group, idle_ms, keep (consumer names). Consumer names are per process, so every restart leaves
# one behind; drop those that hold nothing and have not been seen for long. Atomic, so no job is dropped with one.
_FORGET = """
local gone = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  local keep = false
  for i = 3, #ARGV do if info['name'] == ARGV[i] then keep = true end end
  if not keep and info['pending'] == 0 and info['idle'] > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    gone = gone + 1
  end
end
return gone
"""

# KEYS: dead, jobs. ARGV: dead letter ids. A fresh entry has a fresh delivery count; dedupe is bypassed on purpose.
_REPLAY = (
    _TAKE_JOB
    + """
local n = 0
for i = 1, #ARGV do
  local entry = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #entry > 0 then
    redis.call('XADD', KEYS[2], '*', 'job', take_job(entry[1][2]))
    redis.call('XDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
"""
)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: workers. ARGV: consumer, forget_ms. Scored with Redis's clock, so hosts whose clocks disagree are judged alike.
_BEAT = (
    _NOW_MS
    + """
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
return 0
"""
)

# KEYS: jobs, dead, workers. ARGV: live_ms. The stream holds only unfinished jobs, so its length is the backlog and
# its first id (milliseconds of Redis's clock at XADD) dates the oldest of them.
_STATS = (
    _NOW_MS
    + """
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local oldest = now
if #first > 0 then oldest = tonumber(string.match(first[1][1], '^%d+')) end
return {redis.call('XLEN', KEYS[1]), math.max(now - oldest, 0), redis.call('XLEN', KEYS[2]),
  redis.call('ZCOUNT', KEYS[3], now - tonumber(ARGV[1]), '+inf')}
"""
)


@dataclass(frozen=True)
class _Delivery:
    id: str
    raw: bytes | None  # None when the entry has no job field


# Redis Streams with one consumer group shared by every replica. Delivery is at least once: a job whose worker died,
# or whose acknowledgement was lost, runs again, so `handle` must be idempotent. Each worker runs its jobs one at a
# time, retried jobs first, then new ones in the order they came.
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
        wait: Callable[[asyncio.Event, float], Awaitable[None]] = _wait,
    ) -> None:
        if not consumer or consumer == WAITING:
            raise ValueError(f"consumer must be a non-empty name other than {WAITING!r}")
        if max_attempts < 1 or batch < 1 or not backoff_s or min(backoff_s) < 0 or claim_idle_s <= 0:
            raise ValueError("max_attempts, batch and claim_idle_s must be positive and backoff_s non-empty")
        self._redis, self._consumer = redis, consumer
        self._jobs, self._dead = f"{prefix}:queue:jobs", f"{prefix}:queue:dead"
        self._errors, self._seen = f"{prefix}:queue:errors", f"{prefix}:queue:seen:"
        self._workers, self._beaten_at = f"{prefix}:queue:workers", float("-inf")
        self._max_attempts, self._dedupe_s, self._batch, self._maxlen = max_attempts, dedupe_s, batch, maxlen
        self._backoff_ms = [round(s * 1000) for s in backoff_s]
        self._claim_idle_ms = round(claim_idle_s * 1000)
        self._min_due_ms = min(*self._backoff_ms, self._claim_idle_ms)
        self._beat_s, self._job_timeout_s = claim_idle_s / 3, job_timeout_s
        self._block_ms = _bounded_block_ms(redis, block_ms)
        self._outage_limit_s, self._max_pause_s, self._wait = outage_limit_s, max_pause_s, wait
        self._enqueue = redis.register_script(_ENQUEUE)
        self._fail = redis.register_script(_FAIL)
        self._expire = redis.register_script(_EXPIRE)
        self._touch = redis.register_script(_TOUCH)
        self._release = redis.register_script(_RELEASE)
        self._forget = redis.register_script(_FORGET)
        self._replay = redis.register_script(_REPLAY)
        self._beat = redis.register_script(_BEAT)

    async def enqueue(self, job: Job) -> bool:
        try:
            added = await self._enqueue(
                keys=[self._seen + job.key, self._jobs], args=[self._dedupe_s, self._maxlen, job.model_dump_json()]
            )
        except _DOWN as exc:
            raise QueueUnavailable(f"Redis did not take the job: {_describe(exc)}") from exc
        if added == -1:
            raise QueueUnavailable(f"the job queue holds {self._maxlen} unfinished jobs; is a worker running?")
        return bool(added == 1)

    async def work(self, handle: Callable[[Job], Awaitable[None]], *, stop: asyncio.Event) -> None:
        pause, ready = _PAUSE_S, False
        while not stop.is_set():
            try:
                if not ready:
                    await self._prepare()
                    ready = True
                await self._heartbeat()
                await self._round(handle, stop)
                pause = _PAUSE_S
            except _DOWN as exc:
                # Also after NOGROUP (Redis restarted empty): preparing again recreates the group.
                log.warning("queue_unavailable", operation="work", error=_describe(exc), retry_in_s=pause)
                ready = False
                await _wait(stop, pause)
                pause = min(pause * 2, _MAX_PAUSE_S)

    async def dead_letters(self) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        start = "-"
        try:
            while True:
                page = _entries(await self._redis.xrange(self._dead, min=start, max="+", count=_PAGE))
                letters.extend(_dead_letter(entry_id, fields) for entry_id, fields in page)
                if len(page) < _PAGE:
                    return letters
                start = f"({page[-1][0]}"
        except _DOWN as exc:
            raise QueueUnavailable(f"Redis did not list the dead letters: {_describe(exc)}") from exc

    async def replay(self, ids: Sequence[str]) -> int:
        replayed = 0
        try:
            if ids:
                wanted = [i for i in dict.fromkeys(ids) if _STREAM_ID.fullmatch(i)]
                for at in range(0, len(wanted), 100):
                    replayed += int(await self._replay(keys=[self._dead, self._jobs], args=wanted[at : at + 100]))
                return replayed
            # Everything present now; letters buried while this runs are left for the next replay.
            newest = _entries(await self._redis.xrevrange(self._dead, max="+", min="-", count=1))
            while newest:
                page = _entries(await self._redis.xrange(self._dead, min="-", max=newest[0][0], count=100))
                if not page:
                    break
                replayed += int(await self._replay(keys=[self._dead, self._jobs], args=[e[0] for e in page]))
        except _DOWN as exc:
            raise QueueUnavailable(f"Redis did not replay the dead letters: {_describe(exc)}") from exc
        return replayed

    async def _prepare(self) -> None:
        try:
            # From the stream's start: jobs enqueued before any worker created the group are not skipped.
            await self._redis.xgroup_create(self._jobs, GROUP, id="0", mkstream=True)
        except RedisError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        gone = await self._forget(keys=[self._jobs], args=[GROUP, _FORGET_CONSUMER_MS, self._consumer, WAITING])
        if gone:
            log.info("queue_consumers_forgotten", count=int(gone))

    async def _round(self, handle: Callable[[Job], Awaitable[None]], stop: asyncio.Event) -> None:
        await self._run_all(await self._reclaim(), handle, stop)
        if stop.is_set():
            return
        reply = await self._redis.xreadgroup(
            GROUP, self._consumer, {self._jobs: ">"}, count=self._batch, block=self._block_ms
        )
        streams: Iterable[Any] = reply.items() if isinstance(reply, dict) else reply or []
        fresh = [_delivery(e) for _, entries in streams for e in entries]
        await self._run_all([d for d in fresh if d is not None], handle, stop)

    async def _reclaim(self) -> list[_Delivery]:
        # Nothing is in hand here (one job at a time), so pending jobs of this very consumer are orphans of an
        # aborted round or of an earlier process with the same name.
        pending = await self._redis.xpending_range(
            self._jobs, GROUP, min="-", max="+", count=_SCAN, idle=self._min_due_ms
        )
        due_ids: dict[int, list[int | bytes | str | memoryview]] = {}
        previous: dict[str, str] = {}  # jobs of other workers, by id
        taken = 0
        for p in pending:
            entry_id, owner = _text(p["message_id"]), _text(p["consumer"])
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
            entries = await self._redis.xclaim(self._jobs, GROUP, self._consumer, due, entry_ids)
            claimed.extend(d for d in map(_delivery, entries) if d is not None)
        for d in claimed:
            if d.id in previous:
                log.warning("job_taken_over", job_id=d.id, previous_worker=previous[d.id])
        return sorted(claimed, key=lambda d: _order(d.id))

    async def _bury_orphan(self, entry_id: str, due_ms: int, attempts: int) -> None:
        error = f"the worker stopped during attempt {attempts} (killed, crashed or stuck)"
        buried = await self._expire(
            keys=[self._jobs, self._dead, self._errors],
            args=[GROUP, entry_id, due_ms, error, time.time(), self._maxlen],
        )
        if buried:
            log.error("job_dead_lettered", job_id=entry_id, attempts=attempts, error=error)

    async def _run_all(
        self, deliveries: list[_Delivery], handle: Callable[[Job], Awaitable[None]], stop: asyncio.Event
    ) -> None:
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
                    await self._release(keys=[self._jobs], args=[GROUP, self._consumer, _HANDED_BACK_IDLE_MS, *rest])
                    return
                held.discard(delivery.id)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _run(
        self, delivery: _Delivery, handle: Callable[[Job], Awaitable[None]], outage: "_Outage"
    ) -> float | None:
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
            await self._redis.delete(self._seen + job.key)
        fields = {"job_id": delivery.id, "key": job.key, "kind": job.kind, "action": job.action}
        deadline = asyncio.timeout(self._job_timeout_s)
        try:
            async with deadline:
                await handle(job)
        except Unavailable as exc:
            if (pause_s := outage.pause_s(exc, limit_s=self._outage_limit_s, max_s=self._max_pause_s)) is not None:
                if outage.pauses == 1:  # once per outage; queue_resumed says how long it lasted
                    log.warning("queue_paused", **fields, error=_describe(exc), pause_s=round(pause_s, 1))
                return pause_s
            await self._failed(delivery.id, fields, f"unavailable for {self._outage_limit_s:g} s: {_describe(exc)}")
            return None
        except Exception as exc:
            error = f"timed out after {self._job_timeout_s:g} s" if deadline.expired() else _describe(exc)
            await self._failed(delivery.id, fields, error)
            return None
        if outage.since is not None:
            paused_s = round(time.monotonic() - outage.since, 1)
            log.info("queue_resumed", **fields, paused_s=paused_s, pauses=outage.pauses)
        async with self._redis.pipeline(transaction=True) as done:
            done.xack(self._jobs, GROUP, delivery.id)
            done.xdel(self._jobs, delivery.id)  # the stream then holds only unfinished jobs
            done.hdel(self._errors, delivery.id)
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
            keys=[self._jobs, self._dead, self._errors],
            args=[GROUP, self._consumer, entry_id, _clip(error), time.time(), max_attempts, self._maxlen, WAITING],
        )
        return int(state), int(attempts)

    async def _keep_alive(self, held: set[str]) -> None:
        while True:
            await asyncio.sleep(self._beat_s)
            if not held:
                continue
            try:
                await self._touch(keys=[self._jobs], args=[GROUP, self._consumer, *held])
                await self._heartbeat()
            except _DOWN as exc:
                log.warning("queue_unavailable", operation="keep_alive", error=_describe(exc))

    async def stats(self) -> QueueStats:
        try:
            depth, age_ms, dead, workers = await self._redis.eval(
                _STATS, 3, self._jobs, self._dead, self._workers, _LIVE_MS
            )
        except _DOWN as exc:
            raise QueueUnavailable(f"Redis did not describe the queue: {_describe(exc)}") from exc
        return QueueStats(
            depth=int(depth), oldest_age_s=int(age_ms) / 1000, dead_letters=int(dead), workers=int(workers)
        )

    async def _heartbeat(self) -> None:
        # From the work loop, and while a job runs or waits out an outage, so a busy worker still counts as live.
        if time.monotonic() - self._beaten_at < _BEAT_S:
            return
        await self._beat(keys=[self._workers], args=[self._consumer, _FORGET_CONSUMER_MS])
        self._beaten_at = time.monotonic()


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
    return _Delivery(_text(entry_id), raw.encode() if isinstance(raw, str) else raw)


def _entries(reply: Any) -> list[tuple[str, dict[Any, Any]]]:
    return [(_text(entry_id), fields or {}) for entry_id, fields in reply or [] if entry_id is not None]


def _dead_letter(entry_id: str, fields: dict[Any, Any]) -> DeadLetter:
    def field(name: str) -> str:
        return _text(fields.get(name.encode(), fields.get(name, b"")))

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


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _clip(text: str) -> str:
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


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
