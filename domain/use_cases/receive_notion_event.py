import time
from collections.abc import Callable
from typing import Any

from domain import notion_events
from domain.notion_events import NotionEvent
from domain.ports import EntryColumns, JobQueue
from domain.use_cases.run_job import RunJob
from domain.use_cases.take_job import Outcome, TakeJob


class ReceiveNotionEvent:
    """Takes a signed Notion event for the workers. Raises InvalidWebhook.

    Notion retries an event it sees no answer to, for about a day, with the same id
    (https://developers.notion.com/reference/webhooks-events-delivery): the job is keyed on that id, so
    the queue drops the retries of a queued event, and an event neither queued nor applied is "lost" for
    the caller to refuse, so that Notion sends it again.
    """

    def __init__(
        self,
        *,
        queue: JobQueue,
        run: RunJob,
        data_source_id: str = "",
        columns: EntryColumns | None = None,
        budget_s: float = 0.8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # `data_source_id`: the configured database's, when known before Notion is asked; otherwise workers check.
        # `columns`: to forget the entry as last seen when someone changed it.
        self._data_source, self._columns, self._clock = _bare(data_source_id), columns, clock
        self._take_job = TakeJob(queue=queue, run=run, budget_s=budget_s)

    async def __call__(self, body: Any) -> tuple[Outcome, NotionEvent]:
        event = notion_events.parse(body)
        job = notion_events.job(event, body, received_at=self._clock())
        if job is None or (
            self._data_source and event.data_source_id and _bare(event.data_source_id) != self._data_source
        ):
            return "ignored", event  # a type the sync does not act on, or a page of another database
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
