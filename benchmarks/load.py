"""Load benchmark (issue 3): the real service, the fake Notion and a real Redis, driven like Sentry drives it.

    uv run python -m benchmarks.load                      # about 100 s on the 2-core machine
    uv run python -m benchmarks.load --duration 2 --concurrency 1,16
    uv run python -m benchmarks.load --requests 500 --routes assignees,reference
    uv run python -m benchmarks.load --mixed                # issue 7: creates while searches run flat out

Three processes are started and stopped again, whatever happens (Ctrl-C included):

- the fake Notion (tests/fake_notion.py) seeded with ~200 entries and ~50 people, answering every call
  after `--notion-latency-ms` (benchmarks/notion_server.py);
- the service itself, `sentry-notion serve --no-worker`, against that fake and Redis DB 14 under a unique prefix;
- a reference aiohttp app that checks the same HMAC, does one Redis GET and answers JSON
  (benchmarks/reference.py): the floor every route is compared with.

Each route is driven at each concurrency for `--duration` seconds (or `--requests` requests) with
requests built and signed the way Sentry builds them (tests/sentry.py). The report is a Markdown table
and a PASS/FAIL line per target of issue 3. It always exits 0 once it has measured: it is a report.

`--mixed` instead runs issue 7's scenario: `--searchers` users typing in the link form without pause
(each query a prefix of a word found in the titles) while a create arrives every `--create-every` seconds,
under a binding NOTION_RATE_LIMIT (600 unless given). It reports the creates' latency and success rate, and
how many search answers listed entries.
"""

import argparse
import asyncio
import contextlib
import ctypes
import itertools
import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import redis

from tests.support.sentry import description, issue_link_body, select_url, ui_headers

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/14"
STACK = "TypeError: x is undefined\n  at render (src/checkout.js:12:5)\n  at commit (react-dom.js:901:3)"

# Issue 3's targets.
TARGET_CONCURRENCY = 16
TARGET_RATIO = 0.5
TARGET_P99_MS = 25.0
TARGET_CREATE_CALLS = 2.0
TARGET_RSS_MB = 150.0
CACHED_OPTION_ROUTES = ("assignees",)


# ----- processes -----


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    # Linux: a child gets SIGTERM if the benchmark itself is killed (SIGKILL skips our cleanup).
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: TextIO
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        self.log_file.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class Processes:
    """Children started by the benchmark; `stop_all` ends each of them by pid and is safe to call twice."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], env: dict[str, str], port: int) -> Child:
        log_path = self.log_dir / f"{name}.log"
        log_file = log_path.open("w")
        process = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the benchmark only; it stops the children itself
            preexec_fn=_die_with_parent,
        )
        child = Child(name, process, log_path, log_file, f"http://127.0.0.1:{port}")
        self.children.append(child)
        return child

    def stop_all(self, grace_s: float = 5.0) -> None:
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.terminate()
        for child in reversed(self.children):
            try:
                child.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait(timeout=grace_s)
            child.log_file.close()
        self.children.clear()


async def wait_ready(session: aiohttp.ClientSession, child: Child, path: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(child.url + path, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                if resp.status == 200:
                    return await resp.json()
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{child.name} did not answer {path} within {timeout_s:.0f} s:\n{child.log_tail()}")


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a live process, in kB; empty once it is gone."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def machine_busy_seconds() -> float:
    """CPU time all CPUs have spent not idle since boot, from /proc/stat."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = ticks[3] + ticks[4]  # idle, iowait
        guest = sum(ticks[8:10])  # already counted in user and nice
        return (sum(ticks) - idle - guest) / os.sysconf("SC_CLK_TCK")
    return 0.0


def pids_named(name: str) -> list[int]:
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError, ValueError):
            if comm.read_text().strip() == name:
                found.append(int(comm.parent.name))
    return found


class RssSampler:
    """Samples VmRSS of the measured processes; `peak_mb` is the highest sample since `reset`."""

    def __init__(self, pids: dict[str, int], every_s: float = 0.1) -> None:
        self.pids, self.every_s = pids, every_s
        self._peak_kb: dict[str, int] = dict.fromkeys(pids, 0)
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        for name, pid in self.pids.items():
            rss = memory_kb(pid).get("VmRSS", 0)
            self._peak_kb[name] = max(self._peak_kb[name], rss)

    def reset(self) -> None:
        self._peak_kb = dict.fromkeys(self.pids, 0)
        self.sample()

    def peak_mb(self, name: str) -> float:
        self.sample()
        return self._peak_kb[name] / 1024

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every_s)

    def __enter__(self) -> "RssSampler":
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()


