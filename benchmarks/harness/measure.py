import argparse
import math
import os
import platform
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import aiohttp


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]  # nearest rank


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def error_text(errors: Counter[str]) -> str:
    """`3 (503×2, ClientOSError×1)`: the count, then the commonest kinds."""
    total = sum(errors.values())
    return str(total) + (f" ({', '.join(f'{k}×{v}' for k, v in errors.most_common(3))})" if total else "")


def per_action(by_endpoint: Mapping[str, int], actions: int) -> str:
    """`GET /v1/pages/{id} ×1.00, ...`: Notion calls by endpoint, per action."""
    return ", ".join(f"{k} ×{v / actions:.2f}" for k, v in sorted(by_endpoint.items()))


@dataclass
class Tally:
    """Requests sent and how they went: latencies, errors by status or exception, and the first error."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    first_error: str = ""

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    def record(self, started: float, status: int | None, text: str) -> bool:
        """Records one answer (`status` None: `text` is the exception); whether it succeeded."""
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        if status is not None and 200 <= status < 300:
            return True
        self.errors[text.partition(":")[0] if status is None else str(status)] += 1
        self.first_error = self.first_error or (text[:200] if status is None else f"{status} {text[:200]}")
        return False

    async def send(
        self, session: aiohttp.ClientSession, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> str | None:
        """Sends one request and records it; the answer's text if it succeeded."""
        started = time.perf_counter()
        try:
            async with session.request(method, url, data=body, headers=headers) as resp:
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.record(started, None, f"{type(exc).__name__}: {exc}")
            return None
        return text if self.record(started, resp.status, text) else None


T = TypeVar("T", bound=Tally)


@dataclass
class Level(Generic[T]):
    """Requests sent at one concurrency for `elapsed_s`."""

    concurrency: int
    elapsed_s: float
    tally: T
    client_cpu_s: float  # this process's: near a whole CPU, the load generator is the bottleneck
    other_cpu_s: float  # processes outside the benchmark (and Redis): noise when high

    @property
    def requests(self) -> int:
        return self.tally.requests

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, p: float) -> float:
        return self.tally.percentile(p)

    def progress(self, label: str) -> str:
        """One line to print as the run goes, the first error (if any) on a line before it."""
        line = f"  {label} c={self.concurrency:<3} {self.requests:>6} req  {self.rps:8.1f}/s  "
        line += f"p50 {self.percentile(50):6.1f} ms  p99 {self.percentile(99):7.1f} ms  "
        line += f"errors {sum(self.tally.errors.values())}  client CPU {self.cpu_pct(self.client_cpu_s):.0f} %  "
        line += f"other CPU {self.cpu_pct(self.other_cpu_s):.0f} %"
        first = self.tally.first_error and f"  {label} c={self.concurrency:<3} first error: {self.tally.first_error}\n"
        return first + line

    def cpu_pct(self, cpu_s: float) -> float:
        """CPU time used over the run, in % of one CPU."""
        return 100 * cpu_s / self.elapsed_s if self.elapsed_s else 0.0


def per_level(args: argparse.Namespace, unit: str) -> str:
    """What each level ran for: `--requests` of `unit`, or `--duration` seconds."""
    return f"{args.requests} {unit}" if args.requests else f"{args.duration:g} s"


def noise(levels: Iterable[Level[Any]]) -> str | None:
    """A warning when processes outside the benchmark took over a quarter of a CPU during a level."""
    noisiest = max((level.cpu_pct(level.other_cpu_s) for level in levels), default=0.0)
    if noisiest <= 25:
        return None
    return (
        f"**Noisy machine**: other processes used up to {noisiest:.0f} % of a CPU during a run; throughput and "
        "latency are pessimistic there (CPU per request holds up better). Rerun on an idle machine to publish."
    )


def machine() -> str:
    return f"{os.cpu_count()} CPUs, Python {platform.python_version()}"


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[str]], *, left: Sequence[str] = ()) -> str:
    """Columns are right-aligned, but for those named in `left`."""
    align = "|".join("---" if c in left else "---:" for c in columns)
    lines = [f"| {' | '.join(columns)} |", f"|{align}|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)
