import logging
from collections.abc import Awaitable, Callable

import pytest

from adapters.memory import MemoryLinkRegistry, MemoryLocks, MemorySyncState
from domain.errors import SentryUnavailable
from domain.models import Assignee, Job, JobOutcome, SyncPolicy
from domain.sentry_events import delivery
from domain.use_cases.apply_comment import ApplyComment
from domain.use_cases.apply_notion_comment import ApplyNotionComment, Outcome
from tests.support.fakes import FakeSentryApi, FakeWorkspace, entry_sync
from tests.support.notion_webhooks import INTEGRATION, comment_job
from tests.support.sentry import webhook

Apply = Callable[[Job], Awaitable[Outcome]]
ADA = Assignee(id="5a1e4c3b-0d9f-4e8a-b7c6-1f2e3d4c5b6a", name="Ada Lovelace", email="ada@example.org")
SENTRY_URL = "https://acme.sentry.io/issues/4242/"


@pytest.fixture
def tracker() -> FakeWorkspace:
    return FakeWorkspace(assignees=[ADA])


@pytest.fixture
def page_id(tracker: FakeWorkspace) -> str:
    return tracker.add("TypeError: x is undefined", sentry_url=SENTRY_URL).page_id


@pytest.fixture
def sentry() -> FakeSentryApi:
    return FakeSentryApi()


@pytest.fixture
def state() -> MemorySyncState:
    return MemorySyncState()


def use_case(
    tracker: FakeWorkspace,
    sentry: FakeSentryApi | None,
    state: MemorySyncState | None = None,
    policy: SyncPolicy | None = None,
) -> ApplyNotionComment:
    return ApplyNotionComment(
        entries=tracker,
        comments=tracker,
        bot=tracker,
        sentry=sentry,
        locks=MemoryLocks(),
        state=state or MemorySyncState(),
        policy=policy or SyncPolicy(),
    )


@pytest.fixture
def apply(tracker: FakeWorkspace, sentry: FakeSentryApi, state: MemorySyncState) -> Apply:
    return use_case(tracker, sentry, state).apply


def edit(tracker: FakeWorkspace, page_id: str, comment_id: str, text: str) -> None:
    tracker.pages[page_id].comments[comment_id] = f"{ADA.name}: {text}"


async def test_the_worker_is_told_what_the_job_did(tracker: FakeWorkspace, sentry: FakeSentryApi, page_id: str) -> None:
    run = use_case(tracker, sentry)
    comment_id = tracker.comment_as(page_id, ADA, "Reproduced")
    job = comment_job("comment.created", comment_id, page_id, author_id=ADA.id)

    assert await run(job) == JobOutcome(outcome="applied", changes=("Sentry note created",))
    assert await run(job) == JobOutcome(outcome="unchanged", reason="the note says it already")
    own = comment_job("comment.created", comment_id, page_id, author_id=INTEGRATION, author_type="bot")
    assert await run(own) == JobOutcome(outcome="skipped", reason="made by this service")


async def test_a_comment_becomes_a_note_naming_its_author_once(
    apply: Apply, tracker: FakeWorkspace, sentry: FakeSentryApi, page_id: str
) -> None:
    comment_id = tracker.comment_as(page_id, ADA, "Reproduced on staging")

    assert await apply(comment_job("comment.created", comment_id, page_id, author_id=ADA.id)) == "created"
    assert await apply(comment_job("comment.created", comment_id, page_id, author_id=ADA.id)) == "unchanged"

    assert sentry.notes == [("4242", "Ada Lovelace in Notion: Reproduced on staging")]


