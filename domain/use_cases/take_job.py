import asyncio
from typing import Literal

from domain.errors import QueueUnavailable
from domain.models import Frozen, Job, JobOutcome
from domain.ports import JobQueue
from domain.use_cases.run_job import RunJob

Outcome = Literal["queued", "duplicate", "ignored", "applied", "skipped", "unchanged", "lost"]


class Receipt(Frozen):
    outcome: Outcome
    job: Job
    result: JobOutcome | None = None  # what running the job at once did, when it ran


class TakeJob:
    """Hands a webhook's job to the workers within the sender's budget: queued, or a duplicate of a queued one.
    When the queue cannot take it, the job is applied at once if that fits the budget, and reported lost
    otherwise; ignored when this process has no handler for its kind (a queue's workers may). Never raises."""

    def __init__(self, *, queue: JobQueue, run: RunJob, budget_s: float) -> None:
        self._queue, self._run, self._budget_s = queue, run, budget_s

    async def __call__(self, job: Job) -> Receipt:
        deadline = asyncio.get_running_loop().time() + self._budget_s  # one budget for queueing and applying
        try:
            async with asyncio.timeout_at(deadline):
                return Receipt(outcome="queued" if await self._queue.enqueue(job) else "duplicate", job=job)
        except (QueueUnavailable, TimeoutError):
            pass
        if job.kind not in self._run.kinds:
            return Receipt(outcome="ignored", job=job)
        try:
            async with asyncio.timeout_at(deadline):
                done = await self._run(job)
        except Exception:  # whatever went wrong, the webhook is answered and the job logged for replay
            return Receipt(outcome="lost", job=job)
        return Receipt(outcome=done.outcome, job=job, result=done)
