import asyncio
import time
from collections.abc import Callable

from adapters.memory import MemoryCache, MemoryLocks
from domain.models import Assignee, Entry
from domain.stale_while_revalidate import StaleWhileRevalidate
from domain.use_cases.list_assignees import ListAssignees
from domain.use_cases.search_entries import SearchEntries
from tests.support.fakes import FakeWorkspace

ADA = Assignee(id="u-ada", name="Ada Lovelace", email="ada@example.org")
GRACE = Assignee(id="u-grace", name="Grace Hopper")


def answers(clock: Callable[[], float] = time.time) -> StaleWhileRevalidate[list[Entry]]:
    return StaleWhileRevalidate(cache=MemoryCache(keep_s=10, clock=clock), locks=MemoryLocks(), fresh_s=5, clock=clock)


async def test_search_labels_entries_with_their_id_and_title() -> None:
    tracker = FakeWorkspace()
    tracker.add("Login fails")
    tracker.add("Checkout crash")

    options = await SearchEntries(entries=tracker, results=answers())("")

    assert [(o.label, o.value) for o in options] == [
        ("BUG-2 · Checkout crash", "00000000-0000-0000-0000-000000000002"),
        ("BUG-1 · Login fails", "00000000-0000-0000-0000-000000000001"),
    ]


async def test_search_understands_ids_in_any_case_and_links() -> None:
    tracker = FakeWorkspace()
    tracker.add("Login fails")
    second = tracker.add("Checkout crash")
    search = SearchEntries(entries=tracker, results=answers())

    for text in ("bug-2", "BUG-2", "2", f"https://app.notion.com/p/Checkout-crash-{second.page_id.replace('-', '')}"):
        assert [o.value for o in await search(text)] == [second.page_id], text
    assert [o.label for o in await search("login")] == ["BUG-1 · Login fails"]


async def test_identical_searches_share_one_call_and_a_new_entry_shows_up_once_the_answer_is_stale() -> None:
    now = [1000.0]
    tracker = FakeWorkspace()
    tracker.add("Login fails")
    results = answers(clock=lambda: now[0])
    search = SearchEntries(entries=tracker, results=results)

    first = await asyncio.gather(*(search("login") for _ in range(10)))
    tracker.add("Login slow")
    cached = await search("login")
    now[0] += 5
    stale = await search("login")
    await results.settle()

    assert all([o.label for o in found] == ["BUG-1 · Login fails"] for found in [*first, cached, stale])
    assert [o.label for o in await search("login")] == ["BUG-2 · Login slow", "BUG-1 · Login fails"]
    assert tracker.calls.count("search_entries") == 2


async def test_a_search_answer_older_than_its_keep_time_is_fetched_again() -> None:
    now = [1000.0]
    tracker = FakeWorkspace()
    tracker.add("Login fails")
    search = SearchEntries(entries=tracker, results=answers(clock=lambda: now[0]))
    await search("login")
    tracker.add("Login slow")
    now[0] += 10

    assert [o.label for o in await search("login")] == ["BUG-2 · Login slow", "BUG-1 · Login fails"]


def people(clock: Callable[[], float] = time.time) -> StaleWhileRevalidate[list[Assignee]]:
    return StaleWhileRevalidate(cache=MemoryCache(), locks=MemoryLocks(), fresh_s=60, clock=clock)


async def test_assignees_are_labelled_with_email_and_filtered_without_case() -> None:
    tracker = FakeWorkspace(assignees=[ADA, GRACE])
    list_assignees = ListAssignees(people=tracker, assignees=people())

    assert [(o.label, o.value) for o in await list_assignees("")] == [
        ("Ada Lovelace (ada@example.org)", "u-ada"),
        ("Grace Hopper", "u-grace"),
    ]
    assert [o.value for o in await list_assignees("GRACE")] == ["u-grace"]
    assert [o.value for o in await list_assignees("Example.ORG")] == ["u-ada"]


async def test_assignees_come_from_cache_while_fresh() -> None:
    tracker = FakeWorkspace(assignees=[ADA])
    list_assignees = ListAssignees(people=tracker, assignees=people())

    await list_assignees("")
    await list_assignees("ada")

    assert tracker.calls.count("list_assignees") == 1


async def test_stale_people_are_served_while_one_refresh_runs() -> None:
    now = [1000.0]
    tracker = FakeWorkspace(assignees=[ADA])
    refresher = people(clock=lambda: now[0])
    list_assignees = ListAssignees(people=tracker, assignees=refresher)
    await list_assignees("")
    tracker.assignees = [ADA, GRACE]
    now[0] += 61

    stale = await asyncio.gather(*(list_assignees("") for _ in range(5)))
    await refresher.settle()

    assert all([o.value for o in options] == ["u-ada"] for options in stale)
    assert tracker.calls.count("list_assignees") == 2
    assert [o.value for o in await list_assignees("")] == ["u-ada", "u-grace"]


async def test_a_burst_of_misses_across_replicas_makes_one_call() -> None:
    tracker = FakeWorkspace(assignees=[ADA])
    shared_cache, shared_locks = MemoryCache[list[Assignee]](), MemoryLocks()
    replicas = [
        ListAssignees(
            people=tracker, assignees=StaleWhileRevalidate(cache=shared_cache, locks=shared_locks, fresh_s=60)
        )
        for _ in range(3)
    ]

    await asyncio.gather(*(replicas[n % 3]("") for n in range(12)))

    assert tracker.calls.count("list_assignees") == 1


async def test_a_failed_background_refresh_keeps_the_stale_list() -> None:
    now = [1000.0]
    tracker = FakeWorkspace(assignees=[ADA])
    refresher = people(clock=lambda: now[0])
    list_assignees = ListAssignees(people=tracker, assignees=refresher)
    await list_assignees("")
    now[0] += 61
    tracker.fail_on = {"list_assignees"}

    assert [o.value for o in await list_assignees("")] == ["u-ada"]
    await refresher.settle()
    tracker.fail_on = set()
    assert [o.value for o in await list_assignees("")] == ["u-ada"]
