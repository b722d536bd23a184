"""Webhook benchmark (issues 4 and 10): acknowledgement latency, applied events per second and Notion calls per
event, driven like Sentry drives it.

    uv run python -m benchmarks.webhooks                  # about a minute on the 2-core machine
    uv run python -m benchmarks.webhooks --duration 2 --events 100
    uv run python -m benchmarks.webhooks --workers 4 --notion-latency-ms 50
    uv run python -m benchmarks.webhooks --notion-rate-limit 150 --events 60 --apply-timeout 300   # the default limit
    uv run python -m benchmarks.webhooks --one-way        # without Sentry's API and Notion's events

Started, and stopped again whatever happens (Ctrl-C included):

- the fake Notion (tests/support/fake_notion) in a process of its own, answering every call after
  `--notion-latency-ms`, with a "Bugs" database whose entries are linked to Sentry issues 1..N
  (Sentry Link = https://acme.sentry.io/issues/<n>/) and have a Status column (`python -m benchmarks.notion_server
  --linked`, which also answers /__info, /__stats and /__statuses);
- unless `--one-way`, the tests' fake Sentry (tests/support/fake_sentry.py, issues 1..N unresolved), served in this
  process, with SENTRY_API_TOKEN and NOTION_WEBHOOK_SECRET set: the two-way deployment, whose workers read each
  issue from Sentry's API and know each entry as Notion's events and their own writes left it;
- the service, `sentry-notion serve --no-worker` (the workers below apply the queue), with
  `column_names.status = "Status"`, Redis DB 14 under a unique prefix;
- `--workers` queue workers, `sentry-notion worker`, with the same environment.

Phase 1, acknowledgement: signed `issue.resolved` / `issue.unresolved` webhooks (tests/support/sentry.py) for the
issues after phase 2's, each with its own event count so none is deduplicated (duplicates are recognised by the
signed body), at each `--concurrency` for `--duration` seconds (or `--requests` webhooks). The workers run
meanwhile, as in production; the jobs still queued when the phase ends are then dropped from the stream, so phase
2 starts from an empty queue.

Phase 2, applied throughput: two bursts of `--events` webhooks, one per issue 1..N: `issue.resolved`, moving every
entry from "Not started" to "Done" (entries the service has not seen: it finds and reads each), then
`issue.unresolved` (regressed), moving them back (the steady state). Two-way, each issue takes its new status in the
fake Sentry as its webhook is sent. The clock runs from the first webhook of a burst until the fake Notion has
received one status PATCH per event (or the queue has no unfinished job left), polling /__stats and the stream.

By default `NOTION_RATE_LIMIT` is raised so far that the limiter never throttles: phase 2 then measures what the
workers and the fake's latency allow. A deployment that keeps the default limit (150 calls a minute) applies far
fewer: the report also gives that ceiling, from the Notion calls per event measured, and `--notion-rate-limit 150`
measures it.

The report is Markdown tables and PASS/FAIL for "ack p99 < 50 ms at concurrency 16" and "at most 1.2 Notion calls
per event in the second burst". It exits 0 once it has measured: it is a report.
"""

import argparse
import itertools
import secrets
import sys
import time

import aiohttp
import redis.asyncio as aioredis

from benchmarks.harness.measure import fmt
from benchmarks.harness.processes import Processes, wait_ready
from benchmarks.harness.run import add_load_args, parse_levels, run
from benchmarks.harness.sampling import peak_mb
from benchmarks.harness.stack import (
    REDIS_URL,
    sentry_notion,
    serve_sentry,
    service_env,
    start_fake_notion,
    start_service,
    two_way_env,
    wait_workers,
)
from benchmarks.webhooks.ack import phase1
from benchmarks.webhooks.apply import phase2
from benchmarks.webhooks.hooks import Bench
from benchmarks.webhooks.report import print_report


async def benchmark(args: argparse.Namespace, processes: Processes, prefix: str) -> None:
    secret = secrets.token_hex(16)
    entries = args.events + args.entries  # phase 2's issues first, then phase 1's
    notion = start_fake_notion(processes, latency_ms=args.notion_latency_ms, entries=entries, people=0, linked=True)
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=10)
    sentry = sentry_runner = None
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
            if not args.one_way:
                sentry, sentry_runner, sentry_url, _ = await serve_sentry(range(1, entries + 1), latency_ms=0)
                env |= two_way_env(sentry, sentry_url, "secret_" + secrets.token_hex(20))
            service = start_service(processes, env)
            workers = [
                processes.start(f"worker-{n}", [*sentry_notion(), "worker", "--metrics-port", "0"], env)
                for n in range(args.workers)
            ]
            await wait_ready(session, service, "/healthz")
            await wait_workers(client, prefix, workers)
        print(
            f"fake Notion pid {notion.pid} ({len(info['page_ids'])} linked entries, "
            f"{args.notion_latency_ms:g} ms/call), "
            f"service pid {service.pid}, workers {', '.join(str(w.pid) for w in workers)}, "
            f"Redis {REDIS_URL} prefix {prefix}, " + ("one-way" if sentry is None else "two-way with a fake Sentry"),
            flush=True,
        )
        clock = itertools.count(int(time.time()) - 86_400)  # a distinct Sentry-Hook-Timestamp per webhook, ascending
        bench = Bench(args, secret, prefix, info, notion, service, workers, client, lambda: next(clock), sentry)
        print("Phase 1: acknowledgement latency", flush=True)
        await phase1(bench)
        print(f"Phase 2: applied throughput ({args.events} events)", flush=True)
        await phase2(bench)
        print_report(bench)
        print(f"\nService peak RSS {fmt(peak_mb(service.pid))} MB.")
        print(f"Service log at warning and above: {service.log_summary()}")
        for worker in workers:
            print(f"{worker.name} log at warning and above: {worker.log_summary()}")
    finally:
        await client.aclose()
        if sentry_runner is not None:
            await sentry_runner.cleanup()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webhooks", description=__doc__.split("\n\n")[0])
    add_load_args(parser, concurrency="1,16", duration=3.0, unit="webhooks", per="phase 1 level")
    parser.add_argument(
        "--entries", type=int, default=200, help="linked entries for phase 1, after phase 2's (default 200)"
    )
    parser.add_argument("--workers", type=int, default=2, help="`sentry-notion worker` processes (default 2)")
    parser.add_argument("--events", type=int, default=400, help="each phase 2 burst, one per issue (default 400)")
    parser.add_argument("--burst-concurrency", type=int, default=16, help="phase 2 sending concurrency (default 16)")
    parser.add_argument("--apply-timeout", type=float, default=90.0, help="phase 2 gives up after this many seconds")
    parser.add_argument("--poll-s", type=float, default=0.05, help="phase 2 polling interval of /__stats, seconds")
    parser.add_argument(
        "--notion-rate-limit",
        type=int,
        default=100_000,
        help="NOTION_RATE_LIMIT of the service and workers (default 100000: the limiter never throttles; "
        "150 is the service's default)",
    )
    parser.add_argument(
        "--one-way", action="store_true", help="without Sentry's API and Notion's events: each event reads its entry"
    )
    args = parser.parse_args(argv)
    parse_levels(parser, args)
    if min(args.entries, args.workers, args.events, args.burst_concurrency) < 1:
        parser.error("--entries, --workers, --events and --burst-concurrency must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run(
        lambda processes, prefix: benchmark(args, processes, prefix), name="bench-webhooks", keep_logs=args.keep_logs
    )


if __name__ == "__main__":
    sys.exit(main())
