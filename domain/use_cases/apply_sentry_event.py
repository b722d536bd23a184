import contextlib
import logging

from domain.errors import IssueNotFound, TrackerMisconfigured
from domain.linking import issue_key
from domain.models import Assignee, EntryState, EntryUpdate, Job, SentryIssueState, StatusColumn, SyncPolicy
from domain.ports import IssueTracker, LinkRegistry, Locks, SentryApi, SyncState
from domain.refresh import Refresher
from domain.sentry_events import DETAILS, IssueEvent, parse, transition_of

log = logging.getLogger(__name__)

# Where an entry goes when nobody configured it, in Notion's default Status groups
# (https://developers.notion.com/reference/property-object): done when Sentry resolves,
# back to the start on a regression. A plain reopen, escalating, archived and ignored leave it alone.
DEFAULT_GROUPS = {"resolved": "Complete", "regressed": "To-do"}


class ApplySentryEvent:
    """Keeps the Notion entry linked to a Sentry issue in step with what happened to the issue.

    With Sentry's API, an issue event is a trigger: the entry is brought to the state the API reports, so
    the order and timing of deliveries do not matter. Without it, events apply in the order of Sentry's own
    timestamps; an event of the same second as the last one applied still applies, in arrival order. Only
    changes are written, so a job that runs twice (a redelivery, a worker that died mid-job) is applied once.
    """

    def __init__(
        self,
        *,
        tracker: IssueTracker,
        registry: LinkRegistry,
        locks: Locks,
        state: SyncState,
        people: Refresher[list[Assignee]],
        policy: SyncPolicy,
        sentry: SentryApi | None = None,
    ) -> None:
        self._tracker, self._registry, self._locks, self._state = tracker, registry, locks, state
        self._people, self._policy, self._sentry = people, policy, sentry

    @property
    def reads_sentry(self) -> bool:
        """Whether issue events are triggers to read the issue from Sentry's API."""
        return self._sentry is not None

    async def __call__(self, job: Job) -> None:
        event = parse(job)
        if event is None:
            return
        page_id = await self._page(event)
        if page_id is None:
            return  # not linked to Notion
        if event.comment_action:
            await self._comment(page_id, event)
        elif self._sentry is not None:
            with contextlib.suppress(IssueNotFound):  # the issue was deleted: nothing left to follow
                await self.sync(page_id, event.issue_id)
        else:
            async with self._locks.hold(f"entry:{page_id}"):
                await self._apply(page_id, event)

    async def sync(self, page_id: str, issue_id: str) -> EntryUpdate:
        """Brings the entry to the issue's current state, as Sentry's API tells it; answers what changed.
        Raises IssueNotFound when Sentry has no such issue, SentryUnavailable, TrackerUnavailable."""
        if self._sentry is None:
            return EntryUpdate()
        # One writer per entry at a time, across workers and reconcile; the read is inside the lock, so of two
        # reads the newer one is also written last.
        async with self._locks.hold(f"entry:{page_id}"):
            return await self._apply(page_id, _current(await self._sentry.issue(issue_id)))

    async def _apply(self, page_id: str, event: IssueEvent) -> EntryUpdate:
        try:
            current = await self._tracker.entry_state(page_id)
        except IssueNotFound:
            return EntryUpdate()  # the entry was deleted or unshared: nothing left to keep in step
        update = EntryUpdate(
            status=await self._status(page_id, event, current),
            assignee_ids=await self._assignee(page_id, event, current),
            details=await self._details(page_id, event, current),
        )
        if update:
            await self._tracker.update_entry(page_id, update)
        if event.at is not None:
            carried = {"status": event.transition is not None, "assignee": event.assigned, "details": True}
            for field in (f for f, present in carried.items() if present):
                if await self._newer(page_id, field, event.at):  # Sentry's times only move forward
                    await self._state.put(f"{page_id}:{field}:sent_at", str(event.at))
        return update

    async def _page(self, event: IssueEvent) -> str | None:
        key = issue_key(await self._tracker.database(), event.installation_id, event.issue_id)
        if page_id := await self._registry.recall(key):
            return page_id
        issue = await self._tracker.find_by_sentry_issue(event.issue_id)
        if issue is None or not issue.in_database:
            return None
        await self._registry.remember(key, issue.page_id)  # the next event skips the lookup
        return issue.page_id

    async def _newer(self, page_id: str, field: str, at: int | None) -> bool:
        # Both times are Sentry's, in whole seconds; several events share one, and arrival orders those.
        if at is None:
            return True
        seen = await self._state.get(f"{page_id}:{field}:sent_at")
        return seen is None or not seen.isdigit() or at >= int(seen)

    async def _status(self, page_id: str, event: IssueEvent, current: EntryState) -> str | None:
        if not (self._policy.status and event.transition and await self._newer(page_id, "status", event.at)):
            return None
        column = await self._tracker.status_column()
        if column is None or event.transition is None:
            return None
        if event.transition in self._policy.status_options:
            target = self._policy.status_options[event.transition]
            return target if target and target != current.status else None
        # By default an entry already in the right group stays where the team put it ("Won't fix" is
        # as complete as "Done"); otherwise it goes to the group's first option.
        options = _group(column, DEFAULT_GROUPS.get(event.transition, ""))
        return options[0] if options and current.status not in options else None

    async def _assignee(self, page_id: str, event: IssueEvent, current: EntryState) -> tuple[str, ...] | None:
        if not (self._policy.assignee and event.assigned and await self._newer(page_id, "assignee", event.at)):
            return None
        if event.assignee_team or not event.assignee_email:
            log.info("assignee not mapped: a team or a user without a shared email")
            return None
        scope = (await self._tracker.database()).scope
        people = (await self._people.get(f"assignees:{scope}", self._tracker.list_assignees)).value
        email = event.assignee_email.casefold()
        match = next((p.id for p in people if (p.email or "").casefold() == email), None)
        if match is None:
            log.info("assignee not mapped: no Notion person has the Sentry user's email")
            return None
        return None if current.assignee_ids == (match,) else (match,)

    async def _details(self, page_id: str, event: IssueEvent, current: EntryState) -> dict[str, str | int | None]:
        columns = await self._tracker.detail_columns()
        if not columns or not await self._newer(page_id, "details", event.at):
            return {}
        return {
            key: value
            for key, value in event.details.items()
            if key in columns and value is not None and current.details.get(key) != value
        }

    async def _comment(self, page_id: str, event: IssueEvent) -> None:
        if not (self._policy.comments and event.comment_id):
            return
        key = f"comment:{event.installation_id}:{event.comment_id}"
        # Held while the comment is written: a redelivery running beside this one fails, and its retry
        # finds the comment; a worker that dies holding it frees it when the lock expires.
        async with self._locks.hold(key, wait_s=0):
            known = await self._state.get(key)
            if event.comment_action == "created" and known is None:
                if await self._state.get(f"{key}:deleted"):
                    return  # its deletion came first: the comment never shows up
                # An edit that came first holds the text the comment has now.
                text = await self._state.get(f"{key}:text") or event.comment_text
                await self._create_comment(page_id, key, event.model_copy(update={"comment_text": text}))
            elif event.comment_action == "updated":
                if known:
                    await self._tracker.edit_comment(known, event.comment_text)
                else:
                    await self._state.put(f"{key}:text", event.comment_text)
            elif event.comment_action == "deleted":
                if known:
                    await self._tracker.delete_comment(known)
                await self._state.put(f"{key}:deleted", "1")

    async def _create_comment(self, page_id: str, key: str, event: IssueEvent) -> None:
        # Noted before the write: a worker that dies after Notion saved the comment leaves the note, and the
        # rerun looks for that comment instead of posting it twice. Two Sentry comments can read alike ("+1"),
        # so a Notion comment already taken by another is not this one; one page's comments are claimed one at
        # a time.
        async with self._locks.hold(f"comments:{page_id}"):
            if await self._state.get(f"{key}:sent"):
                try:
                    for found in await self._tracker.find_comments(page_id, event.comment_text, event.author):
                        if not await self._state.get(f"claimed:{found}"):
                            await self._claim(key, found)
                            return
                except TrackerMisconfigured:
                    pass  # without the read-comments capability the rerun cannot look: post it
            await self._state.put(f"{key}:sent", "1")
            await self._claim(key, await self._tracker.add_comment(page_id, event.comment_text, event.author))

    async def _claim(self, key: str, notion_id: str) -> None:
        await self._state.put(f"claimed:{notion_id}", key)
        await self._state.put(key, notion_id)


def _current(issue: SentryIssueState) -> IssueEvent:
    return IssueEvent(
        issue_id=issue.issue_id,
        installation_id="",
        transition=transition_of(issue.status, issue.substatus),
        assigned=True,
        assignee_email=issue.assignee_email,
        assignee_team=issue.assignee_is_team,
        details={key: getattr(issue, key) for key in DETAILS},
    )


def _group(column: StatusColumn, name: str) -> tuple[str, ...]:
    # Groups are named To-do and Complete by default (https://developers.notion.com/reference/property-object),
    # but can be renamed: then the first group is the to-do one and the last the complete one.
    if not name or not column.groups:
        return ()
    if name in column.groups:
        return column.groups[name]
    groups = list(column.groups.values())
    return groups[-1] if name == "Complete" else groups[0]
