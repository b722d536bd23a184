import logging

import pytest

from adapters.memory import MemoryLocks, MemorySyncState
from adapters.sandbox import ASSIGNEE_ID, Page
from domain.entry_sync import UNSHARED
from domain.models import Assignee, Job, SentryIssueState, SentryMember, StatusWinner, SyncPolicy
from domain.notion_events import job, parse
from domain.use_cases.apply_notion_page import ApplyNotionPage, PageApplied
from domain.use_cases.apply_notion_schema import ApplyNotionSchema
from tests.support.fakes import FakeSentryApi, FakeWorkspace, entry_sync
from tests.support.notion_webhooks import INTEGRATION, page_event

ADA = Assignee(id="u-ada", name="Ada Lovelace", email="ada@example.org")
GRACE = Assignee(id="u-grace", name="Grace Hopper", email="grace@example.org")
ADA_IN_SENTRY = SentryMember(user_id="77", email="ADA@example.org")
STATUS_ID = "%5EOE%40"
T = 1_764_800_000.0


class Sync:
    """Both directions over one in-memory workspace and one fake Sentry, as container.py wires them."""

    def __init__(self, policy: SyncPolicy | None = None, *, api: bool = True) -> None:
        self.notion = FakeWorkspace(assignees=[ADA, GRACE])
        self.page_id = self.notion.add("TypeError", sentry_url="https://acme.sentry.io/issues/4242/").page_id
        self.sentry = FakeSentryApi(
            SentryIssueState(issue_id="4242", short_id="B-1", status="unresolved"), members=[ADA_IN_SENTRY]
        )
        policy = policy or SyncPolicy()
        locks, state = MemoryLocks(), MemorySyncState()

        sentry = self.sentry if api else None
        self.entry_sync = entry_sync(self.notion, sentry=sentry, state=state, locks=locks, policy=policy)
        self.apply = ApplyNotionPage(
            columns=self.notion, people=self.notion, sync=self.entry_sync, locks=locks, state=state, sentry=sentry
        )

    @property
    def page(self) -> Page:
        return self.notion.pages[self.page_id]

    async def edit(
        self,
        *,
        at: float = T,
        status: str | None = None,
        people: tuple[str, ...] | None = None,
        kind: str = "page.properties_updated",
        authors: list[dict[str, str]] | None = None,
    ) -> PageApplied:
        """A change made in Notion, then its event applied."""
        changed: list[str] = []
        if status is not None:
            self.page.status, changed = status, [*changed, STATUS_ID]
        if people is not None:
            self.page.assignee_ids, changed = people, [*changed, ASSIGNEE_ID]
        body = page_event(kind, self.page_id, at=at, authors=authors, updated_properties=changed)
        result = await self.apply.apply(self.job(body))
        assert isinstance(result, PageApplied)
        return result

    @staticmethod
    def job(body: dict[str, object]) -> Job:
        made = job(parse(body), body, received_at=T)
        assert made is not None
        return made

    def sentry_changes(self, status: str, at: float, *, substatus: str | None = None) -> None:
        issue = self.sentry.issues["4242"]
        changed = {"status": status, "substatus": substatus, "status_changed_at": at}
        self.sentry.issues["4242"] = issue.model_copy(update=changed)


@pytest.fixture
def sync() -> Sync:
    return Sync()


async def test_done_resolves_and_back_in_progress_reopens(sync: Sync) -> None:
    assert (await sync.edit(status="Done")).status == "resolved"
    assert (await sync.edit(status="In progress", at=T + 5)).status == "unresolved"

    assert sync.sentry.writes == [("4242", "status", "resolved"), ("4242", "status", "unresolved")]


async def test_an_option_mapped_in_notion_config_takes_its_sentry_status() -> None:
    sync = Sync(SyncPolicy(status_to_sentry={"In progress": "ignored", "Not started": None}))

    await sync.edit(status="In progress")
    await sync.edit(status="Not started", at=T + 5)  # mapped to null: Sentry is left alone

    assert sync.sentry.writes == [("4242", "status", "ignored")]


async def test_events_of_the_services_own_bot_are_skipped(sync: Sync) -> None:
    for bot in (sync.notion.bot, INTEGRATION):
        result = await sync.edit(status="Done", authors=[{"id": bot, "type": "bot"}])
        assert result.skipped == "made by this service"
    assert sync.sentry.writes == []


async def test_a_status_sentry_already_has_is_not_written(sync: Sync) -> None:
    await sync.edit(status="Done")
    await sync.edit(status="Done", at=T + 5)  # a late or repeated event
    sync.sentry.writes.clear()
    await sync.entry_sync.sync(sync.page_id, "4242")  # and Sentry's side of it

    assert sync.sentry.writes == []
    assert sync.page.status == "Done"


async def test_an_edit_of_another_column_does_not_reopen_an_archived_issue(sync: Sync) -> None:
    sync.sentry_changes("ignored", T - 60)
    await sync.entry_sync.sync(sync.page_id, "4242")  # the base: Not started with ignored

    await sync.edit(at=T)  # the title changed

    assert sync.sentry.writes == []


