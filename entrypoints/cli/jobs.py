import time
from collections.abc import Awaitable, Callable

import structlog

from domain.errors import Unavailable
from domain.models import Job
from domain.use_cases.run_job import RunJob
from entrypoints.http.metrics import JOB_OUTCOMES, JOB_SECONDS, JOBS

log = structlog.get_logger(__name__)


def observed(run: RunJob) -> Callable[[Job], Awaitable[None]]:
    """`run` as a queue worker calls it: each job counted, timed and logged in one line."""
    for kind in run.kinds:
        for outcome in JOB_OUTCOMES:
            JOBS.labels(kind=kind, outcome=outcome)  # at zero from the start, so rates and ratios have a series

    async def handle(job: Job) -> None:
        kind = job.kind if job.kind in run.kinds else "unknown"  # a newer version's kinds must not grow the labels
        # The Notion client appends each request it sends to this list (as for an HTTP request's log line).
        calls: list[str] = []
        outcome, started = "failed", time.perf_counter()
        try:
            with structlog.contextvars.bound_contextvars(notion_calls=calls):
                done = await run(job)
            outcome = done.outcome
        except Unavailable:
            outcome = "unavailable"
            raise
        finally:
            seconds = time.perf_counter() - started
            JOBS.labels(kind=kind, outcome=outcome).inc()
            JOB_SECONDS.labels(kind=kind, outcome=outcome).observe(seconds)
        # Failures are logged by the queue, which knows whether the job will be tried again.
        log.info(
            f"job_{outcome}",
            kind=job.kind,
            action=job.action,
            key=job.key,
            **done.model_dump(exclude={"outcome"}, exclude_defaults=True),
            notion_requests=len(calls),
            duration_ms=round(seconds * 1000, 1),
        )

    return handle
