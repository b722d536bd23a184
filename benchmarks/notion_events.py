"""Notion → Sentry benchmark (issue 10): a burst of Notion's webhook events, applied to Sentry.

    uv run python -m benchmarks.notion_events                  # 120 status changes and 30 comments
    uv run python -m benchmarks.notion_events --entries 100 --comments 20 --workers 4

Started, and stopped again whatever happens: the fake Notion (benchmarks.notion_server, `--entries` entries linked
to Sentry issues 1..N, "Not started", `--notion-latency-ms` per call), the fake Sentry (tests/support/fake_sentry.py,
issues 1..N unresolved, served in this process), `sentry-notion serve --no-worker` with NOTION_WEBHOOK_SECRET and
`--workers` `sentry-notion worker` processes on Redis DB 14, at the default NOTION_RATE_LIMIT (150 calls a minute)
unless `--notion-rate-limit`.

Before the clock starts, a person moves every entry to "Done" and comments on the first `--comments` of them in the
fake Notion's UI, which keeps the events Notion would send (one page.properties_updated per entry, one
comment.created per comment). The burst posts them, signed, to /notion/webhook from `--concurrency` clients; the
clock runs from the first post until the queue has no unfinished job left. Reported: acknowledgement p50/p99,
applied events per second, Notion and Sentry calls per event; the benchmark fails unless every Sentry issue ends
resolved, with one note per comment.
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
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from adapters.redis_queue import RedisJobQueue
from benchmarks.harness.measure import Tally, per_action, percentile
from benchmarks.harness.processes import Processes, free_port, wait_ready
from benchmarks.harness.run import run
from benchmarks.harness.sampling import CpuClock
from benchmarks.harness.stack import REDIS_URL, drained, notion_stats, sentry_notion, service_env, start_fake_notion
from benchmarks.harness.stack import start_service as start_http_service
from benchmarks.notion_server import DONE
from benchmarks.webhooks.__main__ import wait_workers
from tests.support.fake_notion.webhooks import encode
from tests.support.fake_sentry import FakeSentry
from tests.support.notion_webhooks import headers

SENTRY_SCOPES = ("event:read", "event:write", "event:admin", "member:read")


async def serve_sentry(issues: int, latency_ms: float) -> tuple[FakeSentry, web.AppRunner, str]:
    sentry = FakeSentry(scopes=SENTRY_SCOPES)
    sentry.latency = latency_ms / 1000
    for issue in range(1, issues + 1):
        sentry.add_issue(issue, status="unresolved", substatus="ongoing")
    runner = web.AppRunner(sentry.app(), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return sentry, runner, f"http://127.0.0.1:{port}"


def sentry_endpoint(method: str, path: str) -> str:
    """`PUT /api/0/organizations/acme/issues/{id}/`: a recorded request without its issue id."""
    return f"{method} {re.sub(r'/issues/[0-9]+/', '/issues/{id}/', path)}"


async def bench(processes: Processes, prefix: str, args: argparse.Namespace) -> None:
    secret, notion_secret = secrets.token_hex(16), "secret_" + secrets.token_hex(20)
    notion = start_fake_notion(
        processes, latency_ms=args.notion_latency_ms, entries=args.entries, people=1, linked=True
    )
    sentry, sentry_runner, sentry_url = await serve_sentry(args.entries, args.sentry_latency_ms)
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
            env |= {
                "NOTION_WEBHOOK_SECRET": notion_secret,
                "SENTRY_API_TOKEN": sentry.token,
                "SENTRY_ORG": sentry.organization,
                "SENTRY_URL": sentry_url,
            }
            service = start_http_service(processes, env)
            workers = [
                processes.start(f"worker-{n}", [*sentry_notion(), "worker", "--metrics-port", "0"], env)
                for n in range(args.workers)
            ]
            await wait_ready(session, service, "/healthz")
            await wait_workers(client, prefix, workers)
            queue = RedisJobQueue(client, prefix=prefix, consumer="benchmark")
            pages = info["page_ids"]  # pages[n - 1] links Sentry issue n
            texts = {pages[n]: f"Reproduced on staging (bug {n + 1})" for n in range(args.comments)}
            changes = {"properties": {p: {"Status": {"status": {"name": DONE}}} for p in pages}, "comments": texts}
            async with session.post(f"{notion.url}/__person", json=changes) as r:
                r.raise_for_status()
            async with session.get(f"{notion.url}/__events") as r:
                events = await r.json()
            bodies = [encode(e) for e in _interleaved(events)]
            since = (await notion_stats(session, notion))["requests"]
            sentry.requests.clear()
            ours = [notion.pid, service.pid, *(w.pid for w in workers)]
            cpu, load_before = CpuClock.read(ours), os.getloadavg()[0]
            tally, outcomes = Tally(), Counter[str]()
            gate = asyncio.Semaphore(args.concurrency)
            url = f"{service.url}/notion/webhook"

            async def send(body: bytes) -> None:
                async with gate:
                    answer = await tally.send(session, "POST", url, body, headers(body, notion_secret))
                outcomes[json.loads(answer)["outcome"] if answer else "error"] += 1

            started = time.perf_counter()
            await asyncio.gather(*(send(b) for b in bodies))
            sent_s = time.perf_counter() - started
            drained_s = await drained(queue, started, args.timeout)
            used = CpuClock.read(ours).since(cpu)
            stats = await notion_stats(session, notion, since)
            dead = (await queue.stats()).dead_letters
    finally:
        await client.aclose()
        await sentry_runner.cleanup()
    applied = len(bodies)
    notion_calls = int(stats["requests"]) - since
    sentry_by = Counter(sentry_endpoint(r.method, r.path) for r in sentry.requests)
    print(
        f"\n{args.entries} status changes and {args.comments} comments, {args.workers} workers, NOTION_RATE_LIMIT "
        f"{args.notion_rate_limit}, fake Notion latency {args.notion_latency_ms:g} ms, fake Sentry latency "
        f"{args.sentry_latency_ms:g} ms"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after; "
        f"processes outside the benchmark used {100 * used.other_s / drained_s:.0f} % of a CPU meanwhile"
    )
    print("| events | sent in | ack p50 | ack p99 | drained in | applied/s | Notion calls/event | Sentry calls/event |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {applied} | {sent_s:.2f} s | {percentile(tally.latencies_ms, 50):.1f} ms | "
        f"{percentile(tally.latencies_ms, 99):.1f} ms | {drained_s:.1f} s | {applied / drained_s:.2f} | "
        f"{notion_calls / applied:.2f} | {len(sentry.requests) / applied:.2f} |"
    )
    print(f"webhook outcomes {dict(outcomes)}, dead letters {dead}")
    print("Notion calls by endpoint, per event:", per_action(stats["by_endpoint"], applied))
    print("Sentry calls by endpoint, per event:", per_action(sentry_by, applied))
    wrong = _wrong(sentry, args.entries, [texts[p] for p in pages[: args.comments]], info)
    print(f"{'FAIL' if wrong else 'PASS'}: every issue resolved, one note per comment, nothing dead")
    if wrong or dead or tally.errors:
        raise RuntimeError(f"{wrong[:5]} ({len(wrong)} issues wrong), {dead} dead letters, errors {tally.errors}")


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
    parser.add_argument("--entries", type=int, default=120, help="linked entries, each moved to Done (default 120)")
    parser.add_argument("--comments", type=int, default=30, help="comments, on the first entries (default 30)")
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
    return run(lambda processes, prefix: bench(processes, prefix, args), name="notion-events", keep_logs=args.keep_logs)


if __name__ == "__main__":
    sys.exit(main())
