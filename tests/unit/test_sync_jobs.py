import logging

import pytest

from adapters.memory import MemoryCache, MemoryLinkRegistry, MemoryLocks, MemorySyncState
from domain.entry_sync import UNSHARED
from domain.errors import TrackerUnavailable
from domain.models import Assignee, Job, JobOutcome, SentryIssueState, StatusColumn, SyncPolicy
from domain.sentry_events import delivery
from domain.use_cases.apply_comment import ApplyComment
from domain.use_cases.apply_issue_event import UP_TO_DATE, ApplyIssueEvent
from domain.use_cases.run_job import RunJob
from tests.support.fakes import FakeSentryApi, FakeWorkspace, entry_sync
from tests.support.sentry import group, webhook

ADA = Assignee(id="u-ada", name="Ada Lovelace", email="ada@example.org")
SENTRY_URL = "https://acme.sentry.io/issues/4242/"
T0 = 1_764_800_000


def job(resource: str, action: str, data: dict[str, object], at: int, actor: dict[str, object] | None = None) -> Job:
    # The delivery as Sentry sends it, `at` seconds after T0 on Sentry's clock, taken in without an API token.
    return delivery(resource, str(T0 + at), webhook(action, data, actor), received_at=T0, triggers=False)


def applying(
    tracker: FakeWorkspace, *, policy: SyncPolicy | None = None, sentry: FakeSentryApi | None = None
) -> RunJob:
    # The worker's table as container.py builds it, over the in-memory workspace.
    registry, locks, state, policy = MemoryLinkRegistry(), MemoryLocks(), MemorySyncState(), policy or SyncPolicy()
    sync = entry_sync(tracker, sentry=sentry, state=state, locks=locks, policy=policy)
    comments = ApplyComment(
        entries=tracker, registry=registry, comments=tracker, locks=locks, state=state, policy=policy, sync=sync
    )
    issues = ApplyIssueEvent(entries=tracker, registry=registry, sync=sync)
    return RunJob(handlers={"sentry.issue": issues, "sentry.comment": comments})


@pytest.fixture
def apply(tracker: FakeWorkspace) -> RunJob:
    tracker.assignees = [ADA]
    return applying(tracker)


@pytest.fixture
def page_id(tracker: FakeWorkspace) -> str:
    return tracker.add("TypeError: x is undefined", sentry_url=SENTRY_URL).page_id


async def test_resolving_moves_the_entry_to_the_first_complete_option(
    apply: RunJob, tracker: FakeWorkspace, page_id: str
) -> None:
    await apply(job("issue", "resolved", {"issue": group(status="resolved")}, 100))

    assert tracker.pages[page_id].status == "Done"


@pytest.mark.parametrize(
    ("action", "substatus", "status"),
    [
        ("unresolved", "regressed", "Not started"),
        ("unresolved", "ongoing", "Done"),  # a plain reopen leaves it alone by default
        ("unresolved", "escalating", "Done"),  # escalating leaves it alone by default
        ("ignored", "archived_until_escalating", "Done"),  # archiving too
        ("archived", "archived_forever", "Done"),
    ],
)
async def test_transitions_follow_the_status_groups(
    apply: RunJob, tracker: FakeWorkspace, page_id: str, action: str, substatus: str, status: str
) -> None:
    await apply(job("issue", "resolved", {"issue": group(status="resolved")}, 100))

    await apply(job("issue", action, {"issue": group(substatus=substatus)}, 200))

    assert tracker.pages[page_id].status == status


async def test_an_older_event_never_moves_the_entry_back(apply: RunJob, tracker: FakeWorkspace, page_id: str) -> None:
    await apply(job("issue", "resolved", {"issue": group(status="resolved")}, 200))
    await apply(job("issue", "unresolved", {"issue": group(substatus="regressed")}, 100))  # delivered late

    assert tracker.pages[page_id].status == "Done"


async def test_mappings_are_configurable_and_can_be_switched_off(tracker: FakeWorkspace, page_id: str) -> None:
    policy = SyncPolicy(status_options={"resolved": "In progress", "regressed": None}, assignee=False)
    apply = applying(tracker, policy=policy)

    await apply(job("issue", "resolved", {"issue": group()}, 100))
    await apply(job("issue", "unresolved", {"issue": group(substatus="regressed")}, 200))
    await apply(
        job("issue", "assigned", {"issue": group(), "assignee": {"type": "user", "email": "ada@example.org"}}, 300)
    )

    assert tracker.pages[page_id].status == "In progress"
    assert tracker.pages[page_id].assignee_ids == ()


