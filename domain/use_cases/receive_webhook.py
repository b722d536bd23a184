import asyncio
from typing import Literal

from domain.errors import DomainError, QueueUnavailable
from domain.models import Job
from domain.ports import JobQueue
from domain.sentry_events import is_self_caused
from domain.use_cases.apply_sentry_event import ApplySentryEvent

Outcome = Literal["queued", "duplicate", "ignored", "applied", "lost"]
SYNCED = frozenset({"issue", "comment"})


class ReceiveWebhook:
    """Takes a Sentry webhook for the workers, within Sentry's one-second budget.

    Sentry never redelivers an internal integration's webhook, so when the queue cannot take the job
    it is applied at once if that fits the budget; otherwise it is reported lost, for the log and for
    reconciliation to repair.
    """

    def __init__(self, *, queue: JobQueue, apply: ApplySentryEvent, inline_budget_s: float = 0.7) -> None:
        self._queue, self._apply, self._inline_budget_s = queue, apply, inline_budget_s

    async def __call__(self, job: Job) -> Outcome:
        if job.resource not in SYNCED or is_self_caused(job.body):
            return "ignored"  # installation, alert and error events change no entry
        try:
            return "queued" if await self._queue.enqueue(job) else "duplicate"
        except QueueUnavailable:
            pass
        try:
            async with asyncio.timeout(self._inline_budget_s):
                await self._apply(job)
        except (DomainError, TimeoutError):
            return "lost"
        return "applied"
