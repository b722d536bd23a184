"""Webhook benchmark (issue 4): acknowledgement latency and applied events per second, driven like Sentry drives it.

    uv run python -m benchmarks.webhooks                  # 55 to 80 s on the 2-core machine
    uv run python -m benchmarks.webhooks --duration 2 --events 100
    uv run python -m benchmarks.webhooks --workers 4 --notion-latency-ms 50

Started, and stopped again whatever happens (Ctrl-C included):

- the fake Notion (tests/fake_notion.py) in a process of its own, answering every call after
  `--notion-latency-ms`, with a "Bugs" database whose entries are linked to Sentry issues 1..N
  (Sentry Link = https://acme.sentry.io/issues/<n>/) and have a Status column (`python -m benchmarks.webhooks
  fake-notion`, which also answers /__info, /__stats and /__statuses);
- the service, `sentry-notion serve --no-worker` (the workers below apply the queue), with
  `column_names.status = "Status"`, Redis DB 14 under a unique prefix;
- `--workers` queue workers, `sentry-notion worker`, with the same environment.

Phase 1, acknowledgement: signed `issue.resolved` / `issue.unresolved` webhooks (tests/sentry.py), each with its
own event count so none is deduplicated (duplicates are recognised by the signed body), at each `--concurrency`
for `--duration` seconds (or `--requests` webhooks). The workers run meanwhile, as in production; the jobs still
queued when the phase ends are then dropped from the stream, so phase 2 starts from an empty queue.

Phase 2, applied throughput: entries are first set (through the fake's API, before counting) so that a burst of
`--events` webhooks, one per issue, alternating `issue.unresolved` (regressed) and `issue.resolved`, changes every
entry's status. The clock runs from the first webhook of the burst until the fake Notion has received one status
PATCH per event (or the queue has no unfinished job left), polling /__stats and the stream.

The report is a Markdown table and PASS/FAIL for "ack p99 < 50 ms at concurrency 16". It exits 0 once it has
measured: it is a report.
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import secrets
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis
import redis.asyncio as aioredis
from aiohttp import web

from benchmarks.load import (
    REDIS_URL,
    Child,
    Processes,
    clean_up,
    cpu_seconds,
    fmt,
    free_port,
    machine_busy_seconds,
    memory_kb,
    pids_named,
    service_log_summary,
    wait_ready,
)
from tests.support.sentry import group, hook_headers, webhook

ROOT = Path(__file__).resolve().parents[1]

# Issue 4's target.
TARGET_CONCURRENCY = 16
TARGET_P99_MS = 50.0

# The fake database: tests/fake_notion.py's default columns; its Status options and their groups.
TODO, DONE = "Not started", "Done"  # first option of the To-do group, of the Complete group
SENTRY_LINK = "https://acme.sentry.io/issues/{}/"
NOTION_VERSION = "2026-03-11"

# adapters/redis_queue.py keeps unfinished jobs in this stream (a finished job is deleted from it), read by this group.
JOBS_STREAM = "{}:queue:jobs"
DEAD_STREAM = "{}:queue:dead"
GROUP = "workers"
WAITING_CONSUMER = "waiting-for-retry"


# ----- the fake Notion, in its own process -----


def serve_fake_notion(argv: list[str]) -> int:
    from benchmarks.notion_server import TOKEN, build_app
    from tests.support.fake_notion import FakeNotion

    parser = argparse.ArgumentParser(prog="python -m benchmarks.webhooks fake-notion")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--entries", type=int, default=200)
    args = parser.parse_args(argv)

    fake = FakeNotion(token=TOKEN, seed=4)
    database_id, data_source_id = fake.add_database("Bugs")  # Name, ID, Assignee, Sentry Link, Status
    page_ids = [
        fake.add_page(
            data_source_id,
            f"TypeError in the checkout page (bug {n})",
            properties={"Sentry Link": {"url": SENTRY_LINK.format(n)}, "Status": {"status": {"name": TODO}}},
        )["id"]
        for n in range(1, args.entries + 1)
    ]
    fake.latency = args.latency_ms / 1000
    fake.requests.clear()
    info = {
        "token": TOKEN,
        "database_id": database_id,
        "data_source_id": data_source_id,
        "page_ids": page_ids,  # page_ids[n - 1] is linked to Sentry issue n
        "person_ids": [],
        "latency_s": fake.latency,
    }

    @web.middleware
    async def statuses(request: web.Request, handler: Any) -> web.StreamResponse:
        # Each page's Status by Sentry issue id, read in process: not a Notion call, not recorded.
        if request.path == "/__statuses":
            found: dict[str, str | None] = {}
            for page in fake.pages(data_source_id):
                link = (page["properties"].get("Sentry Link") or {}).get("url") or ""
                status = (page["properties"].get("Status") or {}).get("status") or {}
                found[link.rstrip("/").rsplit("/", 1)[-1]] = status.get("name")
            return web.json_response(found)
        response: web.StreamResponse = await handler(request)
        return response

    app = build_app(fake, info)
    app.middlewares.append(statuses)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)
    return 0


# ----- webhooks, as Sentry sends them -----


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


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]  # nearest rank


@dataclass
class Sent:
    """Webhooks sent and what the service answered."""

    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    first_error: str = ""

    def record(self, started: float, status: int | None, text: str) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        if status is None:
            self.errors[text.partition(":")[0]] += 1
        elif status not in (200, 202):
            self.errors[str(status)] += 1
        else:
            with contextlib.suppress(ValueError, AttributeError):
                self.outcomes[str(json.loads(text).get("outcome"))] += 1
            return
        self.first_error = self.first_error or (f"{status} {text[:200]}" if status else text[:200])


@dataclass
class AckResult:
    concurrency: int
    elapsed_s: float
    sent: Sent
    service_cpu_s: float
    workers_cpu_s: float
    client_cpu_s: float
    other_cpu_s: float
    busy_cpu_s: float

    @property
    def requests(self) -> int:
        return len(self.sent.latencies_ms)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    def pct(self, p: float) -> float:
        return percentile(self.sent.latencies_ms, p)

    def per_s(self, cpu_s: float) -> float:
        return 100 * cpu_s / self.elapsed_s if self.elapsed_s else 0.0


@dataclass
class ApplyResult:
    events: int
    regressed: int
    prepared_calls: int
    sent: Sent
    sent_in_s: float
    patches: int
    applied_s: float | None  # first webhook to the last status PATCH needed, when all arrived
    drained_s: float | None  # first webhook to no unfinished job left
    last_patch_s: float  # first webhook to the last PATCH seen
    timed_out: bool
    notion_calls: int
    by_endpoint: dict[str, int]
    correct: int
    wrong: list[str]
    unfinished: int
    dead_letters: int
    workers_cpu_s: float
    service_cpu_s: float
    progress: list[tuple[float, int]]

    @property
    def applied_per_s(self) -> float:
        elapsed = self.applied_s if self.applied_s is not None else self.last_patch_s
        return self.patches / elapsed if elapsed else 0.0

    @property
    def calls_per_event(self) -> float:
        return self.notion_calls / self.events if self.events else 0.0


# ----- the run -----


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
    ack: list[AckResult] = field(default_factory=list)
    apply: ApplyResult | None = None
    dropped_after_phase1: int = 0
    bodies: Iterator[int] = field(default_factory=itertools.count)  # a new event count for every phase-1 body

    @property
    def jobs(self) -> str:
        return JOBS_STREAM.format(self.prefix)

    def workers_cpu(self) -> float:
        return sum(cpu_seconds(w.pid) for w in self.workers)

    def ours_cpu(self) -> float:
        pids = [self.notion.pid, self.service.pid, *(w.pid for w in self.workers), *pids_named("redis-server")]
        return time.process_time() + sum(cpu_seconds(pid) for pid in pids)

    async def notion_stats(self, session: aiohttp.ClientSession, since: int = 0) -> dict[str, Any]:
        async with session.get(f"{self.notion.url}/__stats", params={"since": str(since)}) as resp:
            resp.raise_for_status()
            stats: dict[str, Any] = await resp.json()
            return stats

    async def statuses(self, session: aiohttp.ClientSession) -> dict[str, str | None]:
        async with session.get(f"{self.notion.url}/__statuses") as resp:
            resp.raise_for_status()
            found: dict[str, str | None] = await resp.json()
            return found

    async def post(self, session: aiohttp.ClientSession, body: bytes, sent: Sent) -> None:
        headers = hook_headers(body, "issue", self.timestamps(), self.secret)
        started = time.perf_counter()
        try:
            async with session.post(f"{self.service.url}/sentry/webhook", data=body, headers=headers) as resp:
                sent.record(started, resp.status, await resp.text())
        except (aiohttp.ClientError, TimeoutError) as exc:
            sent.record(started, None, f"{type(exc).__name__}: {exc}")

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

    # ----- phase 1 -----

    def phase1_body(self, n: int) -> bytes | None:
        if self.args.requests and n >= self.args.requests:
            return None
        issues = self.args.entries
        issue_id = n % issues + 1
        return issue_webhook(issue_id, "resolved" if (n // issues) % 2 == 0 else "unresolved", events=next(self.bodies))

    async def measure_ack(self, concurrency: int) -> AckResult:
        sent = Sent()
        service_cpu, workers_cpu, client_cpu = cpu_seconds(self.service.pid), self.workers_cpu(), time.process_time()
        ours, busy = self.ours_cpu(), machine_busy_seconds()
        started = time.perf_counter()
        deadline = None if self.args.requests else started + self.args.duration
        await self.drive(self.phase1_body, concurrency, deadline, sent)
        elapsed = time.perf_counter() - started
        return AckResult(
            concurrency=concurrency,
            elapsed_s=elapsed,
            sent=sent,
            service_cpu_s=cpu_seconds(self.service.pid) - service_cpu,
            workers_cpu_s=self.workers_cpu() - workers_cpu,
            client_cpu_s=time.process_time() - client_cpu,
            other_cpu_s=max(0.0, (machine_busy_seconds() - busy) - (self.ours_cpu() - ours)),
            busy_cpu_s=machine_busy_seconds() - busy,
        )

    async def phase1(self) -> None:
        warm = Sent()
        await self.drive(lambda n: self.phase1_body(n) if n < 20 else None, 1, None, warm)
        if warm.errors:
            raise RuntimeError(f"warm-up webhooks failed: {warm.first_error}\n{self.service.log_tail()}")
        print(f"  warm-up: 20 webhooks, outcomes {dict(warm.outcomes)}", flush=True)
        for concurrency in self.args.concurrency:
            result = await self.measure_ack(concurrency)
            self.ack.append(result)
            if result.sent.first_error:
                print(f"  c={concurrency:<3} first error: {result.sent.first_error}")
            print(
                f"  ack c={concurrency:<3} {result.requests:>6} webhooks  {result.rps:8.1f}/s  "
                f"p50 {result.pct(50):6.1f} ms  p99 {result.pct(99):6.1f} ms  errors {sum(result.sent.errors.values())}"
                f"  client CPU {result.per_s(result.client_cpu_s):.0f} %",
                flush=True,
            )
        self.dropped_after_phase1 = await self.empty_queue()
        print(f"  dropped {self.dropped_after_phase1} phase-1 jobs still queued; queue empty", flush=True)

    async def empty_queue(self, timeout_s: float = 30.0) -> int:
        """Drops the queued jobs and waits for those in the workers' hands: phase 2 starts from an empty queue."""
        dropped = int(await self.redis.xtrim(self.jobs, maxlen=0, approximate=False))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pending = await self.redis.xpending_range(self.jobs, GROUP, min="-", max="+", count=1000)
            if not pending:
                return dropped
            waiting = [p["message_id"] for p in pending if _text(p["consumer"]) == WAITING_CONSUMER]
            if waiting and len(waiting) == len(pending):
                await self.redis.xack(self.jobs, GROUP, *waiting)  # failed jobs waiting out their backoff
                return dropped + len(waiting)
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the workers still hold jobs {timeout_s:.0f} s after the queue was emptied")

    # ----- phase 2 -----

    async def prepare_entries(self, session: aiohttp.ClientSession, wanted: dict[int, str]) -> int:
        """Sets the entries' status through the fake's API, so each event of the burst changes it."""
        current = await self.statuses(session)
        todo = [(issue, status) for issue, status in wanted.items() if current.get(str(issue)) != status]
        headers = {"Authorization": f"Bearer {self.info['token']}", "Notion-Version": NOTION_VERSION}
        gate = asyncio.Semaphore(50)

        async def patch(issue: int, status: str) -> None:
            page_id = self.info["page_ids"][issue - 1]
            body = {"properties": {"Status": {"status": {"name": status}}}}
            async with gate, session.patch(f"{self.notion.url}/v1/pages/{page_id}", json=body, headers=headers) as r:
                if r.status != 200:
                    raise RuntimeError(f"could not set the status of {page_id}: {r.status} {await r.text()}")

        await asyncio.gather(*(patch(issue, status) for issue, status in todo))
        return len(todo)

    async def phase2(self) -> None:
        events = self.args.events
        # Odd issues are Done and regress, even ones are To-do and get resolved: alternating, each a change.
        plan = {issue: "regressed" if issue % 2 else "resolved" for issue in range(1, events + 1)}
        before_state = {issue: DONE if t == "regressed" else TODO for issue, t in plan.items()}
        expected = {issue: TODO if t == "regressed" else DONE for issue, t in plan.items()}
        bodies = [issue_webhook(issue, plan[issue]) for issue in range(1, events + 1)]
        sent = Sent()
        progress: list[tuple[float, int]] = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.args.timeout)) as session:
            prepared = await self.prepare_entries(session, before_state)
            since = (await self.notion_stats(session))["requests"]
            workers_cpu, service_cpu = self.workers_cpu(), cpu_seconds(self.service.pid)
            started = time.perf_counter()
            burst = asyncio.create_task(
                self.drive(lambda n: bodies[n] if n < events else None, self.args.burst_concurrency, None, sent)
            )
            sent_in_s: float | None = None
            applied_s = drained_s = None
            patches, last_patch_s, last_print = 0, 0.0, started
            deadline = started + self.args.apply_timeout
            while True:
                await asyncio.sleep(self.args.poll_s)
                now = time.perf_counter()
                if sent_in_s is None and burst.done():
                    await burst
                    sent_in_s = now - started
                stats = await self.notion_stats(session, since)
                seen = int(stats["by_endpoint"].get("PATCH /v1/pages/{id}", 0))
                if seen > patches:
                    patches, last_patch_s = seen, now - started
                    progress.append((last_patch_s, patches))
                if applied_s is None and patches >= events:
                    applied_s = last_patch_s
                unfinished = int(await self.redis.xlen(self.jobs))
                if sent_in_s is not None and unfinished == 0:
                    drained_s = now - started
                    break
                if now >= deadline:
                    break
                if now - last_print >= 10:
                    print(f"  applied {patches}/{events} after {now - started:.0f} s, {unfinished} jobs queued")
                    last_print = now
            timed_out = drained_s is None
            if not burst.done():
                burst.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await burst
            if sent_in_s is None:
                sent_in_s = time.perf_counter() - started
            workers_cpu, service_cpu = self.workers_cpu() - workers_cpu, cpu_seconds(self.service.pid) - service_cpu
            stats = await self.notion_stats(session, since)
            final = await self.statuses(session)
        wrong = [f"{i}: {final.get(str(i))} (wanted {s})" for i, s in expected.items() if final.get(str(i)) != s]
        self.apply = ApplyResult(
            events=events,
            regressed=sum(1 for t in plan.values() if t == "regressed"),
            prepared_calls=prepared,
            sent=sent,
            sent_in_s=sent_in_s,
            patches=patches,
            applied_s=applied_s,
            drained_s=drained_s,
            last_patch_s=last_patch_s,
            timed_out=timed_out,
            notion_calls=int(stats["requests"]) - since,
            by_endpoint={str(k): int(v) for k, v in stats["by_endpoint"].items()},
            correct=len(expected) - len(wrong),
            wrong=wrong,
            unfinished=int(await self.redis.xlen(self.jobs)),
            dead_letters=int(await self.redis.xlen(DEAD_STREAM.format(self.prefix))),
            workers_cpu_s=workers_cpu,
            service_cpu_s=service_cpu,
            progress=progress,
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def redis_connections(pid: int, port: int = 6379) -> int:
    """Established TCP connections from a process to `port` on this host, from /proc (0 once it is gone)."""
    inodes: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    found = 0
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                cols = line.split()
                if cols[2].endswith(f":{port:04X}") and cols[3] == "01" and cols[9] in inodes:
                    found += 1
    return found


async def wait_workers(client: "aioredis.Redis", prefix: str, workers: Sequence[Child], timeout_s: float = 30) -> None:
    """Until the consumer group exists and every worker is connected to Redis (so reading the queue)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for child in workers:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        with contextlib.suppress(redis.RedisError):
            groups = await client.xinfo_groups(JOBS_STREAM.format(prefix))
            if any(_text(g["name"]) == GROUP for g in groups) and all(redis_connections(w.pid) for w in workers):
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the workers did not join the queue within {timeout_s:.0f} s:\n{workers[0].log_tail()}")


# ----- report -----


def ack_table(results: Sequence[AckResult]) -> str:
    head = (
        "| Conc. | Webhooks | Req/s | p50 ms | p95 ms | p99 ms | max ms | Errors | Outcomes "
        "| Service CPU ms/req | Workers CPU % | Client CPU % | Other CPU % | Machine busy % |"
    )
    lines = [head, "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in results:
        errors = sum(r.sent.errors.values())
        error_text = str(errors) + (
            f" ({', '.join(f'{k}×{v}' for k, v in r.sent.errors.most_common(3))})" if errors else ""
        )
        outcomes = ", ".join(f"{k} {v}" for k, v in r.sent.outcomes.most_common())
        service_ms = r.service_cpu_s * 1000 / r.requests if r.requests else None
        lines.append(
            f"| {r.concurrency} | {r.requests} | {r.rps:.0f} | {r.pct(50):.1f} | {r.pct(95):.1f} | {r.pct(99):.1f} "
            f"| {r.pct(100):.1f} | {error_text} | {outcomes} | {fmt(service_ms, 2)} | {r.per_s(r.workers_cpu_s):.0f} "
            f"| {r.per_s(r.client_cpu_s):.0f} | {r.per_s(r.other_cpu_s):.0f} "
            f"| {r.per_s(r.busy_cpu_s) / (os.cpu_count() or 1):.0f} |"
        )
    return "\n".join(lines)


def apply_table(a: ApplyResult, workers: int, latency_ms: float) -> str:
    ceiling = workers * 1000 / (a.calls_per_event * latency_ms) if a.calls_per_event and latency_ms else None
    applied = f"{a.applied_s:.1f}" if a.applied_s is not None else f"not reached ({a.patches} of {a.events})"
    drained = f"{a.drained_s:.1f}" if a.drained_s is not None else f"timed out ({a.unfinished} jobs left)"
    finished = (a.events - a.unfinished) / a.drained_s if a.drained_s else None
    calls = ", ".join(f"{k} ×{v / a.events:.2f}" for k, v in sorted(a.by_endpoint.items())) or "none"
    rows = [
        ("Events (one per issue)", f"{a.events}: {a.regressed} regressed, {a.events - a.regressed} resolved"),
        ("Workers × fake Notion latency", f"{workers} × {latency_ms:g} ms per call"),
        ("Burst sent in", f"{a.sent_in_s:.2f} s (ack p99 {percentile(a.sent.latencies_ms, 99):.1f} ms)"),
        ("Status PATCHes received", f"{a.patches} of {a.events}"),
        ("First webhook → all PATCHes received, s", applied),
        ("First webhook → queue empty, s", drained),
        ("**Applied events/s**", f"**{a.applied_per_s:.1f}**"),
        ("Jobs finished/s", fmt(finished)),
        ("Notion calls per event", f"{a.calls_per_event:.2f} ({calls})"),
        ("Ceiling: workers / (calls per event × latency)", f"{fmt(ceiling)} events/s"),
        ("Worker CPU per event", f"{a.workers_cpu_s * 1000 / a.events:.1f} ms"),
        ("Entries at the expected status afterwards", f"{a.correct} of {a.events}"),
    ]
    lines = ["| Applied throughput | |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def verdict(results: Sequence[AckResult]) -> tuple[str, str, str]:
    target = f"webhook acknowledgement p99 < {TARGET_P99_MS:.0f} ms at concurrency {TARGET_CONCURRENCY}"
    row = next((r for r in results if r.concurrency == TARGET_CONCURRENCY), None)
    if row is None or not row.requests:
        return "SKIP", target, f"concurrency {TARGET_CONCURRENCY} not measured"
    errors = sum(row.sent.errors.values())
    ok = row.pct(99) < TARGET_P99_MS and not errors
    return "PASS" if ok else "FAIL", target, f"p99 {row.pct(99):.1f} ms" + (f", {errors} errors" if errors else "")


def print_report(bench: Bench) -> None:
    args = bench.args
    load = f"{args.requests} webhooks" if args.requests else f"{args.duration:g} s"
    print()
    print(
        f"## Webhook benchmark: fake Notion latency {args.notion_latency_ms:g} ms per call, {args.workers} workers, "
        f"{bench.info and len(bench.info['page_ids'])} linked entries, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print()
    print(f"### Acknowledgement ({load} per concurrency; workers running)")
    print()
    print(ack_table(bench.ack))
    print()
    print(
        "Service CPU: the service's CPU time per webhook. Workers, client (this load generator) and other (processes "
        "outside the benchmark and Redis) CPU: in % of one CPU over the run. Machine busy: all CPUs, in % of all; "
        "near 100 %, the load generator, the service, the workers and Redis compete for the cores and the tail "
        "latency is partly waiting for a CPU."
    )
    noisiest = max((r.per_s(r.other_cpu_s) for r in bench.ack), default=0.0)
    if noisiest > 25:
        print(f"**Noisy machine**: other processes used up to {noisiest:.0f} % of a CPU; latencies are pessimistic.")
    print(f"Phase-1 jobs still queued at its end, dropped before phase 2: {bench.dropped_after_phase1}.")
    a = bench.apply
    if a is not None:
        print()
        print(
            f"### Applied throughput (burst of {a.events} events, one per issue: {a.regressed} regressed, "
            f"{a.events - a.regressed} resolved; sent at concurrency {args.burst_concurrency})"
        )
        print()
        print(apply_table(a, args.workers, args.notion_latency_ms))
        print()
        print(
            "Applied events/s: status PATCHes received by the fake Notion / time from the first webhook to the last "
            "PATCH (received, i.e. before its latency). Ceiling: workers / (calls per event × latency), one job at a "
            f"time per worker. {a.prepared_calls} entries were set beforehand (not counted)."
        )
        if a.progress:
            marks = [
                next((t for t, n in a.progress if n >= math.ceil(a.events * q)), None) for q in (0.25, 0.5, 0.75, 1.0)
            ]
            print("PATCHes at 25/50/75/100 %: " + " / ".join("–" if t is None else f"{t:.1f} s" for t in marks) + ".")
        outcomes = ", ".join(f"{k} {v}" for k, v in a.sent.outcomes.most_common())
        print(f"Burst outcomes: {outcomes}; errors {sum(a.sent.errors.values())}; dead letters {a.dead_letters}.")
        if a.wrong:
            print(f"**{len(a.wrong)} entries not at the expected status**, e.g. {'; '.join(a.wrong[:5])}.")
        if a.timed_out:
            print(f"**Timed out** after {args.apply_timeout:g} s with {a.unfinished} unfinished jobs.")
        if a.patches == 0 and not a.timed_out:
            print(
                "**No status PATCH at all**: the workers finished every job without writing a status. Is the "
                "configured `column_names.status` reaching the Notion tracker?"
            )
    print()
    print("### Target (issue 4)")
    mark, target, measured = verdict(bench.ack)
    print(f"- **{mark}** {target}: {measured}")


# ----- main -----


async def benchmark(args: argparse.Namespace, processes: Processes, prefix: str) -> None:
    main_task = asyncio.current_task()
    if main_task is not None:  # SIGTERM stops the run like Ctrl-C does: cancel, then clean up in main()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    secret = secrets.token_hex(16)
    notion_port, service_port = free_port(), free_port()
    python = sys.executable
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTION_", "REDIS_", "SENTRY_NOTION_"))}
    base_env["PYTHONUNBUFFERED"] = "1"
    entries = max(args.entries, args.events)
    notion = processes.start(
        "notion",
        [
            python,
            *("-m", "benchmarks.webhooks", "fake-notion"),
            *("--port", str(notion_port), "--latency-ms", str(args.notion_latency_ms), "--entries", str(entries)),
        ],
        base_env,
        notion_port,
    )
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=10)
    try:
        async with aiohttp.ClientSession() as session:
            info = await wait_ready(session, notion, "/__info")
            env = base_env | {
                "NOTION_TOKEN": info["token"],
                "NOTION_CONFIG": json.dumps({"database_id": info["database_id"], "column_names": {"status": "Status"}}),
                "NOTION_API_BASE_URL": notion.url,
                "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET": secret,
                "REDIS_URL": REDIS_URL,
                "REDIS_PREFIX": prefix,
                "LOG_LEVEL": "warning",
                "NOTION_RATE_LIMIT": str(args.notion_rate_limit),
            }
            script = Path(python).parent / "sentry-notion"
            command = [str(script)] if script.exists() else [python, "-c", "import cli; cli.main()"]
            service = processes.start(
                "service",
                [*command, "serve", "--host", "127.0.0.1", "--port", str(service_port), "--no-worker"],
                env,
                service_port,
            )
            workers = [processes.start(f"worker-{n}", [*command, "worker"], env, 0) for n in range(args.workers)]
            await wait_ready(session, service, "/healthz")
            await wait_workers(client, prefix, workers)
        print(
            f"fake Notion pid {notion.pid} ({len(info['page_ids'])} linked entries, "
            f"{args.notion_latency_ms:g} ms/call), "
            f"service pid {service.pid}, workers {', '.join(str(w.pid) for w in workers)}, "
            f"Redis {REDIS_URL} prefix {prefix}",
            flush=True,
        )
        clock = itertools.count(int(time.time()) - 86_400)  # a distinct Sentry-Hook-Timestamp per webhook, ascending
        bench = Bench(args, secret, prefix, info, notion, service, workers, client, lambda: next(clock))
        print("Phase 1: acknowledgement latency", flush=True)
        await bench.phase1()
        print(f"Phase 2: applied throughput ({args.events} events)", flush=True)
        await bench.phase2()
        print_report(bench)
        hwm = memory_kb(service.pid).get("VmHWM")
        print(f"\nService peak RSS {fmt(hwm / 1024 if hwm else None)} MB.")
        print(f"Service log at warning and above: {service_log_summary(service)}")
        for worker in workers:
            print(f"{worker.name} log at warning and above: {service_log_summary(worker)}")
    finally:
        await client.aclose()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webhooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--notion-latency-ms", type=float, default=100.0, help="fake Notion's delay per call")
    parser.add_argument("--entries", type=int, default=200, help="linked entries (Sentry issues 1..N; default 200)")
    parser.add_argument("--workers", type=int, default=2, help="`sentry-notion worker` processes (default 2)")
    parser.add_argument("--concurrency", default="1,16", help="phase 1 levels, comma-separated (default 1,16)")
    parser.add_argument("--duration", type=float, default=3.0, help="phase 1 seconds per level (default 3)")
    parser.add_argument("--requests", type=int, default=0, help="phase 1 webhooks per level instead of a duration")
    parser.add_argument(
        "--events",
        type=int,
        default=400,
        help="phase 2 burst, one event per issue (default 400; more entries are seeded if N is smaller)",
    )
    parser.add_argument("--burst-concurrency", type=int, default=16, help="phase 2 sending concurrency (default 16)")
    parser.add_argument("--apply-timeout", type=float, default=90.0, help="phase 2 gives up after this many seconds")
    parser.add_argument("--poll-s", type=float, default=0.05, help="phase 2 polling interval of /__stats, seconds")
    parser.add_argument(
        "--notion-rate-limit",
        type=int,
        default=100_000,
        help="the service's NOTION_RATE_LIMIT, high so the shared limiter never throttles the benchmark",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="client timeout per request, seconds")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (printed path)")
    args = parser.parse_args(argv)
    args.concurrency = sorted({int(c) for c in args.concurrency.split(",") if c.strip()})
    if not args.concurrency or min(args.concurrency) < 1:
        parser.error("--concurrency needs positive whole numbers")
    if min(args.entries, args.workers, args.events, args.burst_concurrency) < 1:
        parser.error("--entries, --workers, --events and --burst-concurrency must be at least 1")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM before the event loop runs cleans up like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fake-notion"]:
        return serve_fake_notion(argv[1:])
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    prefix = f"bench-webhooks-{uuid.uuid4().hex[:12]}"
    log_dir = Path(tempfile.mkdtemp(prefix="sentry-notion-webhooks-"))
    processes = Processes(log_dir)
    status = 0
    try:
        asyncio.run(benchmark(args, processes, prefix))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted: cleaning up", file=sys.stderr)
        status = 130
    except Exception as exc:
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    finally:
        clean_up(processes, prefix, log_dir, keep_logs=args.keep_logs or status == 1, started=started)
    return status


if __name__ == "__main__":
    sys.exit(main())
