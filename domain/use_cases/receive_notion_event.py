import asyncio
import time
from collections.abc import Callable
from typing import Any, Literal

from domain import notion_events
from domain.errors import DomainError
from domain.notion_events import NotionEvent
from domain.ports import EntryColumns, JobQueue, People
from domain.use_cases.run_job import RunJob
from domain.use_cases.take_job import Outcome, TakeJob

NotionOutcome = Outcome | Literal["other_workspace"]


class ReceiveNotionEvent:
    """Takes a signed Notion event for the workers. Raises InvalidWebhook.

    Notion retries an event it sees no answer to, for about a day, with the same id
    (https://developers.notion.com/reference/webhooks-events-delivery): the job is keyed on that id, so
    the queue drops the retries of a queued event, and an event neither queued nor applied is "lost" for
    the caller to refuse, so that Notion sends it again.

    The signature already names the subscription: its key is that subscription's own secret, so a signed
    event comes from a subscription the operator configured, of the integration that owns it (neither id
    can be read from Notion's API to compare). That integration may be installed in other workspaces too,
    whose events the same subscription delivers: those name another `workspace_id` than the token's, and
    are acknowledged and dropped ("other_workspace"), never applied.
    """

    def __init__(
        self,
        *,
        queue: JobQueue,
        run: RunJob,
        people: People,
        data_source_id: str = "",
        columns: EntryColumns | None = None,
        budget_s: float = 0.8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # `data_source_id`: the configured database's, when known before Notion is asked; otherwise workers check.
        # `columns`: to forget the entry as last seen when someone changed it.
        self._data_source, self._columns, self._clock = _bare(data_source_id), columns, clock
        self._people, self._budget_s = people, budget_s
        self._take_job = TakeJob(queue=queue, run=run, budget_s=budget_s)

    async def __call__(self, body: Any) -> tuple[NotionOutcome, NotionEvent]:
        event = notion_events.parse(body)
        job = notion_events.job(event, body, received_at=self._clock())
        if job is None or (
            self._data_source and event.data_source_id and _bare(event.data_source_id) != self._data_source
        ):
            return "ignored", event  # a type the sync does not act on, or a page of another database
        try:
            # Read with the database's schema, which is cached: usually no call to Notion.
            async with asyncio.timeout(self._budget_s):
                ours = _bare((await self._people.database()).workspace)
        except (DomainError, TimeoutError):
            # Not known yet (a replica's first events, while it first reads the database): refusing would make
            # Notion wait a minute to send them again. The job is safe unchecked: a workspace's page and comment
            # ids are its own, so the workers, reading with this token, cannot find another workspace's.
            ours = ""
        # Empty also when Notion's description does not name it (the sandbox, a schema cached by an older version).
        if ours and _bare(event.workspace_id) != ours:
            return "other_workspace", event
        if self._columns is not None and job.kind == "notion.page" and event.page_id and not _bots_only(event):
            # Now, not when its job runs: a Sentry change queued before this event would otherwise be planned on
            # the entry as it was before the person's change. A bot's change waits for its job, which tells the
            # service's own (nothing to read again) from another integration's.
            await self._columns.forget_seen(event.page_id)
        return (await self._take_job(job)).outcome, event


def _bots_only(event: NotionEvent) -> bool:
    return bool(event.authors) and all(author.type == "bot" for author in event.authors)


def _bare(notion_id: str) -> str:
    return notion_id.replace("-", "").lower()