async def test_edits_and_deletions_follow(
    apply: Apply, tracker: FakeWorkspace, sentry: FakeSentryApi, page_id: str
) -> None:
    comment_id = tracker.comment_as(page_id, ADA, "Reproduced on staging")
    other = tracker.comment_as(page_id, ADA, "Stays")
    await apply(comment_job("comment.created", comment_id, page_id, author_id=ADA.id))
    await apply(comment_job("comment.created", other, page_id, author_id=ADA.id))

    edit(tracker, page_id, comment_id, "Reproduced on production too")
    assert await apply(comment_job("comment.updated", comment_id, page_id, author_id=ADA.id)) == "edited"
    assert sorted(text for _, text in sentry.notes) == [
        "Ada Lovelace in Notion: Reproduced on production too",
        "Ada Lovelace in Notion: Stays",
    ]

    del tracker.pages[page_id].comments[comment_id]
    assert await apply(comment_job("comment.deleted", comment_id, page_id, author_id=ADA.id)) == "deleted"
    assert sentry.notes == [("4242", "Ada Lovelace in Notion: Stays")]


async def test_events_out_of_order_end_as_the_comment_is_now(
    apply: Apply, tracker: FakeWorkspace, sentry: FakeSentryApi, page_id: str
) -> None:
    edited = tracker.comment_as(page_id, ADA, "Typo fixed")
    deleted = tracker.comment_as(page_id, ADA, "Wrong page")
    del tracker.pages[page_id].comments[deleted]

    # The edit's event comes first: the note is made from the comment as it reads now.
    assert await apply(comment_job("comment.updated", edited, page_id, author_id=ADA.id)) == "created"
    assert await apply(comment_job("comment.created", edited, page_id, author_id=ADA.id)) == "unchanged"
    # The deletion's event comes first: the late create finds nothing to send.
    assert await apply(comment_job("comment.deleted", deleted, page_id, author_id=ADA.id)) == "gone"
    assert await apply(comment_job("comment.created", deleted, page_id, author_id=ADA.id)) == "gone"

    assert sentry.notes == [("4242", "Ada Lovelace in Notion: Typo fixed")]


async def test_comments_the_integration_wrote_are_never_sent(
    apply: Apply, tracker: FakeWorkspace, sentry: FakeSentryApi, page_id: str
) -> None:
    own = await tracker.add_comment(page_id, "Seen again", "Jane Doe")
    tracker.calls.clear()

    # Authored only by the bot (by its user id, or as the envelope's integration): not even read.
    by_bot = comment_job("comment.created", own, page_id, author_id=tracker.bot, author_type="bot")
    as_integration = comment_job("comment.created", own, page_id, author_id=INTEGRATION, author_type="bot")
    assert await apply(by_bot) == "own"
    assert await apply(as_integration) == "own"
    assert "read_comment" not in tracker.calls
    # An event naming someone else still finds the comment written by the bot.
    assert await apply(comment_job("comment.created", own, page_id, author_id=ADA.id)) == "own"

    assert sentry.notes == []


async def test_a_comment_that_came_from_sentry_is_not_sent_back(
    tracker: FakeWorkspace, sentry: FakeSentryApi, state: MemorySyncState, page_id: str
) -> None:
    from_sentry = ApplyComment(
        entries=tracker,
        registry=MemoryLinkRegistry(),
        comments=tracker,
        locks=MemoryLocks(),
        state=state,
        policy=SyncPolicy(),
        sync=entry_sync(tracker, state=state),
    )
    data = {"comment_id": 77, "issue_id": 4242, "project_slug": "backend", "timestamp": "2026-11-27T01:00:00Z"}
    body = webhook("created", data | {"comment": "Seen again"})
    await from_sentry(delivery("comment", "1764800000", body, received_at=1764800000, triggers=False))
    (notion_id,) = tracker.pages[page_id].comments
    tracker.calls.clear()

    apply = use_case(tracker, sentry, state).apply
    assert await apply(comment_job("comment.created", notion_id, page_id, author_id=ADA.id)) == "from_sentry"

    assert "read_comment" not in tracker.calls
    assert sentry.notes == []


async def test_comments_on_pages_not_linked_or_not_ours_are_left_alone(
    apply: Apply, tracker: FakeWorkspace, sentry: FakeSentryApi
) -> None:
    unlinked = tracker.add("Not linked").page_id
    elsewhere = tracker.add("Another database", sentry_url=SENTRY_URL, in_database=False).page_id
    for page_id in (unlinked, elsewhere):
        comment_id = tracker.comment_as(page_id, ADA, "Hello")
        assert await apply(comment_job("comment.created", comment_id, page_id, author_id=ADA.id)) == "unlinked"

    assert sentry.notes == []