async def test_sentrys_status_written_to_notion_does_not_come_back(sync: Sync) -> None:
    sync.sentry_changes("resolved", T)
    await sync.entry_sync.sync(sync.page_id, "4242")
    assert sync.page.status == "Done"

    # Notion's event for that write, merged with a person's edit of another column.
    authors = [{"id": sync.notion.bot, "type": "bot"}, {"id": "someone", "type": "person"}]
    result = await sync.edit(at=T + 1, authors=authors)

    assert (result.status, sync.sentry.writes) == (None, [])


async def test_the_assignee_is_the_sentry_member_with_the_same_email(sync: Sync) -> None:
    assert (await sync.edit(people=("u-ada",))).assignee == "77"
    assert (await sync.edit(people=("u-ada",), at=T + 1)).assignee is None  # Sentry has it already

    assert sync.sentry.writes == [("4242", "assignee", "77")]


async def test_a_person_without_a_sentry_member_leaves_sentry_alone_and_says_so_once(
    sync: Sync, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        await sync.edit(people=("u-grace",))
        await sync.edit(people=("u-grace",), at=T + 1)

    assert sync.sentry.writes == []
    assert sum("no Sentry member with that email" in r.getMessage() for r in caplog.records) == 1


async def test_clearing_the_assignee_clears_only_what_this_sync_assigned(sync: Sync) -> None:
    await sync.edit(people=("u-ada",))
    await sync.edit(people=(), at=T + 1)
    assert sync.sentry.writes[-1] == ("4242", "assignee", None)

    other = Sync()
    issue = other.sentry.issues["4242"]
    other.sentry.issues["4242"] = issue.model_copy(update={"assignee_id": "77", "assignee_email": "ada@example.org"})
    await other.edit(people=(), at=T + 1)  # assigned in Sentry by someone: kept
    assert other.sentry.writes == []


async def test_trash_and_restore_leave_one_note_each(sync: Sync) -> None:
    sync.page.in_trash = True
    await sync.edit(kind="page.deleted")
    await sync.edit(kind="page.deleted", at=T + 1)  # repeated
    sync.page.in_trash = False
    await sync.edit(kind="page.undeleted", at=T + 2)

    notes = [text for _, text in sync.sentry.notes]
    assert len(notes) == 2
    assert notes[0].startswith("The linked Notion entry BUG-1 was moved to trash in Notion;")
    assert notes[1] == "The linked Notion entry BUG-1 is back from the trash and kept in step again."


async def test_an_entry_that_can_no_longer_be_read_leaves_one_note_unless_its_trash_did(sync: Sync) -> None:
    trashed = Sync()
    for each in (sync, trashed):
        await each.edit(status="In progress")
    trashed.page.in_trash = True
    await trashed.edit(kind="page.deleted", at=T + 1)
    never_read = sync.notion.add("Linked, then unshared", sentry_url="https://acme.sentry.io/issues/4243/").page_id
    for each, page_id in ((sync, sync.page_id), (sync, never_read), (trashed, trashed.page_id)):
        del each.notion.pages[page_id]  # Notion answers 404: unshared, or deleted for good

    first, again = await sync.edit(at=T + 2), await sync.edit(at=T + 3)
    unknown = await sync.apply.apply(sync.job(page_event("page.moved", never_read, at=T)))
    after_trash = await trashed.edit(at=T + 2)

    (note,) = [text for issue_id, text in sync.sentry.notes if issue_id == "4242"]
    assert note.startswith("The linked Notion entry BUG-1 is no longer shared with the Notion integration")
    assert len(sync.sentry.notes) == 1
    assert first.note == note
    assert again.skipped == unknown.skipped == after_trash.skipped == UNSHARED
    assert len(trashed.sentry.notes) == 1  # the trash's


async def test_pages_outside_the_database_or_without_a_link_are_skipped(sync: Sync) -> None:
    elsewhere = sync.notion.add("Wiki page", in_database=False).page_id
    unlinked = sync.notion.add("Not linked").page_id

    reasons = [(await sync.apply.apply(sync.job(page_event("page.created", p, at=T)))) for p in (elsewhere, unlinked)]

    assert [r.skipped for r in reasons] == ["not an entry of the database", "the entry has no Sentry Link"]


async def test_without_sentrys_api_nothing_is_done(caplog: pytest.LogCaptureFixture) -> None:
    sync = Sync(api=False)
    with caplog.at_level(logging.WARNING):
        first, second = await sync.edit(status="Done"), await sync.edit(status="Done", at=T + 1)

    assert first.skipped == second.skipped == "no SENTRY_API_TOKEN"
    assert sum("SENTRY_API_TOKEN is not set" in r.getMessage() for r in caplog.records) == 1


BOTH_AT_ONCE = pytest.mark.parametrize(
    ("policy", "notion_at", "sentry_at", "end"),
    [
        ("latest", T + 2, T + 1, ("In progress", "unresolved")),  # Notion's change was the later one
        ("latest", T + 1, T + 2, ("Done", "resolved")),  # Sentry's was
        ("notion", T + 1, T + 2, ("In progress", "unresolved")),
        ("sentry", T + 2, T + 1, ("Done", "resolved")),
    ],
)


@BOTH_AT_ONCE
@pytest.mark.parametrize("notion_first", [True, False], ids=["notion-job-first", "sentry-job-first"])
async def test_both_sides_changed_at_once_end_the_same_in_either_order(
    policy: StatusWinner, notion_at: float, sentry_at: float, end: tuple[str, str], notion_first: bool
) -> None:
    sync = Sync(SyncPolicy(status_winner=policy))
    await sync.entry_sync.sync(sync.page_id, "4242")  # in step: Not started with unresolved
    sync.page.status = "In progress"
    sync.page.edited = int(notion_at)  # Notion's record of the change
    sync.sentry_changes("resolved", sentry_at)  # meanwhile someone resolves the issue in Sentry
    body = page_event("page.properties_updated", sync.page_id, at=notion_at, updated_properties=[STATUS_ID])

    for step in ("notion", "sentry") if notion_first else ("sentry", "notion"):
        if step == "notion":
            await sync.apply.apply(sync.job(body))
        else:
            await sync.entry_sync.sync(sync.page_id, "4242")

    assert (sync.page.status, sync.sentry.issues["4242"].status) == end


async def test_a_schema_event_rereads_the_columns(sync: Sync) -> None:
    calls: list[str] = []

    async def forget() -> None:
        calls.append("forget_schema")

    sync.notion.forget_schema = forget  # type: ignore[method-assign]
    body = page_event("data_source.schema_updated", "153104cd-477e-80eb-ae76-e1c2a32c7b35", at=T)
    body["entity"] = {"id": "153104cd-477e-80eb-ae76-e1c2a32c7b35", "type": "data_source"}

    await ApplyNotionSchema(columns=sync.notion)(sync.job(body))

    assert calls == ["forget_schema"]


@pytest.mark.parametrize(
    ("in_sentry", "email", "people"),
    [(None, None, ("u-ada",)), ("88", "grace@example.org", ("u-grace",))],
    ids=["unassigned", "reassigned"],
)
async def test_an_edit_of_another_column_leaves_an_assignee_changed_in_sentry_alone(
    sync: Sync, in_sentry: str | None, email: str | None, people: tuple[str, ...]
) -> None:
    await sync.edit(people=("u-ada",))  # assigned in Notion, and so in Sentry
    issue = sync.sentry.issues["4242"]
    sync.sentry.issues["4242"] = issue.model_copy(update={"assignee_id": in_sentry, "assignee_email": email})

    result = await sync.edit(status="Done", at=T + 5)  # Sentry's webhook of the change is not applied yet

    assert result.assignee is None
    assert sync.sentry.writes == [("4242", "assignee", "77"), ("4242", "status", "resolved")]
    assert (sync.sentry.issues["4242"].assignee_id, sync.page.assignee_ids) == (in_sentry, people)


@pytest.mark.parametrize("first", ["sentry", "notion"], ids=["sentry-sync-first", "notion-event-first"])
@pytest.mark.parametrize(("team", "assigned"), [(False, "77"), (True, None)], ids=["unassigned", "team"])
async def test_without_a_base_the_entrys_person_is_assigned_to_an_issue_nobody_has(
    sync: Sync, first: str, team: bool, assigned: str | None
) -> None:
    # Set when the entry was made (the create form, an alert rule), or before this version kept a base.
    sync.page.assignee_ids = ("u-ada",)
    sync.sentry.issues["4242"] = sync.sentry.issues["4242"].model_copy(update={"assignee_is_team": team})

    if first == "sentry":
        await sync.entry_sync.sync(sync.page_id, "4242")
    else:
        await sync.edit(status="Done")  # an event not naming the Assignee column

    assert sync.sentry.issues["4242"].assignee_id == assigned
    assert sync.page.assignee_ids == ("u-ada",)


async def test_sentrys_status_takes_the_option_named_for_its_transition() -> None:
    sync = Sync(SyncPolicy(status_options={"archived": "Done", "escalating": "In progress", "ignored": None}))
    await sync.entry_sync.sync(sync.page_id, "4242")  # in step: Not started with unresolved

    sync.sentry_changes("ignored", T, substatus="archived_until_escalating")
    await sync.entry_sync.sync(sync.page_id, "4242")
    assert sync.page.status == "Done"
    sync.sentry_changes("unresolved", T + 5, substatus="escalating")
    await sync.entry_sync.sync(sync.page_id, "4242")

    assert sync.page.status == "In progress"


async def test_a_move_between_open_options_leaves_an_archived_issue_archived(sync: Sync) -> None:
    sync.sentry_changes("ignored", T - 60, substatus="archived_forever")
    await sync.entry_sync.sync(sync.page_id, "4242")  # the base: Not started with ignored

    assert (await sync.edit(status="In progress", at=T)).status is None
    assert sync.sentry.writes == []
    assert (await sync.edit(status="Done", at=T + 5)).status == "resolved"  # into Complete
    assert (await sync.edit(status="In progress", at=T + 10)).status == "unresolved"  # and out of it
