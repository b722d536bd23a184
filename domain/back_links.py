import asyncio
import logging

from domain.errors import DomainError
from domain.models import LinkedEntry, SentryIssue
from domain.ports import Locks, SentryApi, SyncState

log = logging.getLogger(__name__)


class BackLinks:
    """Leaves "Linked to Notion BUG-12: <url>" on the Sentry issue, once per entry.

    Best effort: the link in Notion is what the user asked for; a note Sentry cannot take now is
    not worth failing it. The note comes back as a webhook from an application, which is skipped.
    """

    def __init__(self, *, sentry: SentryApi | None, state: SyncState, locks: Locks, budget_s: float = 2.0) -> None:
        self._sentry, self._state, self._locks, self._budget_s = sentry, state, locks, budget_s

    async def __call__(self, sentry: SentryIssue, linked: LinkedEntry) -> None:
        if self._sentry is not None:
            await self._note(self._sentry, sentry, linked)

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
