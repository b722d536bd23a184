"""Load benchmark (issue 3): the real service, the fake Notion and a real Redis, driven like Sentry drives it.

    uv run python -m benchmarks.load                      # about 100 s on the 2-core machine
    uv run python -m benchmarks.load --duration 2 --concurrency 1,16
    uv run python -m benchmarks.load --requests 500 --routes assignees,reference
    uv run python -m benchmarks.load --mixed                # issue 7: creates while searches run flat out

Three processes are started and stopped again, whatever happens (Ctrl-C included):

- the fake Notion (tests/support/fake_notion) seeded with ~200 entries and ~50 people, answering every call
  after `--notion-latency-ms` (benchmarks/notion_server.py);
- the service itself, `sentry-notion serve --no-worker`, against that fake and Redis DB 14 under a unique prefix;
- a reference aiohttp app that checks the same HMAC, does one Redis GET and answers JSON
  (benchmarks/reference.py): the floor every route is compared with.

Each route is driven at each concurrency for `--duration` seconds (or `--requests` requests) with
requests built and signed the way Sentry builds them (tests/support/sentry.py). The report is a Markdown table
and a PASS/FAIL line per target of issue 3. It always exits 0 once it has measured: it is a report.

`--mixed` instead runs issue 7's scenario: `--searchers` users typing in the link form without pause
(each query a prefix of a word found in the titles) while a create arrives every `--create-every` seconds,
under a binding NOTION_RATE_LIMIT (600 unless given). It reports the creates' latency and success rate, and
how many search answers listed entries.
"""

import argparse
import asyncio
import itertools
import json
import secrets
import sys
import time
from pathlib import Path

import aiohttp

from benchmarks.harness.processes import Processes, free_port, wait_ready
from benchmarks.harness.run import add_load_args, parse_levels, run
from benchmarks.harness.sampling import RssSampler, peak_mb, pids_named
from benchmarks.harness.stack import REDIS_URL, base_env, service_env, start_fake_notion, start_service
from benchmarks.load.bench import Bench
from benchmarks.load.mixed import print_mixed, run_mixed
from benchmarks.load.report import as_json, print_report
from benchmarks.load.routes import routes


async def benchmark(args: argparse.Namespace, processes: Processes, prefix: str) -> None:
    secret = secrets.token_hex(16)
    notion = start_fake_notion(
        processes, latency_ms=args.notion_latency_ms, entries=args.entries, people=args.people, linked=False
    )
    async with aiohttp.ClientSession() as session:
        info = await wait_ready(session, notion, "/__info")
        env = service_env(info, notion, secret=secret, prefix=prefix, rate_limit=args.notion_rate_limit)
        service = start_service(processes, env)
        reference_port = free_port()
        reference = processes.start(
            "reference",
            [sys.executable, "-m", "benchmarks.reference", "--port", str(reference_port)],
            base_env() | {"REFERENCE_SECRET": secret, "REDIS_URL": REDIS_URL, "REDIS_PREFIX": prefix},
            reference_port,
        )
        await asyncio.gather(wait_ready(session, service, "/healthz"), wait_ready(session, reference, "/healthz"))
    print(
        f"fake Notion pid {notion.pid} ({len(info['page_ids'])} entries, {len(info['person_ids'])} people, "
        f"{args.notion_latency_ms:g} ms/call), service pid {service.pid}, reference pid {reference.pid}, "
        f"Redis {REDIS_URL} prefix {prefix}"
    )

    issue_ids = itertools.count(int(time.time()) % 1_000_000 * 1000 + 1)
    all_routes = routes(info["page_ids"], issue_ids=issue_ids)
    plan = [r for r in all_routes if not args.routes or r.name.split()[0] in args.routes]
    sampler = RssSampler({"service": service.pid, "reference": reference.pid})
    bench = Bench(args, secret, service, reference, notion, sampler, pids_named("redis-server"))
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    if args.mixed:
        create = next(r for r in all_routes if r.name == "create")
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await bench.warm_up(session, [create])
        print_mixed(args, await run_mixed(bench, create))
    else:
        with sampler:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                await bench.warm_up(session, plan)
            await bench.run(plan)
        print_report(bench, peak_mb(service.pid), peak_mb(reference.pid))
    print(f"\nService log at warning and above: {service.log_summary()}")
    if args.json and not args.mixed:
        results = json.dumps([as_json(r) for r in bench.results], indent=2)
        await asyncio.to_thread(Path(args.json).write_text, results)
        print(f"Results written to {args.json}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    add_load_args(parser, concurrency="1,16,64", duration=5.0, unit="requests", per="route and level")
    parser.add_argument(
        "--routes", default="", help="only these, comma-separated: reference, assignees, issues, link, create"
    )
    parser.add_argument(
        "--notion-rate-limit",
        type=int,
        default=0,
        help="the service's NOTION_RATE_LIMIT; by default 100000, so the limiter never throttles, and 600 with --mixed",
    )
    parser.add_argument("--mixed", action="store_true", help="issue 7: creates while searches run flat out")
    parser.add_argument("--searchers", type=int, default=50, help="with --mixed: concurrent searchers (default 50)")
    parser.add_argument("--create-every", type=float, default=0.5, help="with --mixed: seconds between creates")
    parser.add_argument("--entries", type=int, default=200, help="entries seeded in the fake database")
    parser.add_argument("--people", type=int, default=50, help="people seeded in the fake workspace")
    parser.add_argument("--json", default="", help="also write the results to this file")
    args = parser.parse_args(argv)
    parse_levels(parser, args)
    args.routes = {r.strip() for r in args.routes.split(",") if r.strip()}
    args.notion_rate_limit = args.notion_rate_limit or (600 if args.mixed else 100_000)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run(lambda processes, prefix: benchmark(args, processes, prefix), name="bench", keep_logs=args.keep_logs)


if __name__ == "__main__":
    sys.exit(main())