class LosesAnswer(FakeSentryApi):
    """Saves the next note, then fails as if its answer was lost."""

    lose_next = True

    async def add_note(self, issue_id: str, text: str) -> str:
        note_id = await super().add_note(issue_id, text)
        if self.lose_next:
            self.lose_next = False
            raise SentryUnavailable("Sentry did not answer in time; try again.")
        return note_id


async def test_a_worker_killed_after_sentry_saved_the_note_leaves_one_note(
    tracker: FakeWorkspace, state: MemorySyncState, page_id: str
) -> None:
    sentry = LosesAnswer()
    apply = use_case(tracker, sentry, state).apply
    comment_id = tracker.comment_as(page_id, ADA, "Reproduced")
    job = comment_job("comment.created", comment_id, page_id, author_id=ADA.id)

    with pytest.raises(SentryUnavailable):
        await apply(job)
    edit(tracker, page_id, comment_id, "Reproduced twice")  # edited before the job runs again
    assert await apply(job) == "edited"

    assert sentry.notes == [("4242", "Ada Lovelace in Notion: Reproduced twice")]
    del tracker.pages[page_id].comments[comment_id]
    assert await apply(comment_job("comment.deleted", comment_id, page_id, author_id=ADA.id)) == "deleted"
    assert sentry.notes == []


async def test_two_comments_alike_are_one_note_kept_by_the_first(
    apply: Apply, tracker: FakeWorkspace, sentry: FakeSentryApi, page_id: str
) -> None:
    first, second = tracker.comment_as(page_id, ADA, "+1"), tracker.comment_as(page_id, ADA, "+1")
    await apply(comment_job("comment.created", first, page_id, author_id=ADA.id))
    await apply(comment_job("comment.created", second, page_id, author_id=ADA.id))  # Sentry takes it once

    del tracker.pages[page_id].comments[second]
    await apply(comment_job("comment.deleted", second, page_id, author_id=ADA.id))

    assert sentry.notes == [("4242", "Ada Lovelace in Notion: +1")]


async def test_without_the_admin_scope_a_deleted_comment_leaves_a_note_saying_so(
    tracker: FakeWorkspace, page_id: str
) -> None:
    sentry = FakeSentryApi(admin=False)
    apply = use_case(tracker, sentry).apply
    comment_id = tracker.comment_as(page_id, ADA, "Wrong page")
    await apply(comment_job("comment.created", comment_id, page_id, author_id=ADA.id))

    del tracker.pages[page_id].comments[comment_id]
    assert await apply(comment_job("comment.deleted", comment_id, page_id, author_id=ADA.id)) == "deleted"

    assert sentry.notes == [("4242", "Ada Lovelace deleted this comment in Notion.")]


async def test_without_sentrys_api_nothing_happens_and_the_log_says_why_once(
    tracker: FakeWorkspace, page_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    apply = use_case(tracker, None).apply
    comment_id = tracker.comment_as(page_id, ADA, "Hello")
    tracker.calls.clear()

    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            assert await apply(comment_job("comment.created", comment_id, page_id, author_id=ADA.id)) == "off"

    assert [r.getMessage() for r in caplog.records if "SENTRY_API_TOKEN" in r.getMessage()] == [
        "Notion comments are not carried to Sentry: set SENTRY_API_TOKEN to write notes."
    ]
    assert tracker.calls == []


async def test_the_notion_to_sentry_direction_can_be_switched_off(
    tracker: FakeWorkspace, sentry: FakeSentryApi, page_id: str
) -> None:
    apply = use_case(tracker, sentry, policy=SyncPolicy(comments_to_sentry=False)).apply
    comment_id = tracker.comment_as(page_id, ADA, "Hello")

    assert await apply(comment_job("comment.created", comment_id, page_id, author_id=ADA.id)) == "off"
    assert sentry.notes == []