# ----- the routes, as Sentry calls them -----

Request = tuple[str, str, bytes]  # method, path and query, body


@dataclass(frozen=True)
class Route:
    name: str
    target: str  # "service" or "reference"
    build: Callable[[int], Request]  # a fresh request, given a number unique within the run
    notion: bool = True  # whether its Notion calls are counted


def routes(page_ids: Sequence[str], *, issue_ids: Iterator[int]) -> list[Route]:
    def get(uri: str, query: str) -> Callable[[int], Request]:
        url = select_url(uri, query)
        return lambda _: ("GET", url, b"")

    def create(_: int) -> Request:
        issue_id = next(issue_ids)
        fields = {
            "title": f"TypeError: x is undefined ({issue_id})",
            "description": description("BACKEND-1A", issue_id, STACK),
        }
        return "POST", "/sentry/issue-link/create", issue_link_body(fields, issue_id=issue_id)

    def link(n: int) -> Request:
        # Consecutive requests take different entries, so concurrent links never wait on one page's lock.
        # The first link of an entry fills its Sentry Link column (GET page, PATCH page); later ones, to
        # another Sentry issue, add a line to the page body (GET page, PATCH children).
        fields = {"issue": page_ids[n % len(page_ids)]}
        return "POST", "/sentry/issue-link/link", issue_link_body(fields, issue_id=next(issue_ids))

    return [
        Route("reference", "reference", lambda _: ("GET", "/reference", b""), notion=False),
        Route("assignees", "service", get("/sentry/options/assignees", "a")),
        Route("issues (recent)", "service", get("/sentry/options/issues", "")),
        Route("issues bug-3", "service", get("/sentry/options/issues", "bug-3")),
        Route("link", "service", link),
        Route("create", "service", create),
    ]


# ----- driving load -----


