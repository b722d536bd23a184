import logging
from urllib.parse import unquote

from domain.entry_sync import UNSHARED, EntrySync
from domain.errors import InvalidWebhook, IssueNotFound
from domain.models import EntrySnapshot, EntryUpdate, Frozen, Job, JobOutcome
from domain.notion_events import NotionEvent, parse
from domain.ports import EntryColumns, Locks, People, SentryApi, SyncState
from domain.sentry_events import sentry_issue_id

log = logging.getLogger(__name__)
NOT_AN_ENTRY = "not an entry of the database"


class PageApplied(Frozen):
    """What a "notion.page" job changed in Sentry, or why it changed nothing."""

    skipped: str = ""
    issue_id: str | None = None
    status: str | None = None  # the status Sentry took
    assignee: str | None = None  # the Sentry user assigned; "" when unassigned
    notion_status: str | None = None  # the option Notion took back, when Sentry's status won
    notion_assignee: tuple[str, ...] | None = None  # the people Notion took back, when Sentry's assignee won
    note: str | None = None

    def changes(self) -> tuple[str, ...]:
        changes = [f"Sentry status → {self.status}"] if self.status is not None else []
        if self.assignee is not None:
            changes.append(f"Sentry assignee → {self.assignee or 'nobody'}")
        if self.notion_status is not None:
            changes.append(f"status → {self.notion_status}")
        if self.notion_assignee is not None:
            changes.append(f"assignee → {', '.join(self.notion_assignee) or 'nobody'}")
        return (*changes, *(("note added",) if self.note else ()))


class ApplyNotionPage:
    """Carries what the team did to an entry in Notion to its Sentry issue, for a "notion.page" job.

    The event only says "look at this page again": the job reads the page and the issue as they are now and
    writes only differences, under the entry's lock, so late, merged, repeated and reordered events are
    harmless. Events only the service's own bot authored are skipped; status and assignee conflicts are
    settled as both directions settle them (EntrySync, domain/status_merge.py).
    """

    def __init__(
        self,
        *,
        columns: EntryColumns,
        people: People,
        sync: EntrySync,
        locks: Locks,
        state: SyncState,
        sentry: SentryApi | None,
    ) -> None:
        self._columns, self._people, self._sync, self._locks, self._state = columns, people, sync, locks, state
        self._sentry = sentry
        self._told_no_api = False

    async def __call__(self, job: Job) -> JobOutcome:
        done = await self.apply(job)
        if done.skipped:
            return JobOutcome(outcome="skipped", reason=done.skipped)
        # Not skipped: the body parsed, so it names its page.
        return JobOutcome.of(parse(job.body).page_id or "", done.changes(), reason="Sentry agrees")

    async def apply(self, job: Job) -> PageApplied:
        if self._sentry is None:
            if not self._told_no_api:
                log.warning("Notion changes are not applied to Sentry: SENTRY_API_TOKEN is not set")
                self._told_no_api = True
            return PageApplied(skipped="no SENTRY_API_TOKEN")
        try:
            event = parse(job.body)
        except InvalidWebhook as exc:
            return PageApplied(skipped=exc.message)
        if event.page_id is None:
            return PageApplied(skipped="not about a page")
        if event.only_by_service(await self._people.bot_id()):
            return PageApplied(skipped="made by this service")
        async with self._locks.hold(f"entry:{event.page_id}"):
            try:
                entry = await self._columns.snapshot(event.page_id)
            except IssueNotFound:
                return await self._unreadable(event.page_id)
            await self._sync.saw(entry)
            issue_id = sentry_issue_id(entry.entry.sentry_url)
            if not entry.in_data_source:
                return PageApplied(skipped=NOT_AN_ENTRY)
            if issue_id is None:
                return PageApplied(skipped="the entry has no Sentry Link")
            try:
                return await self._apply(event, entry, issue_id, self._sentry)
            except IssueNotFound:
                return PageApplied(skipped=f"Sentry has no issue {issue_id}", issue_id=issue_id)

    async def _unreadable(self, page_id: str) -> PageApplied:
        if (told := await self._sync.unreadable(page_id)) is None:
            return PageApplied(skipped=UNSHARED)
        issue_id, note = told
        return PageApplied(issue_id=issue_id, note=note)

    async def _apply(self, event: NotionEvent, entry: EntrySnapshot, issue_id: str, sentry: SentryApi) -> PageApplied:
        page_id, trashed_key = entry.entry.page_id, f"{entry.entry.page_id}:trashed"
        was_trashed = await self._state.get(trashed_key) == "1"
        if entry.in_trash:
            if was_trashed:
                return PageApplied(skipped="the entry is in the trash", issue_id=issue_id)
            gone = (
                f"The linked Notion entry {entry.entry.identifier} was moved to trash in Notion; this issue is no "
                "longer kept in step with it. Restoring the entry links it again."
            )
            await sentry.add_note(issue_id, gone)
            await self._state.put(trashed_key, "1")
            return PageApplied(issue_id=issue_id, note=gone)
        note = None
        if was_trashed:
            note = f"The linked Notion entry {entry.entry.identifier} is back from the trash and kept in step again."
            await sentry.add_note(issue_id, note)
            await self._state.put(trashed_key, "0")
        issue = await sentry.issue(issue_id)
        # Notion's record of the change: the later of the event's time and the page's last edit.
        notion_at = max(event.timestamp.timestamp(), entry.edited_at or 0.0)
        column = await self._columns.status_column()
        move = await self._sync.settle_status(
            page_id,
            issue,
            entry.model_copy(update={"edited_at": notion_at}),
            without_base="notion" if self._names(event, column.id if column else None) else None,
        )
        assigned = await self._sync.settle_assignee(
            page_id,
            issue,
            entry,
            without_base="notion" if self._names(event, await self._columns.assignee_column_id()) else None,
        )
        update = EntryUpdate(status=move.notion, assignee_ids=assigned.notion)
        if update:
            await self._columns.update_entry(page_id, update)
        await self._sync.agree(page_id, move, assigned)
        return PageApplied(
            issue_id=issue_id,
            status=move.sentry,
            assignee=assigned.sentry,
            notion_status=move.notion,
            notion_assignee=assigned.notion,
            note=note,
        )

    @staticmethod
    def _names(event: NotionEvent, property_id: str | None) -> bool:
        # Asked only of an entry without a base: Notion merges several edits into one event, and may send none
        # of the changed properties, so the base decides once there is one.
        return property_id is not None and unquote(property_id) in {unquote(p) for p in event.updated_properties}
