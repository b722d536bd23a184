"""Notion → Sentry benchmark (issue 10): Notion's webhook events applied to Sentry, in a burst and one at a time.

    uv run python -m benchmarks.notion_events                  # 120 status changes and 30 comments, then 20 alone
    uv run python -m benchmarks.notion_events --entries 100 --comments 20 --workers 4 --paced 0

Started, and stopped again whatever happens: the fake Notion (benchmarks.notion_server, `--entries` + `--paced`
entries linked to Sentry issues 1..N, "Not started", `--notion-latency-ms` per call), the fake Sentry
(tests/support/fake_sentry.py, issues 1..N unresolved, served in this process), `sentry-notion serve --no-worker`
with NOTION_WEBHOOK_SECRET and `--workers` `sentry-notion worker` processes on Redis DB 14, at the default
NOTION_RATE_LIMIT (150 calls a minute) unless `--notion-rate-limit`.

The burst: before the clock starts, a person moves the first `--entries` entries to "Done" and comments on the first
`--comments` of them in the fake Notion's UI, which keeps the events Notion would send (one page.properties_updated
per entry, one comment.created per comment). They are posted, signed, to /notion/webhook from `--concurrency`
clients; the clock runs from the first post until the queue has no unfinished job left. A burst event the service
refuses (503: a service that has not read the database yet cannot tell its workspace within the acknowledgement's
budget) is sent again right after the burst, with the next attempt_number, as Notion sends it later. Then one at a
time: the person moves each of the last `--paced` entries to "Done", its event is posted as soon as the fake Notion
has it, and the next follows `--paced-interval` seconds after Sentry took the change.

Reported: acknowledgement p50/p99, applied events per second, Notion and Sentry calls per event, and the time from
each change's event leaving the fake Notion to the fake Sentry receiving its write (the status, or the note of a
comment), p50/p99; the benchmark fails unless every Sentry issue ends resolved, with one note per comment.
"""

import argparse
import asyncio
import json
import os
import re
import secrets
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from adapters.redis_queue import RedisJobQueue
from benchmarks.harness.measure import Tally, per_action, percentile
from benchmarks.harness.processes import Child, Processes, wait_ready
from benchmarks.harness.run import run
from benchmarks.harness.sampling import CpuClock
from benchmarks.harness.stack import (
    REDIS_URL,
    Arrivals,
    drained,
    notion_stats,
    sentry_notion,
    serve_sentry,
    service_env,
    start_fake_notion,
    start_service,
    two_way_env,
    wait_workers,
)
from benchmarks.notion_server import DONE
from tests.support.fake_notion.webhooks import encode
from tests.support.fake_sentry import FakeSentry
from tests.support.notion_webhooks import headers

# An event posted (time.perf_counter()), and the Sentry write it should cause: method and path.
Posted = tuple[float, str, str]


def sentry_endpoint(method: str, path: str) -> str:
    """`PUT /api/0/organizations/acme/issues/{id}/`: a recorded request without its issue id."""
    return f"{method} {re.sub(r'/issues/[0-9]+/', '/issues/{id}/', path)}"


def sentry_write(event: dict[str, Any], issue_of: dict[str, int], organization: str) -> tuple[str, str]:
    """The Sentry request that applies the event: the issue's status, or a note for a comment."""
    page = event["data"]["page_id"] if event["type"].startswith("comment.") else event["entity"]["id"]
    path = f"/api/0/organizations/{organization}/issues/{issue_of[page]}/"
    return ("POST", path + "comments/") if event["type"].startswith("comment.") else ("PUT", path)


def delays_ms(posted: list[Posted], arrivals: Arrivals) -> list[float]:
    """For each event, from its post to the first arrival of its Sentry write after it; missing ones are left out."""
    found = []
    for at, method, path in posted:
        arrived = next((t for t, m, p in arrivals if t >= at and m == method and p == path), None)
        if arrived is not None:
            found.append((arrived - at) * 1000)
    return found


