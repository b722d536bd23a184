import asyncio
import time
from dataclasses import dataclass

from adapters.redis_queue_scripts import GROUP, WAITING
from benchmarks.harness.measure import Level
from benchmarks.harness.sampling import CpuClock
from benchmarks.webhooks.hooks import Bench, Sent, issue_webhook


@dataclass
class AckResult(Level[Sent]):
    service_cpu_s: float = 0.0
    workers_cpu_s: float = 0.0
    busy_cpu_s: float = 0.0


def phase1_body(bench: Bench, n: int) -> bytes | None:
    if bench.args.requests and n >= bench.args.requests:
        return None
    # Issues past phase 2's, which must find their entries unseen.
    issues = bench.args.entries
    issue_id = bench.args.events + n % issues + 1
    transition = "resolved" if (n // issues) % 2 == 0 else "unresolved"
    return issue_webhook(issue_id, transition, events=next(bench.bodies))


async def measure_ack(bench: Bench, concurrency: int) -> AckResult:
    sent = Sent()
    ours = bench.ours()
    cpu = CpuClock.read(ours)
    started = time.perf_counter()
    deadline = None if bench.args.requests else started + bench.args.duration
    await bench.drive(lambda n: phase1_body(bench, n), concurrency, deadline, sent)
    elapsed = time.perf_counter() - started
    used = CpuClock.read(ours).since(cpu)
    return AckResult(
        concurrency,
        elapsed,
        sent,
        used.client_s,
        used.other_s,
        service_cpu_s=used.of(bench.service.pid),
        workers_cpu_s=used.of(*(w.pid for w in bench.workers)),
        busy_cpu_s=used.busy_s,
    )


async def phase1(bench: Bench) -> None:
    """Acknowledgement latency at each concurrency, the workers running; ends with an empty queue."""
    warm = Sent()
    await bench.drive(lambda n: phase1_body(bench, n) if n < 20 else None, 1, None, warm)
    if warm.errors:
        raise RuntimeError(f"warm-up webhooks failed: {warm.first_error}\n{bench.service.log_tail()}")
    print(f"  warm-up: 20 webhooks, outcomes {dict(warm.outcomes)}", flush=True)
    for concurrency in bench.args.concurrency:
        result = await measure_ack(bench, concurrency)
        bench.ack.append(result)
        print(result.progress("ack"), flush=True)
    bench.dropped_after_phase1 = await empty_queue(bench)
    print(f"  dropped {bench.dropped_after_phase1} phase-1 jobs still queued; queue empty", flush=True)


async def empty_queue(bench: Bench, timeout_s: float = 30.0) -> int:
    """Drops the queued jobs and waits for those in the workers' hands: phase 2 starts from an empty queue."""
    dropped = int(await bench.redis.xtrim(bench.jobs, maxlen=0, approximate=False))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pending = await bench.redis.xpending_range(bench.jobs, GROUP, min="-", max="+", count=1000)
        if not pending:
            return dropped
        waiting = [p["message_id"] for p in pending if _text(p["consumer"]) == WAITING]
        if waiting and len(waiting) == len(pending):
            await bench.redis.xack(bench.jobs, GROUP, *waiting)  # failed jobs waiting out their backoff
            return dropped + len(waiting)
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the workers still hold jobs {timeout_s:.0f} s after the queue was emptied")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
