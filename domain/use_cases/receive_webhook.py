import asyncio
import time
from collections.abc import Callable
from typing import Literal

from domain.errors import QueueUnavailable
from domain.models import Frozen, Job, JobOutcome
from domain.ports import JobQueue
from domain.sentry_events import delivery, is_self_caused
from domain.use_cases.run_job import RunJob

Outcome = Literal["queued", "duplicate", "ignored", "applied", "skipped", "unchanged", "lost"]


class Receipt(Frozen):
    outcome: Outcome
    job: Job
    result: JobOutcome | None = None  # what running the job at once did, when it ran


class ReceiveWebhook:
    """Takes a Sentry webhook for the workers, within Sentry's one-second budget, and answers what became of
    it. Raises InvalidWebhook.

    Sentry never redelivers an internal integration's webhook, so when the queue cannot take the job
    it is applied at once if that fits the budget; otherwise it is reported lost, for the log and for
    reconciliation to repair.
    """

    def __init__(
        self,
        *,
        queue: JobQueue,
        run: RunJob,
        triggers: bool,
        budget_s: float = 0.8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # `triggers`: Sentry's API is there to read, so an issue event only says "look at this issue again".
        self._queue, self._run, self._triggers, self._budget_s, self._clock = queue, run, triggers, budget_s, clock

    async def __call__(self, resource: str, timestamp: str | None, raw: bytes) -> Receipt:
        job = delivery(resource, timestamp, raw, received_at=self._clock(), triggers=self._triggers)
        return await self._take(job)

    async def _take(self, job: Job) -> Receipt:
        if (
            job.kind not in self._run.kinds
            or (job.action == "created" and job.kind == "sentry.issue")
            or is_self_caused(job.body)
        ):
            # A new issue has no entry yet; installation, alert and error events change none.
            return Receipt(outcome="ignored", job=job)
        deadline = asyncio.get_running_loop().time() + self._budget_s  # one budget for queueing and applying
        try:
            async with asyncio.timeout_at(deadline):
                return Receipt(outcome="queued" if await self._queue.enqueue(job) else "duplicate", job=job)
        except (QueueUnavailable, TimeoutError):
            pass
        try:
            async with asyncio.timeout_at(deadline):
                done = await self._run(job)
        except Exception:  # whatever went wrong, the webhook is answered and the job logged for replay
            return Receipt(outcome="lost", job=job)
        return Receipt(outcome=done.outcome, job=job, result=done)