async def bench(processes: Processes, prefix: str, args: argparse.Namespace) -> None:
    secret, notion_secret = secrets.token_hex(16), "secret_" + secrets.token_hex(20)
    issues = args.entries + args.paced
    notion = start_fake_notion(processes, latency_ms=args.notion_latency_ms, entries=issues, people=1, linked=True)
    sentry, sentry_runner, sentry_url, arrivals = await serve_sentry(range(1, issues + 1), args.sentry_latency_ms)
    client = aioredis.from_url(REDIS_URL)
    try:
        async with aiohttp.ClientSession() as session:
            info = await wait_ready(session, notion, "/__info")
            env = service_env(
                info,
                notion,
                secret=secret,
                prefix=prefix,
                rate_limit=args.notion_rate_limit,
                column_names={"status": "Status"},
            )
            env |= two_way_env(sentry, sentry_url, notion_secret)
            service = start_service(processes, env)
            workers = [
                processes.start(f"worker-{n}", [*sentry_notion(), "worker", "--metrics-port", "0"], env)
                for n in range(args.workers)
            ]
            await wait_ready(session, service, "/healthz")
            await wait_workers(client, prefix, workers)
            queue = RedisJobQueue(client, prefix=prefix, consumer="benchmark")
            pages = info["page_ids"]  # pages[n - 1] links Sentry issue n
            issue_of = {page: n + 1 for n, page in enumerate(pages)}
            texts = {pages[n]: f"Reproduced on staging (bug {n + 1})" for n in range(args.comments)}
            moved = {p: {"Status": {"status": {"name": DONE}}} for p in pages[: args.entries]}
            events = await person_changes(session, notion, {"properties": moved, "comments": texts}, set())
            bodies = _interleaved(events)
            since = (await notion_stats(session, notion))["requests"]
            sentry.requests.clear()
            ours = [notion.pid, service.pid, *(w.pid for w in workers)]
            cpu, load_before = CpuClock.read(ours), os.getloadavg()[0]
            tally, outcomes = Tally(), Counter[str]()
            gate = asyncio.Semaphore(args.concurrency)
            url = f"{service.url}/notion/webhook"
            posted: list[Posted] = []
            refused: list[dict[str, Any]] = []

            async def send(event: dict[str, Any]) -> None:
                body = encode(event)
                async with gate:
                    posted.append((time.perf_counter(), *sentry_write(event, issue_of, sentry.organization)))
                    answer = await tally.send(session, "POST", url, body, headers(body, notion_secret))
                outcomes[json.loads(answer)["outcome"] if answer else "error"] += 1
                if answer is None:
                    refused.append(event)

            started = time.perf_counter()
            await asyncio.gather(*(send(e) for e in bodies))
            sent_s = time.perf_counter() - started
            resent = await _send_again(send, refused)
            drained_s = await drained(queue, started, args.timeout)
            used = CpuClock.read(ours).since(cpu)
            stats = await notion_stats(session, notion, since)
            burst_sentry = len(sentry.requests)
            burst_delays = delays_ms(posted[: len(bodies)], arrivals)  # from each event's first attempt
            paced_since = stats["requests"]
            paced_posted: list[Posted] = []
            seen = {e["id"] for e in events}
            for page in pages[args.entries :]:
                change = {"properties": {page: {"Status": {"status": {"name": DONE}}}}}
                for event in await person_changes(session, notion, change, seen):
                    posted_at = len(posted)
                    await send(event)
                    paced_posted.append(posted[posted_at])
                    await _written(arrivals, posted[posted_at], args.timeout)
                await asyncio.sleep(args.paced_interval)
            await drained(queue, time.perf_counter(), args.timeout)
            paced_stats = await notion_stats(session, notion, paced_since)
            dead = (await queue.stats()).dead_letters
    finally:
        await client.aclose()
        await sentry_runner.cleanup()
    applied = len(bodies)
    notion_calls = int(stats["requests"]) - since
    sentry_by = Counter(sentry_endpoint(r.method, r.path) for r in sentry.requests[:burst_sentry])
    statuses = delays_ms([p for p in posted[:applied] if p[1] == "PUT"], arrivals)
    print(
        f"\n{args.entries} status changes and {args.comments} comments, then {args.paced} changes one at a time, "
        f"{args.workers} workers, NOTION_RATE_LIMIT {args.notion_rate_limit}, fake Notion latency "
        f"{args.notion_latency_ms:g} ms, fake Sentry latency {args.sentry_latency_ms:g} ms"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after; "
        f"processes outside the benchmark used {100 * used.other_s / drained_s:.0f} % of a CPU during the burst"
    )
    print("| events | sent in | ack p50 | ack p99 | drained in | applied/s | Notion calls/event | Sentry calls/event |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {applied} | {sent_s:.2f} s | {percentile(tally.latencies_ms[:applied], 50):.1f} ms | "
        f"{percentile(tally.latencies_ms[:applied], 99):.1f} ms | {drained_s:.1f} s | {applied / drained_s:.2f} | "
        f"{notion_calls / applied:.2f} | {burst_sentry / applied:.2f} |"
    )
    print(f"webhook outcomes {dict(outcomes)}, refused and sent again {resent}, dead letters {dead}")
    print("Notion calls by endpoint, per event:", per_action(stats["by_endpoint"], applied))
    print("Sentry calls by endpoint, per event:", per_action(sentry_by, applied))
    print()
    print("| Notion change → Sentry write | events | p50 | p99 | max | Notion calls/event |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, found, count, calls in (
        ("in the burst (status changes)", statuses, args.entries, None),
        ("in the burst (all)", burst_delays, applied, notion_calls),
        ("one at a time", delays_ms(paced_posted, arrivals), args.paced, paced_stats["requests"] - paced_since),
    ):
        if count:
            per_event = "–" if calls is None else f"{calls / count:.2f}"
            print(
                f"| {name} | {len(found)} of {count} | {percentile(found, 50):.0f} ms | {percentile(found, 99):.0f} ms"
                f" | {max(found, default=float('nan')):.0f} ms | {per_event} |"
            )
    wrong = _wrong(sentry, issues, [texts[p] for p in pages[: args.comments]], info)
    print(f"{'FAIL' if wrong else 'PASS'}: every issue resolved, one note per comment, nothing dead")
    if wrong or dead or refused:
        raise RuntimeError(
            f"{wrong[:5]} ({len(wrong)} issues wrong), {dead} dead letters, {len(refused)} events never taken, "
            f"errors {tally.errors}"
        )


