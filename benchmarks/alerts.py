"""Alert benchmark (issue 11): a burst of issue alerts, as Sentry sends them when a rule fires on many events.

    uv run python -m benchmarks.alerts                       # 200 alerts on 50 issues, NOTION_RATE_LIMIT 150
    uv run python -m benchmarks.alerts --alerts 80 --issues 20 --workers 2

Started, and stopped again whatever happens: the fake Notion (benchmarks.notion_server, an empty "Bugs" database,
`--notion-latency-ms` per call), `sentry-notion serve --no-worker` and `--workers` `sentry-notion worker`
processes on Redis DB 14, at the default NOTION_RATE_LIMIT (150 calls a minute) unless `--notion-rate-limit`.

`--alerts` signed `event_alert` webhooks (each its own event, so none is a duplicate delivery) for `--issues`
Sentry issues, round-robin, from `--concurrency` clients. The clock runs from the first alert until the queue has
no unfinished job left. Reported: entries created per second, Notion calls per created entry, and whether each
issue got exactly one entry (the benchmark fails if not). No SENTRY_API_TOKEN: no sidebar link, no refresh jobs.
"""

import argparse
import asyncio
import secrets
import sys
import time
from collections import Counter

import aiohttp
import redis.asyncio as aioredis

from adapters.notion.client import NOTION_VERSION
from adapters.redis_queue import RedisJobQueue
from benchmarks.harness.processes import Processes, wait_ready
from benchmarks.harness.run import run
from benchmarks.harness.stack import (
    REDIS_URL,
    drained,
    notion_stats,
    sentry_notion,
    service_env,
    start_fake_notion,
    start_service,
    wait_workers,
)
from tests.support.sentry import event_alert, hook_headers


async def bench(processes: Processes, prefix: str, args: argparse.Namespace) -> None:
    secret = secrets.token_hex(16)
    notion = start_fake_notion(processes, latency_ms=args.notion_latency_ms, entries=0, people=5, linked=False)
    async with aiohttp.ClientSession() as session:
        info = await wait_ready(session, notion, "/__info")
        env = service_env(info, notion, secret=secret, prefix=prefix, rate_limit=args.notion_rate_limit)
        env["ALERT_CREATE_LIMIT"] = str(args.alerts)  # the cap is not what is measured
        service = start_service(processes, env)
        workers = [
            processes.start(f"worker-{n}", [*sentry_notion(), "worker", "--metrics-port", "0"], env)
            for n in range(args.workers)
        ]
        await wait_ready(session, service, "/healthz")
        client = aioredis.from_url(REDIS_URL)
        await wait_workers(client, prefix, workers)
        queue = RedisJobQueue(client, prefix=prefix, consumer="benchmark")
        since = (await notion_stats(session, notion))["requests"]
        database = [{"name": "database", "value": info["database_id"]}]
        bodies = [event_alert(n % args.issues + 1, database) for n in range(args.alerts)]
        outcomes: Counter[str] = Counter()
        gate = asyncio.Semaphore(args.concurrency)
        url = f"{service.url}/sentry/webhook"

        async def send(body: bytes) -> None:
            async with (
                gate,
                session.post(url, data=body, headers=hook_headers(body, "event_alert", int(time.time()), secret)) as r,
            ):
                outcomes[(await r.json())["outcome"] if r.status < 300 else f"HTTP {r.status}"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(send(b) for b in bodies))
        sent_s = time.perf_counter() - started
        drained_s = await drained(queue, started, args.timeout)
        stats = await notion_stats(session, notion, since)
        headers = {"Authorization": f"Bearer {info['token']}", "Notion-Version": NOTION_VERSION}
        query = f"{notion.url}/v1/data_sources/{info['data_source_id']}/query"
        async with session.post(query, json={"page_size": 100}, headers=headers) as r:
            pages = (await r.json())["results"]
        dead = (await queue.stats()).dead_letters
        await client.aclose()
    per_issue = Counter(p["properties"]["Sentry Link"]["url"] for p in pages)
    created = len(pages)
    calls = int(stats["requests"]) - since
    print(
        f"\n{args.alerts} alerts on {args.issues} issues, {args.workers} workers, NOTION_RATE_LIMIT "
        f"{args.notion_rate_limit}, fake Notion latency {args.notion_latency_ms:g} ms"
    )
    print(
        "| sent in | drained in | entries | entries/s | Notion calls | calls/entry | webhook outcomes | dead letters |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {sent_s:.1f} s | {drained_s:.1f} s | {created} | {created / drained_s:.2f} | {calls} | "
        f"{calls / max(created, 1):.1f} | {dict(outcomes)} | {dead} |"
    )
    print("by endpoint:", dict(sorted(stats["by_endpoint"].items())))
    once = len(per_issue) == args.issues and set(per_issue.values()) == {1}
    print(f"{'PASS' if once else 'FAIL'}: each issue got exactly one entry ({len(per_issue)} issues with entries)")
    if not once:
        raise RuntimeError(f"entries per issue: {dict(per_issue)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--issues", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--notion-rate-limit", type=int, default=150, help="the service's default")
    parser.add_argument("--notion-latency-ms", type=float, default=100.0)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the queue to drain")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    return run(lambda processes, prefix: bench(processes, prefix, args), name="alerts", keep_logs=args.keep_logs)


if __name__ == "__main__":
    sys.exit(main())
