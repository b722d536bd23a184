import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import fakeredis
import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from adapters.redis_queue import RedisJobQueue
from adapters.redis_store import open_redis
from domain.errors import QueueUnavailable, RateLimited, SentryUnavailable, TrackerUnavailable
from domain.models import Job
from tests.support.real_redis import REDIS_DOWN, REDIS_URL

WAIT_S = 10.0  # bound on every wait; the tests never assert how fast anything is

Handle = Callable[[Job], Awaitable[None]]


@pytest.fixture(params=["real", "fake"])
async def redis(request: pytest.FixtureRequest) -> AsyncIterator[Redis]:
    if request.param == "fake":
        yield fakeredis.FakeAsyncRedis()
        return
    async with open_redis(url=REDIS_URL) as client:
        yield client


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    prefix = f"test-queue-{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)


def make_queue(redis: Redis, prefix: str, consumer: str = "worker-1", **tunables: Any) -> RedisJobQueue:
    options: dict[str, Any] = {"backoff_s": (0.05, 0.1), "block_ms": 100} | tunables
    return RedisJobQueue(redis, prefix=prefix, consumer=consumer, **options)


def sentry_job(issue: int = 1, action: str = "resolved", request_id: str = "req-1") -> Job:
    return Job(
        kind="sentry.issue",
        key=f"inst-1:issue:{issue}:{action}:2024-05-01T10:00:00Z",
        action=action,
        body={"action": action, "data": {"issue": {"id": str(issue)}}, "request_id": request_id},
        received_at=1714557600.0,
    )


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def working(queue: RedisJobQueue, handle: Handle) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(queue.work(handle, stop=stop))
    try:
        yield task
    finally:
        stop.set()
        if not task.done():
            await asyncio.wait_for(task, WAIT_S)


async def nothing_left(redis: Redis, prefix: str) -> bool:
    if await redis.xlen(f"{prefix}:queue:jobs"):
        return False
    summary = await redis.xpending(f"{prefix}:queue:jobs", "workers")
    return int(summary["pending"]) == 0


async def test_an_enqueued_job_is_handled_once(redis: Redis, prefix: str) -> None:
    queue, handled = make_queue(redis, prefix), list[Job]()

    async def handle(job: Job) -> None:
        handled.append(job)

    assert await queue.enqueue(sentry_job())
    async with working(queue, handle):
        await eventually(lambda: nothing_left(redis, prefix), "the job to be acknowledged")
        # A few more rounds: nothing runs twice.
        await asyncio.sleep(0.3)

    assert handled == [sentry_job()]
    assert await queue.dead_letters() == []


async def test_a_redelivery_with_a_new_request_id_is_not_enqueued_again(redis: Redis, prefix: str) -> None:
    queue = make_queue(redis, prefix)

    assert await queue.enqueue(sentry_job(request_id="req-1"))
    assert not await queue.enqueue(sentry_job(request_id="req-2"))
    assert await queue.enqueue(sentry_job(action="unresolved"))

    assert await redis.xlen(f"{prefix}:queue:jobs") == 2
    assert 0 < await redis.ttl(f"{prefix}:queue:seen:{sentry_job().key}") <= 7 * 86_400


async def test_a_failing_job_is_retried_after_its_backoff_and_applied_once(redis: Redis, prefix: str) -> None:
    queue = make_queue(redis, prefix, backoff_s=(0.2, 0.3))
    attempts: list[float] = []
    applied = asyncio.Event()

    async def handle(job: Job) -> None:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RuntimeError(f"Notion answered 502 (attempt {len(attempts)})")
        applied.set()

    await queue.enqueue(sentry_job())
    with capture_logs() as logs:
        async with working(queue, handle):
            await asyncio.wait_for(applied.wait(), WAIT_S)
            await eventually(lambda: nothing_left(redis, prefix), "the job to be acknowledged")
            await asyncio.sleep(0.3)

    assert len(attempts) == 3
    # Lower bounds only, with slack for the two clocks: each retry waited at least its backoff.
    assert attempts[1] - attempts[0] >= 0.15
    assert attempts[2] - attempts[1] >= 0.25
    failures = [e for e in logs if e["event"] == "job_failed"]
    assert [(e["attempt"], e["key"], e["log_level"]) for e in failures] == [
        (1, sentry_job().key, "warning"),
        (2, sentry_job().key, "warning"),
    ]
    assert failures[1]["error"] == "RuntimeError: Notion answered 502 (attempt 2)"
    assert "body" not in failures[0]  # the webhook's content stays out of the logs
    assert await queue.dead_letters() == []


