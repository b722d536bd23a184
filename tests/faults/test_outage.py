"""A long Notion outage while webhooks keep coming, on a compressed clock: the worker waits it out.

Notion answers every request 429 with Retry-After: 30 for ten minutes. The worker's pauses run on a clock of
the test's own, so ten minutes pass in well under a second; everything else (the app, the queue on the real
Redis, the Notion adapter, the fake Notion server) is as deployed.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from dependency_injector import providers

from adapters.redis_queue import RedisJobQueue
from container import Container, resolve
from domain.models import Job
from tests.support.fake_notion import FakeNotion
from tests.support.real_redis import REDIS_URL
from tests.support.sentry import description, group, hook_headers, issue_link_body, ui_headers, webhook
from tests.support.stack import Client, Notion, StartApp, settings

OUTAGE_S = 600.0
ISSUES = range(5001, 5021)  # twenty linked issues
REGRESSED = frozenset({5003, 5011})  # resolved, then regressed a second later: they must end open
WAIT_S = 20.0


class CompressedClock:
    """The worker's waits: each adds its seconds to this clock and takes a few milliseconds of real time."""

    def __init__(self, notion: FakeNotion) -> None:
        self.now, self.waits, self._notion = 0.0, list[float](), notion

    async def wait(self, stop: asyncio.Event, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        if self.now >= OUTAGE_S:
            self._notion.heal()
        await asyncio.sleep(0.005)


@dataclass
class Worker:
    queue: RedisJobQueue
    applied: list[Job]


@pytest.fixture
async def worker(notion: Notion, redis_prefix: str, clock: CompressedClock) -> AsyncIterator[Worker]:
    env = {
        "NOTION_API_BASE_URL": notion.url,
        "NOTION_TOKEN": notion.fake.token,
        "NOTION_CONFIG": json.dumps({"database_id": notion.database_id, "column_names": {"status": "Status"}}),
        "NOTION_RATE_LIMIT": "100000",
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": redis_prefix,
    }
    container = Container(settings=settings(**env))
    # The shared limiter would wait out each Retry-After on Redis's real clock; it has tests of its own.
    container.rate_limiter.override(providers.Object(None))
    apply = await resolve(container.run_job())
    queue = RedisJobQueue(
        await resolve(container.redis()), prefix=redis_prefix, consumer="outage-worker", wait=clock.wait
    )
    worker = Worker(queue, [])

    async def handle(job: Job) -> None:
        await apply(job)
        worker.applied.append(job)

    stop = asyncio.Event()
    task = asyncio.create_task(queue.work(handle, stop=stop))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT_S)
        await resolve(container.shutdown_resources())


@pytest.fixture
def clock(notion: Notion) -> CompressedClock:
    return CompressedClock(notion.fake)


async def create(client: Client, issue: int) -> str:
    fields = {"title": f"Error {issue}", "description": description(f"BACKEND-{issue}", issue, "Traceback")}
    body = issue_link_body(fields, issue_id=issue, web_url=f"https://acme.sentry.io/issues/{issue}/")
    resp = await client.post("/sentry/issue-link/create", data=body, headers=ui_headers(body))
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["webUrl"])


async def deliver(client: Client, action: str, issue: int, timestamp: int, **fields: str | None) -> None:
    body = webhook(action, {"issue": group(issue, **fields)})
    resp = await client.post("/sentry/webhook", data=body, headers=hook_headers(body, "issue", timestamp))
    assert (resp.status, (await resp.json())["outcome"]) == (202, "queued")


def status(notion: Notion, issue: int) -> str:
    (page,) = [
        p
        for p in notion.fake.pages(notion.data_source_id)
        if p["properties"]["Sentry Link"]["url"] == f"https://acme.sentry.io/issues/{issue}/"
    ]
    return str(page["properties"]["Status"]["status"]["name"])


async def test_a_ten_minute_rate_limit_outage_is_waited_out_and_every_event_applied_once_in_order(
    start_app: StartApp, notion: Notion, worker: Worker, clock: CompressedClock
) -> None:
    client = await start_app()
    for issue in ISSUES:
        await create(client, issue)
    notion.fake.fail_next("*", ".*", 429, times=1_000_000, retry_after=30)
    sentry_time = int(time.time()) - 30  # Sentry's clock need not agree with ours
    for issue in ISSUES:
        await deliver(client, "resolved", issue, sentry_time, status="resolved", substatus=None)
        if issue in REGRESSED:
            await deliver(client, "unresolved", issue, sentry_time + 1, substatus="regressed")
    events = len(ISSUES) + len(REGRESSED)

    deadline = time.monotonic() + WAIT_S
    while len(worker.applied) < events:
        assert time.monotonic() < deadline, f"{len(worker.applied)} of {events} events applied"
        await asyncio.sleep(0.02)

    assert clock.now >= OUTAGE_S
    assert set(clock.waits) == {30.0}  # as long as Notion asked, every time
    assert await worker.queue.dead_letters() == []
    assert [int(job.body["data"]["issue"]["id"]) for job in worker.applied] == [
        issue for issue in ISSUES for _ in range(2 if issue in REGRESSED else 1)
    ]
    for issue in ISSUES:
        assert (issue, status(notion, issue)) == (issue, "Not started" if issue in REGRESSED else "Done")
    writes = [
        r for r in notion.fake.calls("PATCH", r"/v1/pages/[^/]+") if "Status" in (r.json or {}).get("properties", {})
    ]
    assert len(writes) == events  # each event written once, none twice after the recovery
