import asyncio

import pytest

from adapters.memory import MemoryLinkRegistry, MemoryLocks, MemorySyncState
from domain.back_links import BackLinks
from domain.errors import Conflict, SentryUnavailable, TrackerUnavailable, WriteUnconfirmed
from domain.models import SentryIssueState
from domain.use_cases.create_entry import CreateEntry
from tests.support.fakes import FakeSentryApi, FakeWorkspace, create_request
from tests.support.sentry import description


@pytest.fixture
def create(tracker: FakeWorkspace, registry: MemoryLinkRegistry, locks: MemoryLocks) -> CreateEntry:
    return CreateEntry(entries=tracker, registry=registry, locks=locks)


async def test_creates_an_entry_linked_back_to_sentry(create: CreateEntry, tracker: FakeWorkspace) -> None:
    linked = await create(create_request(description=description("BACKEND-1A", 4242, "TypeError: x\n  at f (a.js:1)")))

    assert (linked.project, linked.identifier) == ("Bugs", "BUG-1")
    (page,) = tracker.pages.values()
    assert linked.web_url == page.issue.url
    assert page.issue.sentry_url == "https://acme.sentry.io/issues/4242/"
    header, divider, intro, code = page.body
    assert [s.link for s in header.spans if s.link] == ["https://acme.sentry.io/issues/4242/"]
    assert "Jane Doe" in "".join(s.text for s in header.spans)
    assert divider.kind == "divider"
    assert intro.spans[1].link == "https://acme.sentry.io/issues/4242/?referrer=Notion"
    assert code.kind == "code"
    assert code.spans[0].text == "TypeError: x\n  at f (a.js:1)"


async def test_passes_the_chosen_assignee_and_tidies_the_title(create: CreateEntry, tracker: FakeWorkspace) -> None:
    await create(create_request(title="  TypeError:\n x  ", assignee_id="user-1"))

    (page,) = tracker.pages.values()
    assert page.issue.title == "TypeError: x"
    assert page.assignee_id == "user-1"


async def test_second_create_answers_with_the_existing_entry(create: CreateEntry, tracker: FakeWorkspace) -> None:
    first = await create(create_request())
    second = await create(create_request(title="Another title"))

    assert (first.created, second.created) == (True, False)
    assert second.model_copy(update={"created": True}) == first
    assert tracker.calls.count("create_entry") == 1


async def test_forgotten_registry_finds_the_entry_by_its_sentry_link(
    tracker: FakeWorkspace, locks: MemoryLocks
) -> None:
    first = await CreateEntry(entries=tracker, registry=MemoryLinkRegistry(), locks=locks)(create_request())
    # A flushed Redis: a new, empty registry.
    again = await CreateEntry(entries=tracker, registry=MemoryLinkRegistry(), locks=locks)(create_request())

    assert again.model_copy(update={"created": True}) == first
    assert tracker.calls.count("create_entry") == 1
    assert tracker.calls.count("find_by_sentry_issue") == 2


async def test_concurrent_creates_make_one_entry(create: CreateEntry, tracker: FakeWorkspace) -> None:
    results = await asyncio.gather(*(create(create_request()) for _ in range(10)))

    assert len({r.web_url for r in results}) == 1
    assert [r.created for r in results].count(True) == 1
    assert len(tracker.pages) == 1


async def test_remembered_page_that_vanished_is_replaced(
    create: CreateEntry, tracker: FakeWorkspace, registry: MemoryLinkRegistry
) -> None:
    first = await create(create_request())
    tracker.pages.clear()  # deleted in Notion

    second = await create(create_request())

    assert second.identifier != first.identifier
    assert len(tracker.pages) == 1


async def test_different_sentry_issues_get_different_entries(create: CreateEntry) -> None:
    a = await create(create_request(1))
    b = await create(create_request(2))

    assert a.identifier != b.identifier


