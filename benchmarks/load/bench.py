import argparse
import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from benchmarks.harness.measure import Level, Tally, fmt
from benchmarks.harness.processes import Child
from benchmarks.harness.sampling import CpuClock, RssSampler
from benchmarks.harness.stack import notion_stats
from benchmarks.load.routes import Route
from tests.support.sentry import ui_headers


@dataclass
class Result(Level[Tally]):
    route: str = ""
    notion_calls: int | None = None
    notion_by_endpoint: dict[str, int] = field(default_factory=dict)
    rss_peak_mb: float = 0.0
    server_cpu_s: float = 0.0
    ratio: float | None = None

    @property
    def server_cpu_ms(self) -> float | None:
        """CPU the answering process spent per request: what the route costs beyond waiting on Notion."""
        return self.server_cpu_s * 1000 / self.requests if self.requests else None

    @property
    def client_cpu_pct(self) -> float:
        """Near 100 %, the load generator itself is the bottleneck."""
        return self.cpu_pct(self.client_cpu_s)

    @property
    def other_cpu_pct(self) -> float:
        """CPU used by processes outside the benchmark (and Redis), in % of one CPU: noise when high."""
        return self.cpu_pct(self.other_cpu_s)

    @property
    def calls_per_action(self) -> float | None:
        return None if self.notion_calls is None or not self.requests else self.notion_calls / self.requests


@dataclass
class Bench:
    args: argparse.Namespace
    secret: str
    service: Child
    reference: Child
    notion: Child
    sampler: RssSampler
    redis_pids: list[int]
    results: list[Result] = field(default_factory=list)

    def server(self, route: Route) -> Child:
        return self.service if route.target == "service" else self.reference

    def request(self, route: Route, n: int) -> tuple[str, str, bytes, dict[str, str]]:
        """Method, URL, body and headers of the n-th request, signed the way Sentry signs it."""
        method, path, body = route.build(n)
        return method, self.server(route).url + path, body, ui_headers(body, self.secret)

    async def warm_up(self, session: aiohttp.ClientSession, plan: Sequence[Route]) -> None:
        for route in plan:
            tally = Tally()
            ok = await tally.send(session, *self.request(route, 0)) is not None
            print(f"  warm-up {route.name:<16} " + ("ok" if ok else f"FAILED: {tally.first_error[:300]}"))

    async def measure(self, route: Route, concurrency: int) -> Result:
        duration_s, budget = self.args.duration, self.args.requests
        numbers = itertools.count(1)
        tally = Tally()
        timeout = aiohttp.ClientTimeout(total=self.args.timeout)
        connector = aiohttp.TCPConnector(limit=concurrency)
        ours = [self.service.pid, self.reference.pid, self.notion.pid, *self.redis_pids]
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            aiohttp.ClientSession() as stats_session,
        ):
            before = await notion_stats(stats_session, self.notion) if route.notion else None
            self.sampler.reset()
            cpu = CpuClock.read(ours)
            started = time.perf_counter()
            deadline = started + duration_s

            async def worker() -> None:
                while True:
                    n = next(numbers)
                    if (budget and n > budget) or (not budget and time.perf_counter() >= deadline):
                        return
                    await tally.send(session, *self.request(route, n))

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            used = CpuClock.read(ours).since(cpu)
            calls, by_endpoint = None, {}
            if before is not None:
                after = await notion_stats(stats_session, self.notion, since=before["requests"])
                calls, by_endpoint = after["requests"] - before["requests"], after["by_endpoint"]
        rss = self.sampler.peak_mb(route.target)
        return Result(
            concurrency,
            elapsed,
            tally,
            used.client_s,
            used.other_s,
            route=route.name,
            notion_calls=calls,
            notion_by_endpoint=by_endpoint,
            rss_peak_mb=rss,
            server_cpu_s=used.of(self.server(route).pid),
        )

    async def run(self, plan: Sequence[Route]) -> None:
        for route in plan:
            for concurrency in self.args.concurrency:
                result = await self.measure(route, concurrency)
                self.results.append(result)
                cpu = f"  server CPU {fmt(result.server_cpu_ms, 2)} ms/req"
                print(result.progress(f"{route.name:<16}") + cpu, flush=True)
        references = {r.concurrency: r.rps for r in self.results if r.route == "reference"}
        for result in self.results:
            if references.get(result.concurrency):
                result.ratio = result.rps / references[result.concurrency]
