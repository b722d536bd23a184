import time
from collections.abc import Callable

from domain.models import Job
from domain.ports import JobQueue
from domain.sentry_events import delivery, is_self_caused
from domain.use_cases.run_job import RunJob
from domain.use_cases.take_job import Receipt, TakeJob


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
        self._run, self._triggers, self._clock = run, triggers, clock
        self._take_job = TakeJob(queue=queue, run=run, budget_s=budget_s)

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
        return await self._take_job(job)
