import argparse
import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import redis.asyncio as aioredis

from adapters.redis_queue import RedisJobQueue
from adapters.redis_queue_scripts import QueueKeys
from benchmarks.harness.measure import Tally
from benchmarks.harness.processes import Child
from benchmarks.harness.sampling import cpu_seconds, pids_named
from tests.support.fake_sentry import FakeSentry
from tests.support.sentry import group, hook_headers, webhook

if TYPE_CHECKING:
    from benchmarks.webhooks.ack import AckResult
    from benchmarks.webhooks.apply import ApplyResult

# adapters/redis_queue.py keeps unfinished jobs in this stream (a finished job is deleted from it).


def issue_webhook(issue_id: int, transition: str, events: int = 42) -> bytes:
    """An issue webhook body; `transition` is resolved, unresolved or regressed (unresolved, substatus regressed).

    `events` is the issue's event count: Sentry's bodies differ as the issue moves on, and an identical body is
    taken for a duplicate.
    """
    count = str(events)
    if transition == "resolved":
        return webhook("resolved", {"issue": group(issue_id, status="resolved", substatus=None, count=count)})
    substatus = "regressed" if transition == "regressed" else "ongoing"
    return webhook("unresolved", {"issue": group(issue_id, status="unresolved", substatus=substatus, count=count)})


@dataclass
class Sent(Tally):
    """Webhooks sent and what the service answered, with the outcomes it named."""

    outcomes: Counter[str] = field(default_factory=Counter)


@dataclass
class Bench:
    args: argparse.Namespace
    secret: str
    prefix: str
    info: dict[str, Any]
    notion: Child
    service: Child
    workers: list[Child]
    redis: "aioredis.Redis"
    timestamps: Callable[[], int]
    sentry: FakeSentry | None = None  # Sentry's API, two-way; without it, the webhooks' content applies
    ack: "list[AckResult]" = field(default_factory=list)
    apply: "list[ApplyResult]" = field(default_factory=list)
    dropped_after_phase1: int = 0
    bodies: Iterator[int] = field(default_factory=itertools.count)  # a new event count for every phase-1 body

    @property
    def jobs(self) -> str:
        return QueueKeys(self.prefix).jobs

    @property
    def queue(self) -> RedisJobQueue:
        """The service's queue, read only for its stats (depth and dead letters)."""
        return RedisJobQueue(self.redis, prefix=self.prefix, consumer="benchmark")

    def workers_cpu(self) -> float:
        return sum(cpu_seconds(w.pid) for w in self.workers)

    def ours(self) -> list[int]:
        return [self.notion.pid, self.service.pid, *(w.pid for w in self.workers), *pids_named("redis-server")]

    async def statuses(self, session: aiohttp.ClientSession) -> dict[str, str | None]:
        async with session.get(f"{self.notion.url}/__statuses") as resp:
            resp.raise_for_status()
            found: dict[str, str | None] = await resp.json()
            return found

    async def post(self, session: aiohttp.ClientSession, body: bytes, sent: Sent) -> None:
        headers = hook_headers(body, "issue", self.timestamps(), self.secret)
        text = await sent.send(session, "POST", f"{self.service.url}/sentry/webhook", body, headers)
        if text is not None:
            with contextlib.suppress(ValueError, AttributeError):
                sent.outcomes[str(json.loads(text).get("outcome"))] += 1

    async def drive(
        self, bodies: Callable[[int], bytes | None], concurrency: int, deadline: float | None, sent: Sent
    ) -> None:
        """Sends bodies(0), bodies(1)... from `concurrency` clients until one is None or the deadline passes."""
        numbers = itertools.count()
        timeout = aiohttp.ClientTimeout(total=self.args.timeout)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def client() -> None:
                while deadline is None or time.perf_counter() < deadline:
                    body = bodies(next(numbers))
                    if body is None:
                        return
                    await self.post(session, body, sent)

            await asyncio.gather(*(client() for _ in range(concurrency)))