async def test_after_its_last_attempt_a_job_is_a_dead_letter_until_replayed(redis: Redis, prefix: str) -> None:
    queue = make_queue(redis, prefix, max_attempts=2)
    broken, applied = True, list[Job]()

    async def handle(job: Job) -> None:
        if broken:
            raise RuntimeError("Status column is missing")
        applied.append(job)

    await queue.enqueue(sentry_job())
    with capture_logs() as logs:
        async with working(queue, handle):
            await eventually(lambda: has_dead_letters(queue), "a dead letter")
    before = time.time()

    [letter] = await queue.dead_letters()
    assert letter.job == sentry_job()
    assert letter.attempts == 2
    assert letter.error == "RuntimeError: Status column is missing"
    assert before - 60 < letter.failed_at <= before
    assert await nothing_left(redis, prefix)
    assert [e["attempts"] for e in logs if e["event"] == "job_dead_lettered"] == [2]

    assert await queue.replay(["0-1", "not-an-id"]) == []
    broken = False
    assert await queue.replay([letter.id]) == [letter.id]
    assert await queue.dead_letters() == []
    async with working(queue, handle):
        await eventually(lambda: nothing_left(redis, prefix), "the replayed job to be acknowledged")

    assert applied == [sentry_job()]


async def test_replaying_everything_bypasses_dedupe_and_starts_attempts_afresh(redis: Redis, prefix: str) -> None:
    queue = make_queue(redis, prefix, max_attempts=1)
    attempts: dict[str, int] = {}

    async def handle(job: Job) -> None:
        attempts[job.action] = attempts.get(job.action, 0) + 1
        if attempts[job.action] == 1:
            raise RuntimeError("first try fails")

    for action in ("resolved", "assigned"):
        await queue.enqueue(sentry_job(action=action))
    async with working(queue, handle):
        await eventually(lambda: has_dead_letters(queue, 2), "two dead letters")

    assert [letter.job.action for letter in await queue.dead_letters()] == ["resolved", "assigned"]
    assert len(await queue.replay([])) == 2
    assert not await queue.enqueue(sentry_job(action="resolved"))  # still deduplicated for Sentry's deliveries
    async with working(queue, handle):
        await eventually(lambda: nothing_left(redis, prefix), "the replayed jobs to be acknowledged")

    assert attempts == {"resolved": 2, "assigned": 2}
    assert await queue.dead_letters() == []


async def test_a_worker_killed_mid_job_has_its_job_run_again_once(redis: Redis, prefix: str) -> None:
    started, completed = asyncio.Event(), list[str]()

    async def hang(job: Job) -> None:
        started.set()
        await asyncio.Event().wait()  # until the worker is killed
        completed.append("first worker")

    async def handle(job: Job) -> None:
        completed.append("second worker")

    await make_queue(redis, prefix).enqueue(sentry_job())
    first = asyncio.create_task(make_queue(redis, prefix, consumer="host-a-1").work(hang, stop=asyncio.Event()))
    await asyncio.wait_for(started.wait(), WAIT_S)
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first

    with capture_logs() as logs:
        async with working(make_queue(redis, prefix, consumer="host-b-1", claim_idle_s=0.2), handle):
            await eventually(lambda: nothing_left(redis, prefix), "the job to be taken over")
            await asyncio.sleep(0.3)

    assert completed == ["second worker"]
    assert [e["previous_worker"] for e in logs if e["event"] == "job_taken_over"] == ["host-a-1"]


async def test_a_long_job_of_a_live_worker_is_not_taken_over(redis: Redis, prefix: str) -> None:
    runs: list[str] = []
    release = asyncio.Event()

    def recording(worker: str) -> Handle:
        async def handle(job: Job) -> None:
            runs.append(worker)
            await release.wait()

        return handle

    await make_queue(redis, prefix).enqueue(sentry_job())
    async with working(make_queue(redis, prefix, consumer="a", claim_idle_s=0.3), recording("a")):
        await eventually(lambda: has_runs(runs), "the first worker to start")
        async with working(make_queue(redis, prefix, consumer="b", claim_idle_s=0.3), recording("b")):
            await asyncio.sleep(1.2)  # four times claim_idle_s: the first worker keeps its claim alive
            release.set()
            await eventually(lambda: nothing_left(redis, prefix), "the job to be acknowledged")

    assert runs == ["a"]