@dataclass
class Result:
    route: str
    concurrency: int
    requests: int
    elapsed_s: float
    latencies_ms: list[float]
    errors: Counter[str]
    notion_calls: int | None
    notion_by_endpoint: dict[str, int]
    rss_peak_mb: float
    server_cpu_s: float
    client_cpu_s: float
    other_cpu_s: float
    first_error: str = ""
    ratio: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        rank = max(1, math.ceil(p / 100 * len(ordered)))  # nearest rank
        return ordered[rank - 1]

    @property
    def server_cpu_ms(self) -> float | None:
        """CPU the answering process spent per request: what the route costs beyond waiting on Notion."""
        return self.server_cpu_s * 1000 / self.requests if self.requests else None

    @property
    def client_cpu_pct(self) -> float:
        """Near 100 %, the load generator itself is the bottleneck."""
        return 100 * self.client_cpu_s / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def other_cpu_pct(self) -> float:
        """CPU used by processes outside the benchmark (and Redis), in % of one CPU: noise when high."""
        return 100 * self.other_cpu_s / self.elapsed_s if self.elapsed_s else 0.0

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

    def ours_cpu_seconds(self) -> float:
        pids = [self.service.pid, self.reference.pid, self.notion.pid, *self.redis_pids]
        return time.process_time() + sum(cpu_seconds(pid) for pid in pids)

    def base_url(self, route: Route) -> str:
        return self.server(route).url

    def server(self, route: Route) -> Child:
        return self.service if route.target == "service" else self.reference

    async def notion_stats(self, session: aiohttp.ClientSession, since: int = 0) -> dict[str, Any]:
        async with session.get(f"{self.notion.url}/__stats", params={"since": str(since)}) as resp:
            resp.raise_for_status()
            stats: dict[str, Any] = await resp.json()
            return stats

    async def send(self, session: aiohttp.ClientSession, route: Route, n: int) -> tuple[int, str]:
        method, path, body = route.build(n)
        async with session.request(
            method, self.base_url(route) + path, data=body, headers=ui_headers(body, self.secret)
        ) as resp:
            text = await resp.text()
            return resp.status, text

    async def warm_up(self, session: aiohttp.ClientSession, plan: Sequence[Route]) -> None:
        for route in plan:
            status, text = await self.send(session, route, 0)
            mark = "ok" if 200 <= status < 300 else "FAILED"
            print(f"  warm-up {route.name:<16} {status} {mark}" + ("" if mark == "ok" else f": {text[:300]}"))

    async def measure(self, route: Route, concurrency: int) -> Result:
        duration_s, budget = self.args.duration, self.args.requests
        numbers = itertools.count(1)
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        first_error: list[str] = []  # what went wrong the first time, to print
        timeout = aiohttp.ClientTimeout(total=self.args.timeout)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            aiohttp.ClientSession() as stats_session,
        ):
            before = await self.notion_stats(stats_session) if route.notion else None
            self.sampler.reset()
            server_cpu, client_cpu = cpu_seconds(self.server(route).pid), time.process_time()
            ours, busy = self.ours_cpu_seconds(), machine_busy_seconds()
            started = time.perf_counter()
            deadline = started + duration_s

            async def worker() -> None:
                while True:
                    n = next(numbers)
                    if (budget and n > budget) or (not budget and time.perf_counter() >= deadline):
                        return
                    sent = time.perf_counter()
                    try:
                        status, text = await self.send(session, route, n)
                        if not 200 <= status < 300:
                            errors[str(status)] += 1
                            first_error[:] = first_error or [f"{status} {text[:200]}"]
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        errors[type(exc).__name__] += 1
                        first_error[:] = first_error or [f"{type(exc).__name__}: {exc}"]
                    latencies.append((time.perf_counter() - sent) * 1000)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            server_cpu, client_cpu = cpu_seconds(self.server(route).pid) - server_cpu, time.process_time() - client_cpu
            other_cpu = max(0.0, (machine_busy_seconds() - busy) - (self.ours_cpu_seconds() - ours))
            calls, by_endpoint = None, {}
            if before is not None:
                after = await self.notion_stats(stats_session, since=before["requests"])
                calls, by_endpoint = after["requests"] - before["requests"], after["by_endpoint"]
        rss = self.sampler.peak_mb(route.target)
        return Result(
            route.name,
            concurrency,
            len(latencies),
            elapsed,
            latencies,
            errors,
            calls,
            by_endpoint,
            rss,
            server_cpu,
            client_cpu,
            other_cpu,
            first_error[0] if first_error else "",
        )

    async def run(self, plan: Sequence[Route]) -> None:
        for route in plan:
            for concurrency in self.args.concurrency:
                result = await self.measure(route, concurrency)
                self.results.append(result)
                if result.first_error:
                    print(f"  {route.name:<16} c={concurrency:<3} first error: {result.first_error}")
                print(
                    f"  {route.name:<16} c={concurrency:<3} {result.requests:>6} req  {result.rps:8.1f}/s  "
                    f"p99 {result.percentile(99):7.1f} ms  errors {sum(result.errors.values())}  "
                    f"server CPU {fmt(result.server_cpu_ms, 2)} ms/req  client CPU {result.client_cpu_pct:.0f} %  "
                    f"other CPU {result.other_cpu_pct:.0f} %",
                    flush=True,
                )
        references = {r.concurrency: r.rps for r in self.results if r.route == "reference"}
        for result in self.results:
            if references.get(result.concurrency):
                result.ratio = result.rps / references[result.concurrency]


# ----- issue 7: creates while searches run at full load -----

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
    creates: Result
    notion_calls: int
    by_endpoint: dict[str, int]


async def run_mixed(bench: Bench, create: Route) -> Mixed:
    args = bench.args
    searches, listed, search_errors = [0], [0], Counter[str]()
    create_ms: list[float] = []
    create_errors: Counter[str] = Counter()
    first_error: list[str] = []
    numbers = itertools.count(1)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    connector = aiohttp.TCPConnector(limit=args.searchers + 8)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        before = await bench.notion_stats(session)
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
            while (due := started + len(create_ms) * args.create_every) < deadline:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                sent = time.perf_counter()
                try:
                    status, text = await bench.send(session, create, next(numbers))
                    if status not in (200, 201):
                        create_errors[str(status)] += 1
                        first_error[:] = first_error or [f"{status} {text[:200]}"]
                except (aiohttp.ClientError, TimeoutError) as exc:
                    create_errors[type(exc).__name__] += 1
                create_ms.append((time.perf_counter() - sent) * 1000)

        await asyncio.gather(creator(), *(searcher(n * 7) for n in range(args.searchers)))
        elapsed = time.perf_counter() - started
        after = await bench.notion_stats(session, since=before["requests"])
    creates = Result(
        "create",
        1,
        len(create_ms),
        elapsed,
        create_ms,
        create_errors,
        None,
        {},
        0.0,
        0.0,
        0.0,
        0.0,
        first_error[0] if first_error else "",
    )
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