async def test_writes_that_change_nothing_are_skipped(apply: RunJob, tracker: FakeWorkspace, page_id: str) -> None:
    resolved = job("issue", "resolved", {"issue": group(status="resolved")}, 100)
    first = await apply(resolved)
    writes = tracker.calls.count("update_entry")

    again = await apply(resolved)  # a redelivery

    assert tracker.calls.count("update_entry") == writes
    assert (first.outcome, first.entry) == ("applied", page_id)
    assert "status → Done" in first.changes
    assert again == JobOutcome(outcome="unchanged", entry=page_id, reason=UP_TO_DATE)


async def test_assignee_is_the_notion_person_with_the_same_email(
    apply: RunJob, tracker: FakeWorkspace, page_id: str
) -> None:
    assignee = {"type": "user", "id": 3, "name": "Ada", "email": "ADA@example.org"}

    await apply(job("issue", "assigned", {"issue": group(), "assignee": assignee}, 100))

    assert tracker.pages[page_id].assignee_ids == ("u-ada",)


@pytest.mark.parametrize(
    "assignee", [{"type": "team", "id": 4, "name": "backend"}, {"type": "user", "id": 5, "email": "bob@example.org"}]
)
async def test_teams_and_unknown_people_are_skipped(
    apply: RunJob, tracker: FakeWorkspace, page_id: str, assignee: dict[str, object]
) -> None:
    await apply(job("issue", "assigned", {"issue": group(), "assignee": assignee}, 100))

    assert tracker.pages[page_id].assignee_ids == ()


async def test_details_fill_their_columns(apply: RunJob, tracker: FakeWorkspace, page_id: str) -> None:
    await apply(job("issue", "resolved", {"issue": group(count="1234", userCount=56, level="fatal")}, 100))

    details = tracker.pages[page_id].details
    assert (details["level"], details["events"], details["users"]) == ("fatal", 1234, 56)
    assert details["first_seen"] == "2026-11-20T10:00:00.123Z"


async def test_comments_follow_once_with_edits_and_deletions(
    apply: RunJob, tracker: FakeWorkspace, page_id: str
) -> None:
    comment = {"comment_id": 77, "issue_id": 4242, "project_slug": "backend", "timestamp": "2026-11-27T01:00:00Z"}

    outcomes = [await apply(job("comment", "created", comment | {"comment": "Looking into it"}, 100))]
    outcomes.append(await apply(job("comment", "created", comment | {"comment": "Looking into it"}, 100)))
    assert list(tracker.pages[page_id].comments.values()) == ["Jane Doe: Looking into it"]

    outcomes.append(await apply(job("comment", "updated", comment | {"comment": "Fixed in 1.2"}, 200)))
    assert list(tracker.pages[page_id].comments.values()) == ["Jane Doe: Fixed in 1.2"]

    outcomes.append(await apply(job("comment", "deleted", comment, 300)))
    assert tracker.pages[page_id].comments == {}
    assert [(o.outcome, o.changes) for o in outcomes] == [
        ("applied", ("comment added",)),
        ("unchanged", ()),  # the redelivery
        ("applied", ("comment edited",)),
        ("applied", ("comment deleted",)),
    ]


async def test_events_about_unlinked_issues_change_nothing(apply: RunJob, tracker: FakeWorkspace) -> None:
    other = tracker.add("Unrelated", sentry_url="https://acme.sentry.io/issues/42420/")

    done = await apply(job("issue", "resolved", {"issue": group(status="resolved")}, 100))

    assert tracker.pages[other.page_id].status == "Not started"
    assert "update_entry" not in tracker.calls
    assert done == JobOutcome(outcome="skipped", reason="no Notion entry is linked to this issue")