async def test_a_job_whose_worker_died_on_its_last_attempt_is_a_dead_letter(redis: Redis, prefix: str) -> None:
    started = asyncio.Event()

    async def crash(job: Job) -> None:
        started.set()
        await asyncio.Event().wait()

    async def handle(job: Job) -> None:
        raise AssertionError("a job past its attempts must not run")

    await make_queue(redis, prefix).enqueue(sentry_job())
    killed = asyncio.create_task(make_queue(redis, prefix, max_attempts=1).work(crash, stop=asyncio.Event()))
    await asyncio.wait_for(started.wait(), WAIT_S)
    killed.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await killed

    queue = make_queue(redis, prefix, consumer="worker-2", max_attempts=1, claim_idle_s=0.2)
    async with working(queue, handle):
        await eventually(lambda: has_dead_letters(queue), "a dead letter")

    [letter] = await queue.dead_letters()
    assert (letter.job, letter.attempts) == (sentry_job(), 1)
    assert "worker stopped during attempt 1" in letter.error


async def test_a_job_that_outlives_its_timeout_is_retried(redis: Redis, prefix: str) -> None:
    queue = make_queue(redis, prefix, job_timeout_s=0.1)
    calls = 0

    async def handle(job: Job) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()

    await queue.enqueue(sentry_job())
    with capture_logs() as logs:
        async with working(queue, handle):
            await eventually(lambda: nothing_left(redis, prefix), "the retried job to be acknowledged")

    assert calls == 2
    assert [e["error"] for e in logs if e["event"] == "job_failed"] == ["timed out after 0.1 s"]


async def test_unreadable_entries_become_dead_letters(redis: Redis, prefix: str) -> None:
    queue = make_queue(redis, prefix)

    async def handle(job: Job) -> None:
        raise AssertionError("nothing readable was queued")

    await redis.xadd(f"{prefix}:queue:jobs", {"job": '{"key": "k"}'})
    await redis.xadd(f"{prefix}:queue:jobs", {"something": "else"})
    async with working(queue, handle):
        await eventually(lambda: has_dead_letters(queue, 2), "two dead letters")

    first, second = await queue.dead_letters()
    assert (first.job.kind, first.job.body, first.attempts) == ("unreadable", {"raw": '{"key": "k"}'}, 1)
    assert first.error.startswith("unreadable job:")
    assert second.job.body == {"raw": ""}
    assert await nothing_left(redis, prefix)


async def test_stop_ends_work_and_hands_back_jobs_not_started(redis: Redis, prefix: str) -> None:
    first = make_queue(redis, prefix, consumer="a", batch=3)
    began, release, runs = asyncio.Event(), asyncio.Event(), list[tuple[str, str]]()

    async def slow(job: Job) -> None:
        runs.append(("a", job.action))
        began.set()
        await release.wait()

    async def handle(job: Job) -> None:
        runs.append(("b", job.action))

    for action in ("resolved", "assigned", "unresolved"):
        await first.enqueue(sentry_job(action=action))
    stop = asyncio.Event()
    task = asyncio.create_task(first.work(slow, stop=stop))
    await asyncio.wait_for(began.wait(), WAIT_S)
    stop.set()
    release.set()  # the job in hand finishes; the two others are not started
    await asyncio.wait_for(task, WAIT_S)

    # claim_idle_s is far longer than the test's waits: the jobs were handed back, not abandoned.
    with capture_logs() as logs:
        async with working(make_queue(redis, prefix, consumer="b", claim_idle_s=3600), handle):
            await eventually(lambda: nothing_left(redis, prefix), "the handed back jobs to run")

    assert runs == [("a", "resolved"), ("b", "assigned"), ("b", "unresolved")]
    assert not await logged(logs, "job_taken_over")  # handed back, not taken from a dead worker


async def test_stop_ends_an_idle_worker(redis: Redis, prefix: str) -> None:
    async def handle(job: Job) -> None:
        raise AssertionError("no job was queued")

    stop = asyncio.Event()
    task = asyncio.create_task(make_queue(redis, prefix, block_ms=1000).work(handle, stop=stop))
    await asyncio.sleep(0.2)
    stop.set()

    await asyncio.wait_for(task, WAIT_S)