# ----- report -----


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(results: Sequence[Result]) -> str:
    head = (
        "| Route | Conc. | Requests | Req/s | p50 ms | p95 ms | p99 ms | Errors | Notion calls/action "
        "| Server CPU ms/req | Client CPU % | Other CPU % | Peak RSS MB | × reference |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        errors = sum(r.errors.values())
        error_text = str(errors) + (f" ({', '.join(f'{k}×{v}' for k, v in r.errors.most_common(3))})" if errors else "")
        lines.append(
            f"| {r.route} | {r.concurrency} | {r.requests} | {r.rps:.0f} | {r.percentile(50):.1f} "
            f"| {r.percentile(95):.1f} | {r.percentile(99):.1f} | {error_text} | {fmt(r.calls_per_action, 2)} "
            f"| {fmt(r.server_cpu_ms, 2)} | {r.client_cpu_pct:.0f} | {r.other_cpu_pct:.0f} | {r.rss_peak_mb:.0f} "
            f"| {fmt(r.ratio, 2)} |"
        )
    return "\n".join(lines)


def verdicts(results: Sequence[Result], service_hwm_mb: float | None) -> list[tuple[str, str, str]]:
    """(PASS/FAIL/SKIP, target, what was measured) for each of issue 3's targets."""
    found: list[tuple[str, str, str]] = []
    for name in CACHED_OPTION_ROUTES:
        target = (
            f"{name}: ≥ {TARGET_RATIO}× reference throughput and p99 ≤ {TARGET_P99_MS:.0f} ms at concurrency "
            f"{TARGET_CONCURRENCY}"
        )
        row = next((r for r in results if r.route == name and r.concurrency == TARGET_CONCURRENCY), None)
        if row is None or row.ratio is None:
            found.append(("SKIP", target, "not measured (needs the route and the reference at that concurrency)"))
            continue
        ok = row.ratio >= TARGET_RATIO and row.percentile(99) <= TARGET_P99_MS and not row.errors
        errors = f", {sum(row.errors.values())} errors" if row.errors else ""
        found.append(("PASS" if ok else "FAIL", target, f"{row.ratio:.2f}×, p99 {row.percentile(99):.1f} ms{errors}"))
    target = f"create: ≤ {TARGET_CREATE_CALLS:.0f} Notion calls per action (short description, warm caches)"
    creates = [r for r in results if r.route == "create" and r.calls_per_action is not None]
    if creates:
        worst = max(creates, key=lambda r: r.calls_per_action or 0.0)
        per = worst.calls_per_action or 0.0
        calls = ", ".join(f"{k} ×{v / worst.requests:.2f}" for k, v in sorted(worst.notion_by_endpoint.items()))
        found.append(("PASS" if per <= TARGET_CREATE_CALLS else "FAIL", target, f"worst {per:.2f} ({calls})"))
    else:
        found.append(("SKIP", target, "create not measured"))
    target = f"service RSS < {TARGET_RSS_MB:.0f} MB"
    if service_hwm_mb is None:
        found.append(("SKIP", target, "peak RSS unavailable"))
    else:
        verdict = "PASS" if service_hwm_mb < TARGET_RSS_MB else "FAIL"
        found.append((verdict, target, f"VmHWM {service_hwm_mb:.1f} MB"))
    return found


def print_report(bench: Bench, service_hwm_mb: float | None, reference_hwm_mb: float | None) -> None:
    args = bench.args
    load = f"{args.requests} requests" if args.requests else f"{args.duration:g} s"
    print()
    print(
        f"## Load benchmark: {load} per route and concurrency, fake Notion latency {args.notion_latency_ms:g} ms "
        f"per call, NOTION_RATE_LIMIT {args.notion_rate_limit}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print()
    print(table(bench.results))
    print()
    print(
        "Server CPU: CPU time of the answering process (service or reference) per request. Client CPU: the load "
        "generator's, in % of one CPU. Other CPU: processes outside the benchmark and Redis, in % of one CPU."
    )
    noisiest = max((r.other_cpu_pct for r in bench.results), default=0.0)
    if noisiest > 25:
        print(
            f"**Noisy machine**: other processes used up to {noisiest:.0f} % of a CPU during a run; throughput and "
            "latency are pessimistic there (CPU per request holds up better). Rerun on an idle machine to publish."
        )
    print(
        f"Peak RSS (VmHWM): service {fmt(service_hwm_mb)} MB, reference {fmt(reference_hwm_mb)} MB. "
        "Notion calls by endpoint, per action, at the highest concurrency:"
    )
    top = max(args.concurrency)
    for r in bench.results:
        if r.concurrency == top and r.notion_by_endpoint and r.requests:
            calls = ", ".join(f"{k} ×{v / r.requests:.2f}" for k, v in sorted(r.notion_by_endpoint.items()))
            print(f"- {r.route}: {calls}")
    print()
    print("### Targets (issue 3)")
    for verdict, target, measured in verdicts(bench.results, service_hwm_mb):
        print(f"- **{verdict}** {target}: {measured}")


def service_log_summary(child: Child) -> str:
    """Events the service logged at warning and above during the run, by name."""
    events: Counter[str] = Counter()
    with contextlib.suppress(OSError):
        for line in child.log_path.read_text(errors="replace").splitlines():
            try:
                events[str(json.loads(line).get("event", "?"))] += 1
            except (ValueError, AttributeError):
                events["(not JSON)"] += 1
    return ", ".join(f"{k} ×{v}" for k, v in events.most_common(8)) or "none"


# ----- main -----


async def benchmark(args: argparse.Namespace, processes: Processes, prefix: str) -> list[Result]:
    main_task = asyncio.current_task()
    if main_task is not None:  # SIGTERM stops the run like Ctrl-C does: cancel, then clean up in main()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    secret = secrets.token_hex(16)
    notion_port, service_port, reference_port = free_port(), free_port(), free_port()
    python = sys.executable
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTION_", "REDIS_", "SENTRY_NOTION_"))}
    base_env["PYTHONUNBUFFERED"] = "1"

    notion = processes.start(
        "notion",
        [
            python,
            "-m",
            "benchmarks.notion_server",
            "--port",
            str(notion_port),
            "--latency-ms",
            str(args.notion_latency_ms),
            "--entries",
            str(args.entries),
            "--people",
            str(args.people),
        ],
        base_env,
        notion_port,
    )
    async with aiohttp.ClientSession() as session:
        info = await wait_ready(session, notion, "/__info")
        script = Path(python).parent / "sentry-notion"
        serve = [str(script)] if script.exists() else [python, "-c", "import cli; cli.main()"]
        service = processes.start(
            "service",
            [*serve, "serve", "--host", "127.0.0.1", "--port", str(service_port), "--no-worker"],
            base_env
            | {
                "NOTION_TOKEN": info["token"],
                "NOTION_CONFIG": json.dumps({"database_id": info["database_id"]}),
                "NOTION_API_BASE_URL": notion.url,
                "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET": secret,
                "REDIS_URL": REDIS_URL,
                "REDIS_PREFIX": prefix,
                "LOG_LEVEL": "warning",
                "NOTION_RATE_LIMIT": str(args.notion_rate_limit),
            },
            service_port,
        )
        reference = processes.start(
            "reference",
            [python, "-m", "benchmarks.reference", "--port", str(reference_port)],
            base_env | {"REFERENCE_SECRET": secret, "REDIS_URL": REDIS_URL, "REDIS_PREFIX": prefix},
            reference_port,
        )
        await asyncio.gather(wait_ready(session, service, "/healthz"), wait_ready(session, reference, "/healthz"))
    print(
        f"fake Notion pid {notion.pid} ({len(info['page_ids'])} entries, {len(info['person_ids'])} people, "
        f"{args.notion_latency_ms:g} ms/call), service pid {service.pid}, reference pid {reference.pid}, "
        f"Redis {REDIS_URL} prefix {prefix}"
    )

    issue_ids = itertools.count(int(time.time()) % 1_000_000 * 1000 + 1)
    plan = [
        r for r in routes(info["page_ids"], issue_ids=issue_ids) if not args.routes or r.name.split()[0] in args.routes
    ]
    sampler = RssSampler({"service": service.pid, "reference": reference.pid})
    bench = Bench(args, secret, service, reference, notion, sampler, pids_named("redis-server"))
    if args.mixed:
        create = next(r for r in routes(info["page_ids"], issue_ids=issue_ids) if r.name == "create")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=args.timeout)) as session:
            await bench.warm_up(session, [create])
        print_mixed(args, await run_mixed(bench, create))
        print(f"\nService log at warning and above: {service_log_summary(service)}")
        return []
    with sampler:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=args.timeout)) as session:
            await bench.warm_up(session, plan)
        await bench.run(plan)

    service_hwm = memory_kb(service.pid).get("VmHWM")
    reference_hwm = memory_kb(reference.pid).get("VmHWM")
    print_report(bench, service_hwm / 1024 if service_hwm else None, reference_hwm / 1024 if reference_hwm else None)
    print(f"\nService log at warning and above: {service_log_summary(service)}")
    return bench.results