async def test_an_entry_already_in_the_right_group_stays_where_the_team_put_it(
    apply: RunJob, tracker: FakeWorkspace, page_id: str
) -> None:
    tracker.status = StatusColumn(
        name="State",
        kind="status",
        options=("Backlog", "Doing", "Done", "Won't fix"),
        groups={"Later": ("Backlog",), "Now": ("Doing",), "Finished": ("Done", "Won't fix")},  # renamed groups
    )
    tracker.pages[page_id].status = "Won't fix"

    await apply(job("issue", "resolved", {"issue": group(status="resolved")}, 100))
    assert tracker.pages[page_id].status == "Won't fix"

    await apply(job("issue", "unresolved", {"issue": group(substatus="regressed")}, 200))
    assert tracker.pages[page_id].status == "Backlog"  # the first group stands for To-do

    await apply(job("issue", "resolved", {"issue": group(status="resolved")}, 300))
    assert tracker.pages[page_id].status == "Done"  # the last group stands for Complete


async def test_comment_events_arriving_out_of_order(apply: RunJob, tracker: FakeWorkspace, page_id: str) -> None:
    edited = {"comment_id": 78, "issue_id": 4242, "project_slug": "backend", "timestamp": "2026-11-27T01:00:00Z"}
    deleted = edited | {"comment_id": 79}

    await apply(job("comment", "updated", edited | {"comment": "Fixed in 1.2"}, 200))
    await apply(job("comment", "created", edited | {"comment": "Looking into it"}, 100))
    await apply(job("comment", "deleted", deleted, 300))
    await apply(job("comment", "created", deleted | {"comment": "Never mind"}, 100))

    assert list(tracker.pages[page_id].comments.values()) == ["Jane Doe: Fixed in 1.2"]


async def test_events_of_the_same_second_apply_in_arrival_order(
    apply: RunJob, tracker: FakeWorkspace, page_id: str
) -> None:
    await apply(job("issue", "resolved", {"issue": group(status="resolved")}, 100))
    await apply(job("issue", "unresolved", {"issue": group(substatus="regressed")}, 100))
    assert tracker.pages[page_id].status == "Not started"

    await apply(job("issue", "resolved", {"issue": group(status="resolved", count="43")}, 100))
    assert tracker.pages[page_id].status == "Done"


def trigger_job(action: str, data: dict[str, object], at: int) -> Job:
    return delivery("issue", str(T0 + at), webhook(action, data), received_at=T0, triggers=True)


async def test_with_sentrys_api_the_entry_takes_the_state_sentry_reports_whatever_the_event_says(
    tracker: FakeWorkspace, page_id: str
) -> None:
    sentry = FakeSentryApi(SentryIssueState(issue_id="4242", short_id="BACKEND-1A", status="resolved"))
    apply = applying(tracker, sentry=sentry)
    captured_resolve = trigger_job("resolved", {"issue": group(status="resolved")}, 100)

    await apply(captured_resolve)
    assert tracker.pages[page_id].status == "Done"

    sentry.issues["4242"] = SentryIssueState(
        issue_id="4242", short_id="BACKEND-1A", status="unresolved", substatus="regressed"
    )
    await apply(trigger_job("unresolved", {"issue": group(substatus="regressed")}, 50))  # Sentry's clock behind
    assert tracker.pages[page_id].status == "Not started"

    await apply(captured_resolve.model_copy(update={"sent_at": T0 + 500}))  # replayed later: the issue is reopened
    assert tracker.pages[page_id].status == "Not started"

    sentry.issues["4242"] = SentryIssueState(issue_id="4242", short_id="BACKEND-1A", status="resolved")
    await apply(captured_resolve)  # resolved again for real: the same body, now true
    assert tracker.pages[page_id].status == "Done"


async def test_with_sentrys_api_an_issue_deleted_in_sentry_changes_nothing(
    tracker: FakeWorkspace, page_id: str
) -> None:
    apply = applying(tracker, sentry=FakeSentryApi())

    await apply(trigger_job("resolved", {"issue": group(status="resolved")}, 100))

    assert tracker.pages[page_id].status == "Not started"
    assert "update_entry" not in tracker.calls


