import asyncio
import contextlib
import math
import time
from dataclasses import dataclass

import aiohttp

from benchmarks.harness.sampling import cpu_seconds
from benchmarks.harness.stack import notion_stats
from benchmarks.notion_server import DONE, TODO
from benchmarks.webhooks.hooks import Bench, Sent, issue_webhook


@dataclass
class ApplyResult:
    name: str
    events: int
    transition: str
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
    def steady_per_s(self) -> float | None:
        # From a quarter of the PATCHes on: by then a rate limiter's burst allowance is spent.
        quarter = next(((t, n) for t, n in self.progress if n >= math.ceil(self.events / 4)), None)
        if quarter is None or self.last_patch_s <= quarter[0]:
            return None
        return (self.patches - quarter[1]) / (self.last_patch_s - quarter[0])

    @property
    def calls_per_event(self) -> float:
        return self.notion_calls / self.events if self.events else 0.0


# Each burst moves every entry of issues 1..--events: the first from the seeded "Not started", the second back.
BURSTS = (("first", "resolved", DONE), ("again", "regressed", TODO))


async def phase2(bench: Bench) -> None:
    """Two bursts of status changes, one per issue each: the first on entries the service has not seen yet (it finds
    and reads each before writing), the second back again on the same entries (it knows the links and, two-way,
    the entries as its writes left them: the steady state)."""
    for name, transition, status in BURSTS:
        result = await burst(bench, name, transition, status)
        bench.apply.append(result)
        print(f"  {name}: {result.calls_per_event:.2f} Notion calls per event, {result.applied_per_s:.2f} events/s")


async def burst(bench: Bench, name: str, transition: str, status: str) -> ApplyResult:
    """A burst of `transition` webhooks, one per issue, timed until the fake Notion has every PATCH and the queue
    is empty. Two-way, each issue takes the status in the fake Sentry just before its webhook is sent, as the
    service reads it there."""
    args, events = bench.args, bench.args.events
    sentry = bench.sentry

    def body(n: int) -> bytes | None:
        if n >= events:
            return None
        if sentry is not None:
            sentry.set_status(n + 1, *(("unresolved", "regressed") if transition == "regressed" else (transition,)))
        return issue_webhook(n + 1, transition, events=next(bench.bodies))

    sent = Sent()
    progress: list[tuple[float, int]] = []
    queue = bench.queue
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=args.timeout)) as session:
        since = (await notion_stats(session, bench.notion))["requests"]
        workers_cpu, service_cpu = bench.workers_cpu(), cpu_seconds(bench.service.pid)
        started = time.perf_counter()
        sending = asyncio.create_task(bench.drive(body, args.burst_concurrency, None, sent))
        sent_in_s: float | None = None
        applied_s = drained_s = None
        patches, last_patch_s, last_print = 0, 0.0, started
        deadline = started + args.apply_timeout
        while True:
            await asyncio.sleep(args.poll_s)
            now = time.perf_counter()
            if sent_in_s is None and sending.done():
                await sending
                sent_in_s = now - started
            stats = await notion_stats(session, bench.notion, since)
            seen = int(stats["by_endpoint"].get("PATCH /v1/pages/{id}", 0))
            if seen > patches:
                patches, last_patch_s = seen, now - started
                progress.append((last_patch_s, patches))
            if applied_s is None and patches >= events:
                applied_s = last_patch_s
            unfinished = (await queue.stats()).depth
            if sent_in_s is not None and unfinished == 0:
                drained_s = now - started
                break
            if now >= deadline:
                break
            if now - last_print >= 10:
                print(f"  {name}: applied {patches}/{events} after {now - started:.0f} s, {unfinished} jobs queued")
                last_print = now
        timed_out = drained_s is None
        if not sending.done():
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
        if sent_in_s is None:
            sent_in_s = time.perf_counter() - started
        workers_cpu, service_cpu = bench.workers_cpu() - workers_cpu, cpu_seconds(bench.service.pid) - service_cpu
        stats = await notion_stats(session, bench.notion, since)
        final = await bench.statuses(session)
    wrong = [f"{i}: {final.get(str(i))} (wanted {status})" for i in range(1, events + 1) if final.get(str(i)) != status]
    after = await queue.stats()
    return ApplyResult(
        name=name,
        events=events,
        transition=transition,
        sent=sent,
        sent_in_s=sent_in_s,
        patches=patches,
        applied_s=applied_s,
        drained_s=drained_s,
        last_patch_s=last_patch_s,
        timed_out=timed_out,
        notion_calls=int(stats["requests"]) - since,
        by_endpoint={str(k): int(v) for k, v in stats["by_endpoint"].items()},
        correct=events - len(wrong),
        wrong=wrong,
        unfinished=after.depth,
        dead_letters=after.dead_letters,
        workers_cpu_s=workers_cpu,
        service_cpu_s=service_cpu,
        progress=progress,
    )