def _as_json(r: Result) -> dict[str, Any]:
    return {
        "route": r.route,
        "concurrency": r.concurrency,
        "requests": r.requests,
        "rps": r.rps,
        "p50_ms": r.percentile(50),
        "p95_ms": r.percentile(95),
        "p99_ms": r.percentile(99),
        "errors": dict(r.errors),
        "notion_calls_per_action": r.calls_per_action,
        "notion_by_endpoint": r.notion_by_endpoint,
        "rss_peak_mb": r.rss_peak_mb,
        "server_cpu_ms_per_request": r.server_cpu_ms,
        "client_cpu_pct": r.client_cpu_pct,
        "other_cpu_pct": r.other_cpu_pct,
        "ratio_to_reference": r.ratio,
    }


def forget_keys(prefix: str) -> int:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        return len(keys)
    finally:
        client.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--notion-latency-ms", type=float, default=100.0, help="fake Notion's delay per call")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated levels (default 1,16,64)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per route and level (default 5)")
    parser.add_argument("--requests", type=int, default=0, help="requests per route and level instead of a duration")
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
    parser.add_argument("--timeout", type=float, default=30.0, help="client timeout per request, seconds")
    parser.add_argument("--json", default="", help="also write the results to this file")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (printed path)")
    args = parser.parse_args(argv)
    args.concurrency = sorted({int(c) for c in args.concurrency.split(",") if c.strip()})
    args.routes = {r.strip() for r in args.routes.split(",") if r.strip()}
    args.notion_rate_limit = args.notion_rate_limit or (600 if args.mixed else 100_000)
    if not args.concurrency or min(args.concurrency) < 1:
        parser.error("--concurrency needs positive whole numbers")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM before the event loop runs cleans up like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    log_dir = Path(tempfile.mkdtemp(prefix="sentry-notion-bench-"))
    processes = Processes(log_dir)
    status = 0
    try:
        results = asyncio.run(benchmark(args, processes, prefix))
        if args.json:
            Path(args.json).write_text(json.dumps([_as_json(r) for r in results], indent=2))
            print(f"Results written to {args.json}")
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted: cleaning up", file=sys.stderr)
        status = 130
    except Exception as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        status = 1
    finally:
        clean_up(processes, prefix, log_dir, keep_logs=args.keep_logs or status == 1, started=started)
    return status


def clean_up(processes: Processes, prefix: str, log_dir: Path, *, keep_logs: bool, started: float) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # nor a second Ctrl-C
    try:
        processes.stop_all()
        try:
            print(f"Removed {forget_keys(prefix)} Redis keys under {prefix!r} in DB 14.")
        except redis.RedisError as exc:
            print(f"Could not remove Redis keys under {prefix!r}: {exc}", file=sys.stderr)
        if keep_logs:
            print(f"Logs kept in {log_dir}")
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
        print(f"Wall time {time.monotonic() - started:.1f} s")
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


if __name__ == "__main__":
    sys.exit(main())
