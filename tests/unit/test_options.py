from adapters.memory import MemoryAssigneeCache
from domain.models import Assignee
from domain.use_cases.list_assignees import ListAssignees
from domain.use_cases.search_issues import SearchIssues
from tests.fakes import FakeIssueTracker

ADA = Assignee(id="u-ada", name="Ada Lovelace", email="ada@example.org")
GRACE = Assignee(id="u-grace", name="Grace Hopper")


async def test_search_labels_entries_with_their_id_and_title() -> None:
    tracker = FakeIssueTracker()
    tracker.add("Login fails")
    tracker.add("Checkout crash")

    options = await SearchIssues(tracker=tracker)("")

    assert [(o.label, o.value) for o in options] == [
        ("BUG-2 · Checkout crash", "00000000-0000-0000-0000-000000000002"),
        ("BUG-1 · Login fails", "00000000-0000-0000-0000-000000000001"),
    ]


async def test_search_understands_ids_in_any_case_and_links() -> None:
    tracker = FakeIssueTracker()
    tracker.add("Login fails")
    second = tracker.add("Checkout crash")
    search = SearchIssues(tracker=tracker)

    for text in ("bug-2", "BUG-2", "2", f"https://app.notion.com/p/Checkout-crash-{second.page_id.replace('-', '')}"):
        assert [o.value for o in await search(text)] == [second.page_id], text
    assert [o.label for o in await search("login")] == ["BUG-1 · Login fails"]


async def test_assignees_are_labelled_with_email_and_filtered_without_case() -> None:
    tracker = FakeIssueTracker(assignees=[ADA, GRACE])
    list_assignees = ListAssignees(tracker=tracker, cache=MemoryAssigneeCache(ttl_s=60))

    assert [(o.label, o.value) for o in await list_assignees("")] == [
        ("Ada Lovelace (ada@example.org)", "u-ada"),
        ("Grace Hopper", "u-grace"),
    ]
    assert [o.value for o in await list_assignees("GRACE")] == ["u-grace"]
    assert [o.value for o in await list_assignees("Example.ORG")] == ["u-ada"]


async def test_assignees_come_from_cache_until_it_expires() -> None:
    tracker = FakeIssueTracker(assignees=[ADA])
    cache = MemoryAssigneeCache(ttl_s=60)
    list_assignees = ListAssignees(tracker=tracker, cache=cache)

    await list_assignees("")
    await list_assignees("ada")
    assert tracker.calls.count("list_assignees") == 1

    expired = ListAssignees(tracker=tracker, cache=MemoryAssigneeCache(ttl_s=0))
    await expired("")
    await expired("")
    assert tracker.calls.count("list_assignees") == 3
