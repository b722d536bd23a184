import logging
from typing import TypeVar

from domain.errors import IssueNotFound, SentryRefused, TrackerMisconfigured
from domain.models import (
    Assignee,
    Entry,
    EntrySnapshot,
    EntryState,
    EntryUpdate,
    Frozen,
    SentryIssueState,
    SentryMember,
    SyncPolicy,
)
from domain.ports import EntryColumns, Locks, People, SentryApi, SyncState
from domain.sentry_events import DETAILS, IssueEvent, sentry_issue_id, transition_of
from domain.stale_while_revalidate import StaleWhileRevalidate
from domain.status_merge import COMPLETE, TO_DO, Side, StatusBase, StatusMove, group, to_notion, to_sentry_after, winner

log = logging.getLogger(__name__)

# Where an entry goes when nobody configured it, in Notion's default Status groups
# (https://developers.notion.com/reference/property-object): done when Sentry resolves,
# back to the start on a regression. A plain reopen, escalating, archived and ignored leave it alone.
DEFAULT_GROUPS = {"resolved": COMPLETE, "regressed": TO_DO}
UNSHARED = "the entry is no longer shared with the integration"


class AssigneeBase(Frozen):
    """The assignees last seen in agreement: a Notion person's id and a Sentry user's id, None for nobody."""

    notion: str | None
    sentry: str | None


class AssigneeMove(Frozen):
    """What settling the assignee changed: the people Notion takes, the Sentry user assigned ("" when
    unassigned), and the new base."""

    notion: tuple[str, ...] | None = None
    sentry: str | None = None
    base: AssigneeBase | None = None


class _Plan(Frozen):
    """What one sync writes to each side: the entry's columns, Sentry's status and assignee."""

    update: EntryUpdate
    status: StatusMove
    assignee: AssigneeMove