async def test_without_sentrys_api_an_entry_no_longer_shared_is_skipped_and_logged_once(
    apply: RunJob, tracker: FakeWorkspace, page_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    await apply(job("issue", "resolved", {"issue": group(status="resolved")}, 100))  # the entry is read
    del tracker.pages[page_id]  # Notion answers 404: unshared, or deleted for good, and sends no event

    with caplog.at_level(logging.INFO, logger="domain.entry_sync"):
        outcomes = [await apply(job("issue", "unresolved", {"issue": group(substatus="regressed")}, t)) for t in (2, 3)]

    assert outcomes == [JobOutcome(outcome="skipped", entry=page_id, reason=UNSHARED)] * 2
    (told,) = [r.getMessage() for r in caplog.records if "no longer shared" in r.getMessage()]
    assert told == (
        "Notion entry BUG-1 is no longer shared with the integration; without SENTRY_API_TOKEN, Sentry issue 4242 is "
        "not told"
    )


class LosesAnswers(FakeWorkspace):
    """Notion saves the next comment but its answer never arrives (the worker dies, the connection drops)."""

    lose_next = False

    async def add_comment(self, page_id: str, text: str, author: str) -> str:
        comment_id = await super().add_comment(page_id, text, author)
        if self.lose_next:
            self.lose_next = False
            raise TrackerUnavailable("Notion did not answer in time; try again.")
        return comment_id


async def test_comments_that_read_alike_each_keep_their_own_notion_comment_across_crashes() -> None:
    tracker = LosesAnswers(assignees=[ADA])
    page = tracker.add("TypeError: x is undefined", sentry_url=SENTRY_URL).page_id
    apply = applying(tracker, sentry=FakeSentryApi())
    plus_one = {"issue_id": 4242, "project_slug": "backend", "timestamp": "2026-11-27T01:00:00Z", "comment": "+1"}

    await apply(job("comment", "created", plus_one | {"comment_id": 80}, 100))
    tracker.fail_on = {"add_comment"}  # the second "+1" never reaches Notion
    with pytest.raises(TrackerUnavailable):
        await apply(job("comment", "created", plus_one | {"comment_id": 81}, 101))
    tracker.fail_on = set()
    await apply(job("comment", "created", plus_one | {"comment_id": 81}, 101))  # the retry posts it
    tracker.lose_next = True  # the third is saved, its answer lost
    with pytest.raises(TrackerUnavailable):
        await apply(job("comment", "created", plus_one | {"comment_id": 82}, 102))
    await apply(job("comment", "created", plus_one | {"comment_id": 82}, 102))  # the retry finds it

    assert list(tracker.pages[page].comments.values()) == ["Jane Doe: +1"] * 3
    await apply(job("comment", "updated", plus_one | {"comment_id": 81, "comment": "+2"}, 103))
    await apply(job("comment", "deleted", plus_one | {"comment_id": 82}, 104))
    assert list(tracker.pages[page].comments.values()) == ["Jane Doe: +1", "Jane Doe: +2"]


async def test_an_entry_follows_only_the_issue_its_sentry_link_names(
    apply: RunJob, tracker: FakeWorkspace, page_id: str
) -> None:
    await apply(job("issue", "resolved", {"issue": group(status="resolved")}, 100))
    # The team points the entry at another issue: the one it linked before no longer moves it.
    await tracker.set_sentry_link(page_id, "https://acme.sentry.io/issues/5151/")

    regressed = await apply(job("issue", "unresolved", {"issue": group(substatus="regressed")}, 200))
    assert tracker.pages[page_id].status == "Done"
    assert regressed.outcome == "unchanged"

    await apply(job("issue", "unresolved", {"issue": group(5151, substatus="regressed")}, 300))
    assert tracker.pages[page_id].status == "Not started"


async def test_an_entry_moved_to_another_database_is_no_longer_written(
    apply: RunJob, tracker: FakeWorkspace, page_id: str
) -> None:
    await apply(job("issue", "resolved", {"issue": group(status="resolved")}, 100))
    page = tracker.pages[page_id]
    page.issue = page.issue.model_copy(update={"in_database": False})  # its Sentry Link went with it

    await apply(job("issue", "unresolved", {"issue": group(substatus="regressed")}, 200))

    assert page.status == "Done"


async def test_an_entry_kept_as_seen_takes_a_sentry_change_without_being_read_again() -> None:
    tracker = FakeWorkspace(assignees=[ADA], seen=MemoryCache())
    page_id = tracker.add("TypeError: x is undefined", sentry_url=SENTRY_URL).page_id
    apply = applying(tracker)
    await apply(job("issue", "resolved", {"issue": group(status="resolved")}, 100))
    tracker.calls.clear()

    await apply(job("issue", "unresolved", {"issue": group(substatus="regressed")}, 200))

    assert tracker.pages[page_id].status == "Not started"
    assert [c for c in tracker.calls if c in ("snapshot", "update_entry")] == ["update_entry"]
