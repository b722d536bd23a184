import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

import structlog
from aiohttp import web

from domain.models import Job
from domain.ports import JobQueue
from entrypoints.cli.use_cases import CliUseCases
from entrypoints.http.app import create_metrics_app

log = structlog.get_logger(__name__)


async def worker(use_cases: CliUseCases, *, metrics_port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)  # finish the job in hand, then stop
    metrics = web.AppRunner(create_metrics_app(use_cases.http.observe_queue), access_log=None)
    await metrics.setup()
    try:
        if metrics_port:
            try:
                await web.TCPSite(metrics, port=metrics_port).start()
            except OSError as exc:
                print(
                    f"sentry-notion: cannot serve metrics on port {metrics_port} ({exc.strerror}): "
                    "pick another with --metrics-port, or 0 for none.",
                    file=sys.stderr,
                )
                return 1
        log.info("worker_started", metrics_port=metrics_port or None)
        await use_cases.queue.work(use_cases.handle_job, stop=stop)
    finally:
        await metrics.cleanup()
    return 0


async def replay_lost(queue: JobQueue, log_lines: TextIO) -> int:
    jobs, unreadable = [], 0
    for line in log_lines:
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("event") == "webhook_lost":
                try:
                    jobs.append(Job.model_validate(entry.get("job")))
                except ValueError:  # a line cut short or edited: say so rather than end in a traceback
                    unreadable += 1
    queued = [await queue.enqueue(job) for job in jobs]
    print(f"{sum(queued)} lost webhook(s) queued again, {len(jobs) - sum(queued)} already queued.")
    if unreadable:
        print(
            f"sentry-notion: {unreadable} webhook_lost line(s) hold no readable job and were skipped.", file=sys.stderr
        )
        return 1
    return 0


async def dead_letters(queue: JobQueue, action: str, ids: Sequence[str]) -> int:
    if action == "replay":
        replayed = set(await queue.replay(ids))
        print(f"Replayed {len(replayed)} job(s).")
        if unknown := [i for i in dict.fromkeys(ids) if i not in replayed]:
            # A mistyped id, or a letter replayed already: the others were replayed all the same.
            print(
                f"sentry-notion: no dead letter has the id(s) {', '.join(unknown)}; "
                "`sentry-notion dead-letters list` shows their ids.",
                file=sys.stderr,
            )
            return 1
        return 0
    letters = await queue.dead_letters()
    for letter in letters:
        job = letter.job
        print(f"{letter.id}  {job.kind} {job.action}  attempts={letter.attempts}  {letter.error}")
    print(f"{len(letters)} dead letter(s).")
    return 0