class EntrySync:
    """Brings an entry's columns (status, assignee, details) to a Sentry issue's state; with Sentry's API, the
    status (domain/status_merge.py) and the assignee go both ways.

    `sync` takes the state Sentry's API reports now; `apply` takes what one webhook said, in the order of
    Sentry's own timestamps (an event of the same second as the last applied one still applies, in arrival
    order). One writer per entry at a time, across workers and reconcile, and only changes are written, so
    running either twice changes nothing more.
    """

    def __init__(
        self,
        *,
        columns: EntryColumns,
        people: People,
        assignees: StaleWhileRevalidate[list[Assignee]],
        members: StaleWhileRevalidate[list[SentryMember]],
        locks: Locks,
        state: SyncState,
        policy: SyncPolicy,
        sentry: SentryApi | None = None,
    ) -> None:
        self._columns, self._people, self._assignees, self._members = columns, people, assignees, members
        self._locks, self._state, self._policy, self._sentry = locks, state, policy, sentry
        self._told_no_members = False

    @property
    def reads_sentry(self) -> bool:
        """Whether Sentry's API is there to ask, so that an issue event only says "look again"."""
        return self._sentry is not None

    async def sync(self, page_id: str, issue_id: str, *, fresh: bool = False) -> EntryUpdate:
        """Brings the entry to the issue's current state, as Sentry's API tells it; answers what changed. `fresh`
        reads the entry even when it was seen lately (reconcile repairs what the events missed).
        Raises IssueNotFound when Sentry has no such issue, SentryUnavailable, TrackerUnavailable."""
        if self._sentry is None:
            return EntryUpdate()
        # The read is inside the lock, so of two reads the newer one is also written last.
        async with self._locks.hold(f"entry:{page_id}"):
            issue = await self._sentry.issue(issue_id)
            return await self._write(page_id, _current(issue), issue, fresh=fresh)

    async def apply(self, page_id: str, event: IssueEvent) -> EntryUpdate:
        """Applies what one webhook said, unless a later one of Sentry's was applied already."""
        async with self._locks.hold(f"entry:{page_id}"):
            return await self._write(page_id, event)

    async def settle_status(
        self, page_id: str, issue: SentryIssueState, entry: EntrySnapshot, *, without_base: Side | None
    ) -> StatusMove:
        """Two-way status, under the entry's lock: decides which side's status both take (see status_merge) and
        writes Sentry's side. The caller writes the option to Notion, then keeps the new base with
        `agree`. Without a base yet, `without_base` names the side that wins (None: neither)."""
        move = await self._status_move(page_id, issue, entry, without_base=without_base)
        if move.sentry is not None and self._sentry is not None:
            await self._sentry.set_status(issue.issue_id, move.sentry)
        return move

    async def _status_move(
        self, page_id: str, issue: SentryIssueState, entry: EntrySnapshot, *, without_base: Side | None
    ) -> StatusMove:
        column = await self._columns.status_column()
        if self._sentry is None or column is None or not self._policy.status:
            return StatusMove()
        option, stored = entry.state.status, _stored(StatusBase, await self._state.get(f"{page_id}:status:base"))
        side = without_base
        if stored is not None:
            side = winner(
                stored,
                notion=option,
                notion_at=entry.edited_at,
                sentry=issue.status,
                sentry_at=issue.status_changed_at,
                policy=self._policy.status_winner,
            )
        notion_target = sentry_target = None
        if side == "notion":
            before = stored.notion if stored is not None else None
            sentry_target = to_sentry_after(before, option, issue, column, self._policy)
        elif side == "sentry" and stored is None:
            notion_target = await self._status(page_id, _current(issue), entry.state)
        elif side == "sentry":
            notion_target = to_notion(issue, option, column, self._policy)
        if side is None and stored is not None:
            return StatusMove()
        agreed = StatusBase(notion=notion_target or option, sentry=sentry_target or issue.status)
        return StatusMove(notion=notion_target, sentry=sentry_target, base=agreed)

    async def settle_assignee(
        self, page_id: str, issue: SentryIssueState, entry: EntrySnapshot, *, without_base: Side | None
    ) -> AssigneeMove:
        """Two-way assignee, under the entry's lock: the side whose assignee changed since both last agreed is
        followed by the other; when both did, the issue's own assignee stays. Writes Sentry's side; the caller
        writes the people Notion takes, then keeps the new base with `agree`. Without a base yet,
        `without_base` names the side that wins (None: neither)."""
        move = await self._assignee_move(page_id, issue, entry, without_base=without_base)
        await self._assign(page_id, issue.issue_id, move)
        return move

    async def _assignee_move(
        self, page_id: str, issue: SentryIssueState, entry: EntrySnapshot, *, without_base: Side | None
    ) -> AssigneeMove:
        if self._sentry is None or not self._policy.assignee:
            return AssigneeMove()
        person = entry.state.assignee_ids[0] if entry.state.assignee_ids else None
        stored = _stored(AssigneeBase, await self._state.get(f"{page_id}:assignee:base"))
        side = without_base
        if stored is None and person is not None and issue.assignee_id is None and not issue.assignee_is_team:
            # Nobody in Sentry is no choice to keep: the person the entry was made with (the create form's, an
            # alert rule's) or given before any sync goes to the issue.
            side = "notion"
        if stored is not None:
            # Sentry first: when both changed, the issue keeps its own assignee, as at equal times for the status.
            side = "sentry" if issue.assignee_id != stored.sentry else "notion" if person != stored.notion else None
            if side is None:
                return AssigneeMove()
        if side == "sentry":
            people = await self._assignee(page_id, _current(issue), entry.state)
            agreed = AssigneeBase(notion=people[0] if people else person, sentry=issue.assignee_id)
            return AssigneeMove(notion=people, base=agreed)
        if side is None:
            return AssigneeMove(base=AssigneeBase(notion=person, sentry=issue.assignee_id))
        if person is None:
            # Emptying the column unassigns the issue only from the Sentry user this sync assigned.
            assigned = await self._state.get(f"{page_id}:assignee:by_sync")
            if not assigned or issue.assignee_id != assigned:
                return AssigneeMove(base=AssigneeBase(notion=None, sentry=issue.assignee_id))
            return AssigneeMove(sentry="", base=AssigneeBase(notion=None, sentry=None))
        try:
            user = await self._sentry_user(page_id, person, issue, self._sentry)
        except SentryRefused as exc:
            # Assignees need the scope member:read; status and notes go on without it. The base stays, so the
            # assignee goes once the token may read members.
            if not self._told_no_members:
                log.warning("Notion assignees are not carried to Sentry: %s", exc.message)
                self._told_no_members = True
            return AssigneeMove()
        agreed = AssigneeBase(notion=person, sentry=user or issue.assignee_id)
        if user is None or issue.assignee_id == user:
            return AssigneeMove(base=agreed)
        return AssigneeMove(sentry=user, base=agreed)

    async def _assign(self, page_id: str, issue_id: str, move: AssigneeMove) -> None:
        if move.sentry is None or self._sentry is None:
            return
        await self._sentry.assign(issue_id, move.sentry or None)
        # Remembered so that emptying the column later unassigns only the user this sync assigned.
        await self._state.put(f"{page_id}:assignee:by_sync", move.sentry)

    async def agree(self, page_id: str, status: StatusMove, assignee: AssigneeMove) -> None:
        """Keeps the statuses and assignees both sides now have as the bases the next change is told from."""
        if status.base is not None:
            await self._state.put(f"{page_id}:status:base", status.base.model_dump_json())
        if assignee.base is not None:
            await self._state.put(f"{page_id}:assignee:base", assignee.base.model_dump_json())
            # Once the issue's assignee is no longer the one this sync assigned, whoever assigns it next in Sentry
            # (that same user again included) is a person, whom emptying the column must not unassign.
            by_sync = f"{page_id}:assignee:by_sync"
            if (assigned := await self._state.get(by_sync)) and assigned != assignee.base.sentry:
                await self._state.put(by_sync, "")

    async def _sentry_user(self, page_id: str, person: str, issue: SentryIssueState, sentry: SentryApi) -> str | None:
        # The member with the person's email; None, said once per entry and person, when there is none.
        scope = (await self._people.database()).people
        people = (await self._assignees.get(f"assignees:{scope}", self._people.list_assignees)).value
        email = next((p.email for p in people if p.id == person and p.email), None)
        members = (await self._members.get(f"sentry_members:{scope}", sentry.members)).value
        member = next((m for m in members if email and m.email.casefold() == email.casefold()), None)
        if member is None:
            told = f"{page_id}:assignee:unmatched:{person}"
            if not await self._state.get(told):
                why = "has no email Notion shares" if email is None else "has no Sentry member with that email"
                log.info("Notion assignee not carried to Sentry issue %s: the person %s", issue.issue_id, why)
                await self._state.put(told, "1")
            return None
        return member.user_id

    async def saw(self, entry: EntrySnapshot) -> None:
        """Keeps the entry as this read showed it, for when its page can no longer be read: Notion then answers
        404 and tells nothing of it, not even the issue it links. Not EntryColumns.last_seen, which plans
        writes: that one is kept only while Notion's events are applied, and forgotten at a person's change
        or a refused call, the 404 included."""
        if entry.in_data_source:
            await self._state.put(f"{entry.entry.page_id}:entry", entry.entry.model_dump_json())

    async def last_seen(self, page_id: str) -> Entry | None:
        """The entry as last read, unless forgotten since."""
        kept = await self._state.get(f"{page_id}:entry")
        try:
            return Entry.model_validate_json(kept) if kept else None
        except ValueError:
            return None  # written by another version

    async def unreadable(self, page_id: str) -> tuple[str, str] | None:
        """Under the entry's lock, once Notion answered 404 for its page (unshared, or deleted for good; Notion
        sends no event of either): tells the issue the entry linked when last read, once, then forgets the entry
        until it is read again. An entry in the trash told its issue already, and an issue Sentry no longer has
        cannot be told. Answers the issue and the note, when one was written."""
        entry = await self.last_seen(page_id)
        issue_id = sentry_issue_id(entry.sentry_url) if entry else None
        if entry is None or issue_id is None or await self._state.get(f"{page_id}:trashed") == "1":
            return None
        if self._sentry is None:
            log.info(
                "Notion entry %s is no longer shared with the integration; without SENTRY_API_TOKEN, Sentry issue %s "
                "is not told",
                entry.identifier,
                issue_id,
            )
            await self.forget(page_id)
            return None
        gone = (
            f"The linked Notion entry {entry.identifier} is no longer shared with the Notion integration, or was "
            "deleted for good; this issue is no longer kept in step with it. Sharing it with the integration again "
            "links it again."
        )
        told: tuple[str, str] | None = (issue_id, gone)
        try:
            await self._sentry.add_note(issue_id, gone)
        except IssueNotFound:
            told = None  # deleted in Sentry: nobody left to tell
        await self.forget(page_id)
        return told

    async def forget(self, page_id: str) -> None:
        await self._state.put(f"{page_id}:entry", "")

    async def _write(
        self, page_id: str, event: IssueEvent, issue: SentryIssueState | None = None, *, fresh: bool = False
    ) -> EntryUpdate:
        seen = None if fresh else await self._columns.last_seen(page_id)
        plan = await self._plan(page_id, event, issue, seen) if seen is not None else None
        if plan is not None and self._plannable_on_seen(plan):
            try:
                return await self._carry_out(page_id, event, plan)
            except (IssueNotFound, TrackerMisconfigured):
                pass  # refused: trashed, unshared or deleted since it was seen; a read tells which
        try:
            entry = await self._columns.snapshot(page_id)
        except IssueNotFound:
            await self.unreadable(page_id)
            return EntryUpdate(skipped=UNSHARED)
        await self.saw(entry)
        plan = await self._plan(page_id, event, issue, entry)
        return EntryUpdate() if plan is None else await self._carry_out(page_id, event, plan)

    def _plannable_on_seen(self, plan: _Plan) -> bool:
        # Planning on the entry as last seen (what the service's own last write or read of it answered) spares a
        # read: Notion's events tell of every other change, and forget the entry as they arrive. A person's change
        # whose event Notion has not sent yet (it gathers a page's changes for up to a minute or so) is missing: a
        # write planned without it is the one a read-then-write plans when the change lands between its read and
        # its write, only in a longer window. Under "latest", Sentry's change then wins over a person's made a few
        # seconds after it, or an option the person picked in the right group gives way to the group's first; both
        # sides agree afterwards (an assignee changed on both sides keeps the issue's anyway). So only a write to
        # Notion is planned on it: nothing to do, a change of Notion's to carry to Sentry (status or assignee)
        # and, with status_winner "notion" (any change in Notion wins, however late Notion tells of it), a status
        # to write are planned on a read.
        notion_decides = plan.update.status is not None and self._policy.status_winner == "notion"
        to_sentry = plan.status.sentry is not None or plan.assignee.sentry is not None
        return bool(plan.update) and not to_sentry and not notion_decides

    async def _carry_out(self, page_id: str, event: IssueEvent, plan: _Plan) -> EntryUpdate:
        if plan.status.sentry is not None and self._sentry is not None:
            await self._sentry.set_status(event.issue_id, plan.status.sentry)
        await self._assign(page_id, event.issue_id, plan.assignee)
        if plan.update:
            await self._columns.update_entry(page_id, plan.update)
        await self.agree(page_id, plan.status, plan.assignee)
        if event.at is not None:
            carried = {"status": event.transition is not None, "assignee": event.assigned, "details": True}
            for field in (f for f, present in carried.items() if present):
                if await self._newer(page_id, field, event.at):  # Sentry's times only move forward
                    await self._state.put(f"{page_id}:{field}:sent_at", str(event.at))
        sentry = {"sentry_status": plan.status.sentry, "sentry_assignee": plan.assignee.sentry}
        return plan.update.model_copy(update=sentry)

    async def _plan(
        self, page_id: str, event: IssueEvent, issue: SentryIssueState | None, entry: EntrySnapshot
    ) -> _Plan | None:
        # What to write to each side, writing nothing yet, so that a plan made on the entry as last seen can give
        # way to one made on a read; None leaves the entry alone.
        if entry.in_trash:
            return None  # Notion refuses edits to a page in the trash; it comes back with page.undeleted
        if not entry.in_data_source:
            return None  # moved to another database: no longer an entry of this one, whatever its link says
        if (linked_to := sentry_issue_id(entry.entry.sentry_url)) is not None and linked_to != event.issue_id:
            # An entry follows the one issue its Sentry Link names, as its changes in Notion go to that issue
            # only. Another issue linked to it (named in its body), or the issue it linked before its Sentry
            # Link was changed, leaves its columns alone, so two issues never fight over one entry. (A metric
            # alert's entry links the alert, not an issue.)
            return None
        current, move, assigned = entry.state, StatusMove(), AssigneeMove()
        if issue is None:
            status, people = await self._status(page_id, event, current), await self._assignee(page_id, event, current)
        else:
            move = await self._status_move(page_id, issue, entry, without_base="sentry")
            assigned = await self._assignee_move(page_id, issue, entry, without_base="sentry")
            status, people = move.notion, assigned.notion
        update = EntryUpdate(status=status, assignee_ids=people, details=await self._details(page_id, event, current))
        return _Plan(update=update, status=move, assignee=assigned)

    async def _newer(self, page_id: str, field: str, at: int | None) -> bool:
        # Both times are Sentry's, in whole seconds; several events share one, and arrival orders those.
        if at is None:
            return True
        seen = await self._state.get(f"{page_id}:{field}:sent_at")
        return seen is None or not seen.isdigit() or at >= int(seen)

    async def _status(self, page_id: str, event: IssueEvent, current: EntryState) -> str | None:
        if not (self._policy.status and event.transition and await self._newer(page_id, "status", event.at)):
            return None
        column = await self._columns.status_column()
        if column is None or event.transition is None:
            return None
        if event.transition in self._policy.status_options:
            target = self._policy.status_options[event.transition]
            return target if target and target != current.status else None
        # By default an entry already in the right group stays where the team put it ("Won't fix" is
        # as complete as "Done"); otherwise it goes to the group's first option.
        options = group(column, DEFAULT_GROUPS.get(event.transition, ""))
        return options[0] if options and current.status not in options else None

    async def _assignee(self, page_id: str, event: IssueEvent, current: EntryState) -> tuple[str, ...] | None:
        if not (self._policy.assignee and event.assigned and await self._newer(page_id, "assignee", event.at)):
            return None
        if event.assignee_team or not event.assignee_email:
            log.info("assignee not mapped: a team or a user without a shared email")
            return None
        scope = (await self._people.database()).people
        people = (await self._assignees.get(f"assignees:{scope}", self._people.list_assignees)).value
        email = event.assignee_email.casefold()
        match = next((p.id for p in people if (p.email or "").casefold() == email), None)
        if match is None:
            log.info("assignee not mapped: no Notion person has the Sentry user's email")
            return None
        return None if current.assignee_ids == (match,) else (match,)

    async def _details(self, page_id: str, event: IssueEvent, current: EntryState) -> dict[str, str | int | None]:
        columns = await self._columns.detail_columns()
        if not columns or not await self._newer(page_id, "details", event.at):
            return {}
        return {
            key: value
            for key, value in event.details.items()
            if key in columns and value is not None and current.details.get(key) != value
        }


Base = TypeVar("Base", StatusBase, AssigneeBase)


def _stored(kind: type[Base], stored: str | None) -> Base | None:
    try:
        return kind.model_validate_json(stored) if stored else None
    except ValueError:
        return None  # written by another version: start again from the states now


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
