import argparse
import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass

import aiohttp

from benchmarks.harness.measure import Tally
from benchmarks.harness.stack import notion_stats
from benchmarks.load.bench import Bench
from benchmarks.load.routes import Route
from tests.support.sentry import select_url, ui_headers

# What people type in the link form: growing prefixes of words found in the entries' titles.
TYPED = list(
    dict.fromkeys(w[:n] for w in ("checkout", "login", "billing", "upload", "payment", "report") for n in range(3, 9))
)


@dataclass
class Mixed:
    elapsed_s: float
    searches: int
    listed: int  # search answers that listed at least one entry
    search_errors: Counter[str]
    creates: Tally
    notion_calls: int
    by_endpoint: dict[str, int]


async def run_mixed(bench: Bench, create: Route) -> Mixed:
    """Issue 7: creates at a steady pace while searches run flat out."""
    args = bench.args
    searches, listed, search_errors = [0], [0], Counter[str]()
    creates = Tally()
    numbers = itertools.count(1)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    connector = aiohttp.TCPConnector(limit=args.searchers + 8)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        before = await notion_stats(session, bench.notion)
        started = time.perf_counter()
        deadline = started + args.duration

        async def searcher(offset: int) -> None:
            for n in itertools.count(offset):
                if time.perf_counter() >= deadline:
                    return
                url = bench.service.url + select_url("/sentry/options/issues", TYPED[n % len(TYPED)])
                try:
                    async with session.get(url, headers=ui_headers(b"", bench.secret)) as resp:
                        found = await resp.json() if resp.status == 200 else None
                except (aiohttp.ClientError, TimeoutError) as exc:
                    search_errors[type(exc).__name__] += 1
                    continue
                searches[0] += 1
                if found is None:
                    search_errors[str(resp.status)] += 1
                elif found:
                    listed[0] += 1

        async def creator() -> None:
            while (due := started + creates.requests * args.create_every) < deadline:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                await creates.send(session, *bench.request(create, next(numbers)))

        await asyncio.gather(creator(), *(searcher(n * 7) for n in range(args.searchers)))
        elapsed = time.perf_counter() - started
        after = await notion_stats(session, bench.notion, since=before["requests"])
    calls = after["requests"] - before["requests"]
    return Mixed(elapsed, searches[0], listed[0], search_errors, creates, calls, after["by_endpoint"])


def print_mixed(args: argparse.Namespace, m: Mixed) -> None:
    c = m.creates
    ok = c.requests - sum(c.errors.values())
    print()
    print(
        f"## Mixed load: {args.searchers} searchers without pause and a create every {args.create_every:g} s for "
        f"{m.elapsed_s:.0f} s, fake Notion latency {args.notion_latency_ms:g} ms, NOTION_RATE_LIMIT "
        f"{args.notion_rate_limit}, NOTION_SEARCH_SHARE default"
    )
    print()
    print("| Creates | Succeeded | p50 ms | p99 ms | Searches | Searches/s | Listing entries | Notion calls/s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    share = 100 * m.listed / m.searches if m.searches else 0.0
    print(
        f"| {c.requests} | {100 * ok / c.requests if c.requests else 0:.1f} % | {c.percentile(50):.1f} "
        f"| {c.percentile(99):.1f} | {m.searches} | {m.searches / m.elapsed_s:.0f} | {share:.1f} % "
        f"| {m.notion_calls / m.elapsed_s:.1f} |"
    )
    print()
    if c.errors:
        print(f"Create errors: {dict(c.errors)}; first: {c.first_error}")
    if m.search_errors:
        print(f"Search errors: {dict(m.search_errors)}")
    calls = ", ".join(f"{k} {v / m.elapsed_s:.1f}/s" for k, v in sorted(m.by_endpoint.items()))
    print(f"Notion calls: {calls}")