async def person_changes(
    session: aiohttp.ClientSession, notion: Child, changes: dict[str, Any], seen: set[str]
) -> list[dict[str, Any]]:
    """A person makes the changes in the fake Notion's UI; the events Notion sends for them, unsigned."""
    async with session.post(f"{notion.url}/__person", json=changes) as r:
        r.raise_for_status()
    async with session.get(f"{notion.url}/__events") as r:
        pending: list[dict[str, Any]] = await r.json()
    new = [e for e in pending if e["id"] not in seen]
    seen.update(e["id"] for e in new)
    return new


async def _send_again(send: Callable[[dict[str, Any]], Awaitable[None]], refused: list[dict[str, Any]]) -> int:
    """Sends the refused events again as Notion does, with the next attempt_number, up to its 8th attempt (here at
    once, not after its backoff); how many were sent again. Those still refused are left in `refused`."""
    resent = 0
    while again := [{**e, "attempt_number": e["attempt_number"] + 1} for e in refused if e["attempt_number"] < 8]:
        refused[:] = [e for e in refused if e["attempt_number"] >= 8]
        resent += len(again)
        await asyncio.gather(*(send(e) for e in again))
    return resent


async def _written(arrivals: Arrivals, posted: Posted, timeout_s: float) -> None:
    """Until the fake Sentry has received the event's write, or the timeout."""
    at, method, path = posted
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if any(t >= at and m == method and p == path for t, m, p in arrivals):
            return
        await asyncio.sleep(0.005)


def _interleaved(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The comments spread through the status changes, as a team's day mixes them."""
    pages = [e for e in events if e["type"] == "page.properties_updated"]
    comments = [e for e in events if e["type"] == "comment.created"]
    step = max(1, len(pages) // max(1, len(comments)))
    mixed: list[dict[str, Any]] = []
    for n, page in enumerate(pages):
        mixed.append(page)
        if n % step == step - 1 and comments:
            mixed.append(comments.pop(0))
    return mixed + comments


def _wrong(sentry: FakeSentry, issues: int, texts: list[str], info: dict[str, Any]) -> list[str]:
    author = info["person_names"][0]
    wrong = []
    for issue in range(1, issues + 1):
        status = sentry.issue(issue)["status"]
        notes = sentry.notes(issue)
        expected = [f"{author} in Notion: {texts[issue - 1]}"] if issue <= len(texts) else []
        if status != "resolved" or notes != expected:
            wrong.append(f"issue {issue}: {status}, notes {notes}")
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=120, help="entries moved to Done in the burst (default 120)")
    parser.add_argument("--comments", type=int, default=30, help="comments, on the first entries (default 30)")
    parser.add_argument("--paced", type=int, default=20, help="entries then moved one at a time (default 20)")
    parser.add_argument(
        "--paced-interval", type=float, default=1.0, help="seconds between those, after each is written (default 1)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--notion-rate-limit", type=int, default=150, help="the service's default")
    parser.add_argument("--notion-latency-ms", type=float, default=100.0)
    parser.add_argument("--sentry-latency-ms", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the queue to drain")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    if not 0 <= args.comments <= args.entries or min(args.entries, args.workers, args.concurrency) < 1:
        parser.error("--entries, --workers and --concurrency must be at least 1, --comments at most --entries")
    if args.paced < 0:
        parser.error("--paced must not be negative")
    return run(lambda processes, prefix: bench(processes, prefix, args), name="notion-events", keep_logs=args.keep_logs)


if __name__ == "__main__":
    sys.exit(main())
