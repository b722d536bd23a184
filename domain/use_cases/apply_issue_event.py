from domain.entry_sync import EntrySync
from domain.errors import IssueNotFound
from domain.linking import NOT_LINKED, linked_page
from domain.models import Job, JobOutcome
from domain.ports import Entries, LinkRegistry
from domain.sentry_events import parse

NOT_AN_ISSUE = "the webhook names no Sentry issue"
UP_TO_DATE = "the entry already agrees with the issue, under NOTION_CONFIG sync"


class ApplyIssueEvent:
    """Keeps the entry linked to a Sentry issue in step with it, for a "sentry.issue" job.

    With Sentry's API the event is only a trigger: the entry takes the state the API reports, so the order
    and timing of deliveries do not matter. Without it, the event's own content applies, in Sentry's order.
    """

    def __init__(self, *, entries: Entries, registry: LinkRegistry, sync: EntrySync) -> None:
        self._entries, self._registry, self._sync = entries, registry, sync

    async def __call__(self, job: Job) -> JobOutcome:
        event = parse(job)
        if event is None:
            return JobOutcome(outcome="skipped", reason=NOT_AN_ISSUE)
        page_id = await linked_page(self._entries, self._registry, event.installation_id, event.issue_id)
        if page_id is None:
            return JobOutcome(outcome="skipped", reason=NOT_LINKED)
        if not self._sync.reads_sentry:
            update = await self._sync.apply(page_id, event)
        else:
            try:
                update = await self._sync.sync(page_id, event.issue_id)
            except IssueNotFound:  # the issue was deleted: nothing left to follow
                return JobOutcome(outcome="skipped", entry=page_id, reason="Sentry no longer has this issue")
        if update.skipped:
            return JobOutcome(outcome="skipped", entry=page_id, reason=update.skipped)
        return JobOutcome.of(page_id, update.changes(), reason=UP_TO_DATE)
