import pytest

from adapters.memory import MemoryLinkRegistry, MemoryLocks
from domain.errors import InvalidLink, IssueNotFound
from domain.use_cases.link_entry import LinkEntry
from tests.support.fakes import FakeWorkspace, link_request


@pytest.fixture
def link(tracker: FakeWorkspace, registry: MemoryLinkRegistry, locks: MemoryLocks) -> LinkEntry:
    return LinkEntry(entries=tracker, registry=registry, locks=locks)


async def test_sets_the_sentry_link_of_an_unlinked_entry(link: LinkEntry, tracker: FakeWorkspace) -> None:
    entry = tracker.add("Login fails")

    linked = await link(link_request(entry.page_id))

    assert (linked.web_url, linked.project, linked.identifier) == (entry.url, "Bugs", "BUG-1")
    assert tracker.pages[entry.page_id].issue.sentry_url == "https://acme.sentry.io/issues/4242/"
    assert tracker.pages[entry.page_id].body == []


async def test_keeps_another_issues_link_and_notes_the_new_one(link: LinkEntry, tracker: FakeWorkspace) -> None:
    entry = tracker.add("Login fails", sentry_url="https://acme.sentry.io/issues/1/")

    await link(link_request(entry.page_id, issue_id=4242))

    page = tracker.pages[entry.page_id]
    assert page.issue.sentry_url == "https://acme.sentry.io/issues/1/"
    (note,) = page.body
    assert "https://acme.sentry.io/issues/4242/" in [s.link for s in note.spans]


async def test_linking_twice_adds_one_note(link: LinkEntry, tracker: FakeWorkspace) -> None:
    entry = tracker.add("Login fails", sentry_url="https://acme.sentry.io/issues/1/")

    await link(link_request(entry.page_id))
    await link(link_request(entry.page_id))

    assert len(tracker.pages[entry.page_id].body) == 1


async def test_relinking_the_same_issue_changes_nothing(link: LinkEntry, tracker: FakeWorkspace) -> None:
    entry = tracker.add("Login fails", sentry_url="https://acme.sentry.io/issues/4242")

    await link(link_request(entry.page_id))

    assert "set_sentry_link" not in tracker.calls
    assert "append" not in tracker.calls


async def test_refuses_a_page_outside_the_database(link: LinkEntry, tracker: FakeWorkspace) -> None:
    other = tracker.add("Team wiki", in_database=False)

    with pytest.raises(InvalidLink, match="not an entry of the 'Bugs' database"):
        await link(link_request(other.page_id))

    assert tracker.pages[other.page_id].issue.sentry_url is None
    assert tracker.pages[other.page_id].body == []


async def test_unknown_page_is_not_found(link: LinkEntry, registry: MemoryLinkRegistry) -> None:
    with pytest.raises(IssueNotFound):
        await link(link_request("00000000-0000-0000-0000-000000000999"))

    assert await registry.recall("ws:db:a8e5d37a-696c-4c54-adb5-b3f28d64c7de:4242") is None


async def test_link_is_remembered_for_later_creates(
    link: LinkEntry, tracker: FakeWorkspace, registry: MemoryLinkRegistry
) -> None:
    entry = tracker.add("Login fails")

    await link(link_request(entry.page_id))

    assert await registry.recall("ws:db:a8e5d37a-696c-4c54-adb5-b3f28d64c7de:4242") == entry.page_id
