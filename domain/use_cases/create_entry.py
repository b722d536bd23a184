import asyncio
import contextlib
from collections.abc import Sequence

from domain import markdown
from domain.back_links import BackLinks
from domain.errors import Conflict, DomainError, IssueNotFound, WriteUnconfirmed
from domain.form_columns import FormColumns
from domain.linking import issue_lock, linked, queue_refresh, registry_key, sentry_link
from domain.models import Block, CreateRequest, Entry, EntryDraft, LinkedEntry, SentryIssue, SentryIssueState, Span
from domain.ports import Entries, JobQueue, LinkRegistry, Locks, SentryApi
from domain.sentry_events import sentry_issue_id

# Notion finishes a write within its 60-second limit; past that a late page cannot appear.
UNCONFIRMED_S = 120.0
DETAILS_BUDGET_S = 2.0


class CreateEntry:
    """Creates the Notion entry for a Sentry issue, or answers with the one it already has.

    One Sentry issue maps to one page: a lock serialises concurrent creates across replicas, the
    registry remembers the page, and when the registry has forgotten, the Sentry Link column finds it.
    With several databases, `others` are the rest: an issue linked in one of them keeps that entry.
    """

    def __init__(
        self,
        *,
        entries: Entries,
        registry: LinkRegistry,
        locks: Locks,
        back_links: BackLinks | None = None,
        sentry: SentryApi | None = None,
        refresh: JobQueue | None = None,
        form: FormColumns | None = None,
        others: Sequence[Entries] = (),
    ) -> None:
        # `refresh`: where a job to fill the new entry's columns from Sentry goes, when Sentry's API is there.
        # `form`: the database's own columns the request may set; without it, their values are ignored.
        self._entries, self._registry, self._locks, self._back_links = entries, registry, locks, back_links
        self._sentry, self._refresh, self._form, self._others = sentry, refresh, form, others

    async def __call__(self, request: CreateRequest) -> LinkedEntry:
        database = await self._entries.database()
        # Checked before anything is written: a value the column does not have is refused, never dropped.
        choices = await self._form.chosen(request.columns, request.status) if self._form else {}
        key = registry_key(database, request.sentry)
        async with self._locks.hold(issue_lock(request.sentry)):
            if linked_elsewhere := await self._elsewhere(request.sentry):
                return linked_elsewhere
            issue = await self._existing(self._entries, key, request.sentry)
            created = issue is None
            if issue is None:
                if await self._registry.is_unconfirmed(key):
                    raise Conflict(
                        "Notion has not yet confirmed the entry requested a moment ago; try again in a minute."
                    )
                # Noted before the write, so that a lost answer, a timeout or a crash leaves the mark: Notion
                # may still save the page, and until then a retry must look for it, never create another.
                await self._registry.mark_unconfirmed(key, UNCONFIRMED_S)
                try:
                    issue = await self._entries.create_entry(_draft(request, await self._details(request), choices))
                except WriteUnconfirmed:
                    raise
                except DomainError:
                    await self._registry.clear_unconfirmed(key)  # refused: nothing was written
                    raise
            await self._registry.remember(key, issue.page_id)
        answer = linked(database, issue, created=created)
        if self._back_links:
            await self._back_links(request.sentry, answer)
        await queue_refresh(self._refresh, request.sentry)
        return answer

    async def existing(self, sentry: SentryIssue) -> LinkedEntry | None:
        """The entry the issue has already, in this database or another, without creating one."""
        if linked_elsewhere := await self._elsewhere(sentry):
            return linked_elsewhere
        database = await self._entries.database()
        issue = await self._existing(self._entries, registry_key(database, sentry), sentry)
        return linked(database, issue) if issue else None

    async def _details(self, request: CreateRequest) -> SentryIssueState | None:
        # The page starts with how bad the issue is now; without Sentry's answer it starts without.
        if self._sentry is None:
            return None
        try:
            async with asyncio.timeout(DETAILS_BUDGET_S):
                return await self._sentry.issue(str(request.sentry.issue_id))
        except (DomainError, TimeoutError):
            return None

    async def _existing(self, entries: Entries, key: str, sentry: SentryIssue) -> Entry | None:
        if page_id := await self._registry.recall(key):
            with contextlib.suppress(IssueNotFound):
                issue = await entries.get_entry(page_id)
                if issue.in_database:
                    return issue
            # Deleted, trashed or unshared since: look for another entry with the link.
        if sentry_issue_id(sentry.web_url) == str(sentry.issue_id):
            # One issue has several links (the form's acme.sentry.io/issues/N/, an alert's
            # sentry.io/organizations/acme/issues/N/, a person's paste): any of them is its entry.
            return await entries.find_by_sentry_issue(str(sentry.issue_id))
        return await entries.find_by_sentry_url(sentry.web_url)  # a metric alert incident's link

    async def _elsewhere(self, sentry: SentryIssue) -> LinkedEntry | None:
        # Whichever database the issue was created in or linked to, its entry stays the one.
        for entries in self._others:
            database = await entries.database()
            if issue := await self._existing(entries, registry_key(database, sentry), sentry):
                return linked(database, issue)
        return None


def _draft(request: CreateRequest, details: SentryIssueState | None, choices: dict[str, tuple[str, ...]]) -> EntryDraft:
    header: tuple[Block, ...] = (
        sentry_link(request.link_label, request.sentry, request.actor),
        *([_facts(details)] if details else []),
        Block(kind="divider"),
    )
    return EntryDraft(
        title=" ".join(request.title.split()),
        body=header + markdown.parse(request.description),
        sentry_url=request.sentry.web_url,
        assignee_id=request.assignee_id,
        choices=choices,
    )


def _facts(issue: SentryIssueState) -> Block:
    facts = {
        "Level": issue.level,
        "Events": issue.events,
        "Users": issue.users,
        "First seen": issue.first_seen,
        "Last seen": issue.last_seen,
        "Release": issue.release,
        "Environment": issue.environment,
    }
    text = " · ".join(f"{name}: {value}" for name, value in facts.items() if value not in (None, ""))
    return Block(kind="paragraph", spans=(Span(text=text),))