async def test_notion_failure_remembers_nothing(
    create: CreateEntry, tracker: FakeWorkspace, registry: MemoryLinkRegistry
) -> None:
    tracker.fail = TrackerUnavailable("Notion is unavailable (HTTP 503); try again shortly.")

    with pytest.raises(TrackerUnavailable):
        await create(create_request())

    tracker.fail = None
    assert tracker.pages == {}
    assert await registry.recall("ws:db:a8e5d37a-696c-4c54-adb5-b3f28d64c7de:4242") is None


async def test_a_create_still_running_elsewhere_is_a_conflict(tracker: FakeWorkspace) -> None:
    locks = MemoryLocks(wait_s=0.05)
    create = CreateEntry(entries=tracker, registry=MemoryLinkRegistry(), locks=locks)

    async with locks.hold("issue:a8e5d37a-696c-4c54-adb5-b3f28d64c7de:4242"):
        with pytest.raises(Conflict, match="still running"):
            await create(create_request())

    assert tracker.pages == {}
    assert locks._locks == {}


async def test_an_unconfirmed_create_is_looked_for_not_repeated(
    create: CreateEntry, tracker: FakeWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def lost(draft: object) -> None:
        raise WriteUnconfirmed("Notion did not confirm the new entry in time.")

    with monkeypatch.context() as patch:
        patch.setattr(tracker, "create_entry", lost)
        with pytest.raises(WriteUnconfirmed):
            await create(create_request())

    with pytest.raises(Conflict, match="not yet confirmed"):
        await create(create_request())
    assert tracker.pages == {}

    late = tracker.add("TypeError: x is undefined", sentry_url="https://acme.sentry.io/issues/4242/")
    found = await create(create_request())
    assert (found.identifier, found.created) == (late.identifier, False)


async def test_a_trashed_entry_is_not_the_existing_one(
    create: CreateEntry, tracker: FakeWorkspace, registry: MemoryLinkRegistry
) -> None:
    first = await create(create_request())
    page = next(iter(tracker.pages.values()))
    page.issue = page.issue.model_copy(update={"in_database": False, "sentry_url": None})  # trashed in Notion

    second = await create(create_request())

    assert second.created
    assert second.identifier != first.identifier


async def test_the_sentry_issue_gets_one_note_linking_back(tracker: FakeWorkspace) -> None:
    sentry = FakeSentryApi()
    back_links = BackLinks(sentry=sentry, state=MemorySyncState(), locks=MemoryLocks())
    create = CreateEntry(entries=tracker, registry=MemoryLinkRegistry(), locks=MemoryLocks(), back_links=back_links)

    first = await create(create_request())
    await create(create_request())

    assert sentry.notes == [("4242", f"Linked to Notion BUG-1: {first.web_url}")]


async def test_a_note_sentry_refuses_does_not_fail_the_create(tracker: FakeWorkspace) -> None:
    class Down(FakeSentryApi):
        async def add_note(self, issue_id: str, text: str) -> str:
            raise SentryUnavailable("Sentry is unavailable.")

    back_links = BackLinks(sentry=Down(), state=MemorySyncState(), locks=MemoryLocks())
    create = CreateEntry(entries=tracker, registry=MemoryLinkRegistry(), locks=MemoryLocks(), back_links=back_links)

    assert (await create(create_request())).created


async def test_with_sentry_the_page_starts_with_the_issue_details(tracker: FakeWorkspace) -> None:
    state = SentryIssueState(
        issue_id="4242", short_id="B-1", status="unresolved", level="error", events=42, users=7, release="1.4.2"
    )
    create = CreateEntry(
        entries=tracker, registry=MemoryLinkRegistry(), locks=MemoryLocks(), sentry=FakeSentryApi(state)
    )

    await create(create_request())

    (page,) = tracker.pages.values()
    facts = "".join(span.text for span in page.body[1].spans)
    assert facts == "Level: error · Events: 42 · Users: 7 · Release: 1.4.2"