async def test_consumers_of_long_gone_workers_are_forgotten(
    redis: Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def handle(job: Job) -> None:
        pass

    await make_queue(redis, prefix).enqueue(sentry_job())
    async with working(make_queue(redis, prefix, consumer="gone-1"), handle):
        await eventually(lambda: nothing_left(redis, prefix), "the job to be acknowledged")
    assert not await forgotten(redis, prefix, "gone-1")
    # Instead of an hour without a sign of life.
    monkeypatch.setattr("adapters.redis_queue_health._FORGET_CONSUMER_MS", -1)

    async with working(make_queue(redis, prefix, consumer="new-1"), handle):
        await eventually(lambda: forgotten(redis, prefix, "gone-1"), "the old consumer to be forgotten")


async def forgotten(redis: Redis, prefix: str, consumer: str) -> bool:
    consumers = await redis.xinfo_consumers(f"{prefix}:queue:jobs", "workers")
    return consumer.encode() not in {c["name"] for c in consumers}


async def test_a_full_queue_refuses_jobs(redis: Redis, prefix: str) -> None:
    queue = make_queue(redis, prefix, maxlen=2)
    await queue.enqueue(sentry_job(issue=1))
    await queue.enqueue(sentry_job(issue=2))

    with pytest.raises(QueueUnavailable, match="unfinished jobs"):
        await queue.enqueue(sentry_job(issue=3))
    assert not await queue.enqueue(sentry_job(issue=1))  # a duplicate is still just a duplicate
    assert await redis.exists(f"{prefix}:queue:seen:{sentry_job(issue=3).key}") == 0


async def test_redis_refusing_connections_is_queue_unavailable() -> None:
    async def handle(job: Job) -> None:
        raise AssertionError("Redis is down")

    async with open_redis(url=REDIS_DOWN) as client:
        queue = make_queue(client, "down")
        with pytest.raises(QueueUnavailable):
            await queue.enqueue(sentry_job())
        with pytest.raises(QueueUnavailable):
            await queue.dead_letters()
        with pytest.raises(QueueUnavailable):
            await queue.replay([])
        with capture_logs() as logs:
            async with working(queue, handle) as task:
                await eventually(lambda: logged(logs, "queue_unavailable"), "the outage to be logged")
                assert not task.done()

    assert logs[0]["log_level"] == "warning"


async def test_the_worker_survives_redis_going_away_and_coming_back() -> None:
    server = fakeredis.FakeServer()
    queue = make_queue(fakeredis.FakeAsyncRedis(server=server), "p")
    handled = list[Job]()

    async def handle(job: Job) -> None:
        handled.append(job)

    with capture_logs() as logs:
        async with working(queue, handle) as task:
            await queue.enqueue(sentry_job(issue=1))
            await eventually(lambda: has_runs(handled), "the first job")
            server.connected = False
            with pytest.raises(QueueUnavailable):
                await queue.enqueue(sentry_job(issue=2))
            await eventually(lambda: logged(logs, "queue_unavailable"), "the outage to be logged")
            server.connected = True
            await queue.enqueue(sentry_job(issue=3))
            await eventually(lambda: has_runs(handled, 2), "the job after the outage")
            assert not task.done()

    assert [job.key for job in handled] == [sentry_job(issue=1).key, sentry_job(issue=3).key]


async def has_dead_letters(queue: RedisJobQueue, count: int = 1) -> bool:
    return len(await queue.dead_letters()) >= count


async def has_runs(runs: list[Any], count: int = 1) -> bool:
    return len(runs) >= count


async def logged(logs: list[MutableMapping[str, Any]], event: str) -> bool:
    return any(e["event"] == event for e in logs)


class Pauses:
    """The worker's waits between tries during an outage, on a clock of their own: nothing really waits long."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    async def __call__(self, stop: asyncio.Event, seconds: float) -> None:
        self.taken.append(seconds)
        await asyncio.sleep(0.01)


async def test_an_outage_pauses_the_worker_without_spending_attempts_and_keeps_the_order(
    redis: Redis, prefix: str
) -> None:
    pauses = Pauses()
    queue = make_queue(redis, prefix, max_attempts=2, wait=pauses)
    outage = [RateLimited("Notion is rate limiting", 30.0)] * 3 + [TrackerUnavailable("Notion answered 503")] * 4
    handled: list[int] = []

    async def handle(job: Job) -> None:
        if outage:
            raise outage.pop(0)
        handled.append(int(job.body["data"]["issue"]["id"]))

    for issue in range(1, 6):
        assert await queue.enqueue(sentry_job(issue))
    async with working(queue, handle):
        await eventually(lambda: nothing_left(redis, prefix), "every job to be applied")

    assert handled == [1, 2, 3, 4, 5]
    assert pauses.taken[:3] == [30.0, 30.0, 30.0]  # as long as Notion asked
    assert pauses.taken[3:] == sorted(pauses.taken[3:])  # then longer and longer
    assert await queue.dead_letters() == []


async def test_an_outage_longer_than_the_limit_counts_as_a_failed_attempt(redis: Redis, prefix: str) -> None:
    queue = make_queue(redis, prefix, max_attempts=2, outage_limit_s=0, wait=Pauses())

    async def handle(job: Job) -> None:
        raise SentryUnavailable("Sentry failed (502); try again.")

    assert await queue.enqueue(sentry_job())
    async with working(queue, handle):
        await eventually(lambda: has_dead_letters(queue), "the job to become a dead letter")

    (letter,) = await queue.dead_letters()
    assert letter.attempts == 2
    assert "Sentry failed (502)" in letter.error


def trigger_job(issue: int, request_id: str) -> Job:
    return Job(
        kind="sentry.issue",
        key=f"issue:inst-1:{issue}",
        action="resolved",
        body={"action": "resolved", "data": {"issue": {"id": str(issue)}}, "request_id": request_id},
        received_at=1714557600.0,
        coalesce=True,
    )


async def test_triggers_for_one_issue_merge_while_they_wait_and_not_once_the_job_started(
    redis: Redis, prefix: str
) -> None:
    queue = make_queue(redis, prefix)
    started, release = asyncio.Event(), asyncio.Event()
    handled: list[str] = []

    async def handle(job: Job) -> None:
        handled.append(job.body["request_id"])
        started.set()
        await release.wait()

    taken = [await queue.enqueue(trigger_job(1, f"req-{n}")) for n in range(10)]
    assert taken == [True] + [False] * 9
    assert await queue.enqueue(trigger_job(2, "other issue"))

    async with working(queue, handle):
        await asyncio.wait_for(started.wait(), WAIT_S)
        assert await queue.enqueue(trigger_job(1, "after the read began"))  # it may change what the job read
        release.set()
        await eventually(lambda: nothing_left(redis, prefix), "every job to be applied")

    assert handled == ["req-0", "other issue", "after the read began"]


async def redis_ms(redis: Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def test_stats_of_an_empty_queue_are_zero(redis: Redis, prefix: str) -> None:
    stats = await make_queue(redis, prefix).stats()

    assert (stats.depth, stats.oldest_age_s, stats.dead_letters, stats.workers) == (0, 0, 0, 0)


async def test_stats_count_unfinished_jobs_and_date_the_oldest_by_redis_clock(redis: Redis, prefix: str) -> None:
    queue = make_queue(redis, prefix)
    # Entered a minute ago by Redis's clock, whatever this host's clock says.
    minute_ago = await redis_ms(redis) - 60_000
    await redis.xadd(f"{prefix}:queue:jobs", {"job": sentry_job(issue=1).model_dump_json()}, id=f"{minute_ago}-0")
    assert await queue.enqueue(sentry_job(issue=2))

    stats = await queue.stats()

    assert stats.depth == 2
    assert 60 <= stats.oldest_age_s < 600
    assert stats.workers == 0


async def test_stats_count_dead_letters_and_finished_jobs_leave_the_depth(redis: Redis, prefix: str) -> None:
    queue = make_queue(redis, prefix, max_attempts=1)

    async def handle(job: Job) -> None:
        if job.action == "resolved":
            raise RuntimeError("Notion answered 400")

    assert await queue.enqueue(sentry_job(action="resolved"))
    assert await queue.enqueue(sentry_job(action="unresolved"))
    async with working(queue, handle):
        await eventually(lambda: nothing_left(redis, prefix), "both jobs to finish")

    stats = await queue.stats()
    assert (stats.depth, stats.dead_letters) == (0, 1)


async def test_a_working_queue_is_a_live_worker_and_one_silent_for_30_s_is_not(redis: Redis, prefix: str) -> None:
    first, second = make_queue(redis, prefix, "worker-1"), make_queue(redis, prefix, "worker-2")
    await redis.zadd(f"{prefix}:queue:workers", {"gone-worker": await redis_ms(redis) - 31_000})

    async def idle(job: Job) -> None:
        pass

    async with working(first, idle), working(second, idle):
        await eventually(lambda: _workers_seen(first, 2), "both workers to report")
        members = set(await redis.zrange(f"{prefix}:queue:workers", 0, -1))

    assert members == {b"worker-1", b"worker-2", b"gone-worker"}  # kept a while, but not counted as live


async def _workers_seen(queue: RedisJobQueue, count: int) -> bool:
    return (await queue.stats()).workers == count


async def test_stats_raise_queue_unavailable_when_redis_is_down() -> None:
    async with open_redis(url=REDIS_DOWN) as down:
        with pytest.raises(QueueUnavailable):
            await make_queue(down, "test-queue-down").stats()
