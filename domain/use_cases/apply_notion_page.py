import logging
from urllib.parse import unquote

from domain.entry_sync import EntrySync
from domain.errors import InvalidWebhook, IssueNotFound, SentryRefused
from domain.models import (
    Assignee,
    EntrySnapshot,
    EntryUpdate,
    Frozen,
    Job,
    JobOutcome,
    SentryIssueState,
    SentryMember,
    SyncPolicy,
)
from domain.notion_events import NotionEvent, parse
from domain.ports import EntryColumns, Locks, People, SentryApi, SyncState
from domain.sentry_events import sentry_issue_id
from domain.stale_while_revalidate import StaleWhileRevalidate

log = logging.getLogger(__name__)
NOT_AN_ENTRY = "not an entry of the database"


class PageApplied(Frozen):
    """What a "notion.page" job changed in Sentry, or why it changed nothing."""

    skipped: str = ""
    issue_id: str | None = None
    status: str | None = None  # the status Sentry took
    assignee: str | None = None  # the Sentry user assigned; "" when unassigned
    notion_status: str | None = None  # the option Notion took back, when Sentry's status won
    note: str | None = None

    def changes(self) -> tuple[str, ...]:
        changes = [f"Sentry status → {self.status}"] if self.status is not None else []
        if self.assignee is not None:
            changes.append(f"Sentry assignee → {self.assignee or 'nobody'}")
        if self.notion_status is not None:
            changes.append(f"status → {self.notion_status}")
        return (*changes, *(("note added",) if self.note else ()))


class ApplyNotionPage:
    """Carries what the team did to an entry in Notion to its Sentry issue, for a "notion.page" job.

    The event only says "look at this page again": the job reads the page and the issue as they are now and
    writes only differences, under the entry's lock, so late, merged, repeated and reordered events are
    harmless. Events only the service's own bot authored are skipped; status conflicts are settled by the
    policy both directions share (domain/status_merge.py).
    """

    def __init__(
        self,
        *,
        columns: EntryColumns,
        people: People,
        assignees: StaleWhileRevalidate[list[Assignee]],
        members: StaleWhileRevalidate[list[SentryMember]],
        sync: EntrySync,
        locks: Locks,
        state: SyncState,
        policy: SyncPolicy,
        sentry: SentryApi | None,
    ) -> None:
        self._columns, self._people, self._assignees, self._members = columns, people, assignees, members
        self._sync, self._locks, self._state, self._policy, self._sentry = sync, locks, state, policy, sentry
        self._told_no_api = self._told_no_members = False

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
        bots = frozenset({await self._people.bot_id(), event.integration_id} - {""})
        if event.only_by(bots):
            return PageApplied(skipped="made by this service")
        async with self._locks.hold(f"entry:{event.page_id}"):
            try:
                entry = await self._columns.snapshot(event.page_id)
            except IssueNotFound:
                return await self._unreadable(event.page_id, self._sentry)
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

    async def _unreadable(self, page_id: str, sentry: SentryApi) -> PageApplied:
        # Notion answers 404 for a page no longer shared with the integration, or deleted for good (no event
        # tells of either): its issue is told once, from the entry as last read, which is then forgotten until
        # the page can be read again. An entry in the trash has told its issue already.
        skipped = PageApplied(skipped="the page is not shared with the integration")
        entry = await self._sync.last_seen(page_id)
        issue_id = sentry_issue_id(entry.sentry_url) if entry else None
        if entry is None or issue_id is None or await self._state.get(f"{page_id}:trashed") == "1":
            return skipped
        gone = (
            f"The linked Notion entry {entry.identifier} is no longer shared with the Notion integration, or was "
            "deleted for good; this issue is no longer kept in step with it. Sharing it with the integration again "
            "links it again."
        )
        try:
            await sentry.add_note(issue_id, gone)
        except IssueNotFound:
            return PageApplied(skipped=f"Sentry has no issue {issue_id}", issue_id=issue_id)
        await self._sync.forget(page_id)
        return PageApplied(issue_id=issue_id, note=gone)

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
        named = column is not None and unquote(column.id) in {unquote(p) for p in event.updated_properties}
        move = await self._sync.settle_status(
            page_id,
            issue,
            entry.model_copy(update={"edited_at": notion_at}),
            without_base="notion" if named else None,
        )
        if move.notion is not None:
            await self._columns.update_entry(page_id, EntryUpdate(status=move.notion))
        await self._sync.agree(page_id, move)
        assignee = await self._assignee(page_id, entry, issue, sentry) if self._policy.assignee else None
        return PageApplied(
            issue_id=issue_id, status=move.sentry, assignee=assignee, notion_status=move.notion, note=note
        )

    async def _assignee(
        self, page_id: str, entry: EntrySnapshot, issue: SentryIssueState, sentry: SentryApi
    ) -> str | None:
        ours = f"{page_id}:assignee:by_sync"  # the Sentry user this sync assigned, so only that one is cleared
        person = entry.state.assignee_ids[0] if entry.state.assignee_ids else None
        if person is None:
            assigned = await self._state.get(ours)
            if not assigned or issue.assignee_id != assigned:
                return None
            await sentry.assign(issue.issue_id, None)
            await self._state.put(ours, "")
            return ""
        scope = (await self._people.database()).people
        people = (await self._assignees.get(f"assignees:{scope}", self._people.list_assignees)).value
        email = next((p.email for p in people if p.id == person and p.email), None)
        try:
            members = (await self._members.get(f"sentry_members:{scope}", sentry.members)).value
        except SentryRefused as exc:
            # Assignees need the scope member:read; status and notes go on without it.
            if not self._told_no_members:
                log.warning("Notion assignees are not carried to Sentry: %s", exc.message)
                self._told_no_members = True
            return None
        member = next((m for m in members if email and m.email.casefold() == email.casefold()), None)
        if member is None:
            told = f"{page_id}:assignee:unmatched:{person}"
            if not await self._state.get(told):
                why = "has no email Notion shares" if email is None else "has no Sentry member with that email"
                log.info("Notion assignee not carried to Sentry issue %s: the person %s", issue.issue_id, why)
                await self._state.put(told, "1")
            return None
        if issue.assignee_id == member.user_id:
            return None
        await sentry.assign(issue.issue_id, member.user_id)
        await self._state.put(ours, member.user_id)
        return member.user_id
