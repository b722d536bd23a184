import asyncio
import contextlib
import math
import time
from dataclasses import dataclass

import aiohttp

from adapters.notion.client import NOTION_VERSION
from benchmarks.harness.sampling import cpu_seconds
from benchmarks.harness.stack import notion_stats
from benchmarks.notion_server import DONE, TODO
from benchmarks.webhooks.hooks import Bench, Sent, issue_webhook


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
    def steady_per_s(self) -> float | None:
        # From a quarter of the PATCHes on: by then a rate limiter's burst allowance is spent.
        # Like applied_per_s, up to the last PATCH seen: a phase-1 job still in a worker's hands when the
        # queue was emptied may have made one event's PATCH unnecessary.
        quarter = next(((t, n) for t, n in self.progress if n >= math.ceil(self.events / 4)), None)
        if quarter is None or self.last_patch_s <= quarter[0]:
            return None
        return (self.patches - quarter[1]) / (self.last_patch_s - quarter[0])

    @property
    def calls_per_event(self) -> float:
        return self.notion_calls / self.events if self.events else 0.0


async def prepare_entries(bench: Bench, session: aiohttp.ClientSession, wanted: dict[int, str]) -> int:
    """Sets the entries' status through the fake's API, so each event of the burst changes it."""
    current = await bench.statuses(session)
    todo = [(issue, status) for issue, status in wanted.items() if current.get(str(issue)) != status]
    headers = {"Authorization": f"Bearer {bench.info['token']}", "Notion-Version": NOTION_VERSION}
    gate = asyncio.Semaphore(50)

    async def patch(issue: int, status: str) -> None:
        page_id = bench.info["page_ids"][issue - 1]
        body = {"properties": {"Status": {"status": {"name": status}}}}
        async with gate, session.patch(f"{bench.notion.url}/v1/pages/{page_id}", json=body, headers=headers) as r:
            if r.status != 200:
                raise RuntimeError(f"could not set the status of {page_id}: {r.status} {await r.text()}")

    await asyncio.gather(*(patch(issue, status) for issue, status in todo))
    return len(todo)


async def phase2(bench: Bench) -> None:
    """A burst of status changes, one per issue, timed until the fake Notion has every PATCH and the queue is empty."""
    args, events = bench.args, bench.args.events
    # Odd issues are Done and regress, even ones are To-do and get resolved: alternating, each a change.
    plan = {issue: "regressed" if issue % 2 else "resolved" for issue in range(1, events + 1)}
    before_state = {issue: DONE if t == "regressed" else TODO for issue, t in plan.items()}
    expected = {issue: TODO if t == "regressed" else DONE for issue, t in plan.items()}
    bodies = [issue_webhook(issue, plan[issue]) for issue in range(1, events + 1)]
    sent = Sent()
    progress: list[tuple[float, int]] = []
    queue = bench.queue
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=args.timeout)) as session:
        prepared = await prepare_entries(bench, session, before_state)
        since = (await notion_stats(session, bench.notion))["requests"]
        workers_cpu, service_cpu = bench.workers_cpu(), cpu_seconds(bench.service.pid)
        started = time.perf_counter()
        burst = asyncio.create_task(
            bench.drive(lambda n: bodies[n] if n < events else None, args.burst_concurrency, None, sent)
        )
        sent_in_s: float | None = None
        applied_s = drained_s = None
        patches, last_patch_s, last_print = 0, 0.0, started
        deadline = started + args.apply_timeout
        while True:
            await asyncio.sleep(args.poll_s)
            now = time.perf_counter()
            if sent_in_s is None and burst.done():
                await burst
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
                print(f"  applied {patches}/{events} after {now - started:.0f} s, {unfinished} jobs queued")
                last_print = now
        timed_out = drained_s is None
        if not burst.done():
            burst.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await burst
        if sent_in_s is None:
            sent_in_s = time.perf_counter() - started
        workers_cpu, service_cpu = bench.workers_cpu() - workers_cpu, cpu_seconds(bench.service.pid) - service_cpu
        stats = await notion_stats(session, bench.notion, since)
        final = await bench.statuses(session)
    wrong = [f"{i}: {final.get(str(i))} (wanted {s})" for i, s in expected.items() if final.get(str(i)) != s]
    after = await queue.stats()
    bench.apply = ApplyResult(
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
        unfinished=after.depth,
        dead_letters=after.dead_letters,
        workers_cpu_s=workers_cpu,
        service_cpu_s=service_cpu,
        progress=progress,
    )
