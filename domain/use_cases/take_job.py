import asyncio
from typing import Literal

from domain.errors import QueueUnavailable
from domain.models import Job
from domain.ports import JobQueue
from domain.use_cases.run_job import RunJob

Outcome = Literal["queued", "duplicate", "ignored", "applied", "lost"]


class TakeJob:
    """Hands a webhook's job to the workers within the sender's budget: queued, or a duplicate of a queued one.
    When the queue cannot take it, the job is applied at once if that fits the budget, and reported lost
    otherwise; ignored when this process has no handler for its kind (a queue's workers may). Never raises."""

    def __init__(self, *, queue: JobQueue, run: RunJob, budget_s: float) -> None:
        self._queue, self._run, self._budget_s = queue, run, budget_s

    async def __call__(self, job: Job) -> Outcome:
        deadline = asyncio.get_running_loop().time() + self._budget_s  # one budget for queueing and applying
        try:
            async with asyncio.timeout_at(deadline):
                return "queued" if await self._queue.enqueue(job) else "duplicate"
        except (QueueUnavailable, TimeoutError):
            pass
        if job.kind not in self._run.kinds:
            return "ignored"
        try:
            async with asyncio.timeout_at(deadline):
                await self._run(job)
        except Exception:  # whatever went wrong, the webhook is answered and the job logged for replay
            return "lost"
        return "applied"
