import asyncio
import contextlib
import logging
import time

from domain.errors import DomainError, QueueUnavailable
from domain.models import LinkedEntry, SentryIssue
from domain.ports import JobQueue, Locks, SentryApi, SyncState
from domain.sentry_events import trigger

log = logging.getLogger(__name__)


class BackLinks:
    """Leaves "Linked to Notion BUG-12: <url>" on the Sentry issue, once per entry, and has a worker fill
    the entry's status, assignee and detail columns from the issue as it is now.

    Best effort: the link in Notion is what the user asked for; a note Sentry cannot take now is
    not worth failing it, and reconciliation fills what a lost job did not. The note comes back as a
    webhook from an application, which is skipped.
    """

    def __init__(
        self,
        *,
        sentry: SentryApi | None,
        state: SyncState,
        locks: Locks,
        queue: JobQueue | None = None,
        budget_s: float = 2.0,
    ) -> None:
        self._sentry, self._state, self._locks, self._budget_s = sentry, state, locks, budget_s
        self._queue = queue

    async def __call__(self, sentry: SentryIssue, linked: LinkedEntry) -> None:
        if self._sentry is None:
            return
        await self._note(self._sentry, sentry, linked)
        if self._queue is not None and linked.page_id:
            job = trigger(sentry.installation_id, str(sentry.issue_id), "refresh", received_at=time.time())
            with contextlib.suppress(QueueUnavailable):
                await self._queue.enqueue(job)

    async def _note(self, api: SentryApi, sentry: SentryIssue, linked: LinkedEntry) -> None:
        key = f"note:{sentry.installation_id}:{sentry.issue_id}:{linked.web_url}"
        text = f"Linked to Notion {linked.identifier}: {linked.web_url}"
        try:
            async with asyncio.timeout(self._budget_s), self._locks.hold(key, wait_s=0):
                if await self._state.get(key):
                    return
                await api.add_note(str(sentry.issue_id), text)
                await self._state.put(key, "1")
        except (DomainError, TimeoutError) as exc:
            log.warning("no note on Sentry issue %s: %s", sentry.issue_id, getattr(exc, "message", "timed out"))
