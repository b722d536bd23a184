import asyncio
import time
from collections.abc import Callable
from typing import Any, Literal

from domain import notion_events
from domain.errors import DomainError, StoreUnavailable
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
        if job is None:
            return "ignored", event  # a type the sync does not act on
        try:
            # Read with the database's schema, which is cached: usually no call to Notion.
            async with asyncio.timeout(self._budget_s):
                ours, bot = _bare((await self._people.database()).workspace), await self._people.bot_id()
        except (DomainError, TimeoutError):
            # Not known yet (a replica's first events, while it first reads the database): refusing would make
            # Notion wait a minute to send them again. The job is safe unchecked: a workspace's page and comment
            # ids are its own, so the workers, reading with this token, cannot find another workspace's. Without
            # the bot's id, only the event's integration tells the service's own changes.
            ours, bot = "", ""
        # Empty also when Notion's description does not name it (the sandbox, a schema cached by an older version).
        if ours and _bare(event.workspace_id) != ours:
            return "other_workspace", event
        forgotten = await self._forget_seen(event, job.kind, bot)
        if self._data_source and event.data_source_id and _bare(event.data_source_id) != self._data_source:
            return ("ignored" if forgotten else "lost"), event  # a page of another database
        outcome = (await self._take_job(job)).outcome
        if not forgotten and outcome in ("queued", "duplicate"):
            # Acknowledged, it would leave Sentry's changes planned on the entry as it was: Notion sends it again,
            # a duplicate of the queued job once the entry is forgotten. With Redis down altogether, the job ran
            # at once, and the entries Redis keeps are as old as after the service's own writes meanwhile.
            return "lost", event
        return outcome, event

    async def _forget_seen(self, event: NotionEvent, kind: str, bot: str) -> bool:
        # Now, not when its job runs: a Sentry change queued before this event would otherwise be planned on the
        # entry as it was before the change. Also for a page moved to another database, whose event is then
        # dropped. The service's own change leaves the entry as its write answered it. False when Redis failed.
        if self._columns is None or kind != "notion.page" or not event.page_id or event.only_by_service(bot):
            return True
        try:
            await self._columns.forget_seen(event.page_id)
        except StoreUnavailable:
            return False
        return True


def _bare(notion_id: str) -> str:
    return notion_id.replace("-", "").lower()
