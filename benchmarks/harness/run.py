import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import redis

from benchmarks.harness.processes import Processes
from benchmarks.harness.stack import forget_keys

Benchmark = Callable[[Processes, str], Coroutine[Any, Any, None]]


def add_load_args(parser: argparse.ArgumentParser, *, concurrency: str, duration: float, unit: str, per: str) -> None:
    """The options every load-driving benchmark takes: fake Notion latency, levels, duration, timeout, logs."""
    parser.add_argument("--notion-latency-ms", type=float, default=100.0, help="fake Notion's delay per call")
    parser.add_argument("--concurrency", default=concurrency, help=f"comma-separated levels (default {concurrency})")
    parser.add_argument("--duration", type=float, default=duration, help=f"seconds per {per} (default {duration:g})")
    parser.add_argument("--requests", type=int, default=0, help=f"{unit} per {per} instead of a duration")
    parser.add_argument("--timeout", type=float, default=30.0, help="client timeout per request, seconds")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (printed path)")


def parse_levels(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    args.concurrency = sorted({int(c) for c in args.concurrency.split(",") if c.strip()})
    if not args.concurrency or min(args.concurrency) < 1:
        parser.error("--concurrency needs positive whole numbers")


def run(benchmark: Benchmark, *, name: str, keep_logs: bool) -> int:
    """Runs `benchmark(processes, prefix)`; whatever happens (Ctrl-C, SIGTERM), then stops the processes it started
    and deletes its Redis keys. 0 once it has measured, 130 when interrupted, 1 when it failed (logs kept)."""
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    prefix = f"{name}-{uuid.uuid4().hex[:12]}"
    log_dir = Path(tempfile.mkdtemp(prefix=f"sentry-notion-{name}-"))
    processes = Processes(log_dir)
    status = 0
    try:
        asyncio.run(_cancelled_on_sigterm(benchmark(processes, prefix)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted: cleaning up", file=sys.stderr)
        status = 130
    except Exception as exc:
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    finally:
        clean_up(processes, prefix, log_dir, keep_logs=keep_logs or status == 1, started=started)
    return status


async def _cancelled_on_sigterm(benchmark: Coroutine[Any, Any, None]) -> None:
    task = asyncio.current_task()
    if task is not None:  # SIGTERM stops the run like Ctrl-C does: cancel, then clean up in run()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await benchmark


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM before the event loop runs cleans up like Ctrl-C


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
