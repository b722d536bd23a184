from domain.models import Assignee, SentryIssueState, SentryMember
from domain.use_cases.reconcile import Reconcile
from tests.support.fakes import FakeSentryApi, FakeWorkspace, entry_sync

ADA = Assignee(id="u-ada", name="Ada Lovelace", email="ada@example.org")


def reconcile(tracker: FakeWorkspace, sentry: FakeSentryApi) -> Reconcile:
    return Reconcile(entries=tracker, sync=entry_sync(tracker, sentry=sentry))


async def test_drifted_entries_are_repaired_and_reported() -> None:
    tracker = FakeWorkspace(assignees=[ADA])
    drifted = tracker.add("Login fails", sentry_url="https://acme.sentry.io/issues/1/")
    in_step = tracker.add("Crash", sentry_url="https://acme.sentry.io/organizations/acme/issues/2/")
    tracker.pages[in_step.page_id].status = "Done"
    tracker.add("Not linked")
    sentry = FakeSentryApi(
        SentryIssueState(issue_id="1", short_id="B-1", status="resolved", assignee_email="ada@example.org", events=9),
        SentryIssueState(issue_id="2", short_id="B-2", status="resolved"),
    )

    report = await reconcile(tracker, sentry)()

    outcomes = {entry.page_id: outcome for entry, outcome in report}
    assert set(outcomes) == {drifted.page_id, in_step.page_id}
    page = tracker.pages[drifted.page_id]
    assert (page.status, page.assignee_ids, page.details["events"]) == ("Done", ("u-ada",), 9)
    assert not outcomes[in_step.page_id]  # nothing to change, nothing written
    assert tracker.calls.count("update_entry") == 1


async def test_issues_gone_from_sentry_are_reported_not_fatal() -> None:
    tracker = FakeWorkspace()
    gone = tracker.add("Old", sentry_url="https://acme.sentry.io/issues/404/")
    kept = tracker.add("New", sentry_url="https://acme.sentry.io/issues/5/")
    sentry = FakeSentryApi(SentryIssueState(issue_id="5", short_id="B-5", status="unresolved", substatus="regressed"))
    tracker.pages[kept.page_id].status = "Done"

    report = {entry.page_id: outcome for entry, outcome in await reconcile(tracker, sentry)()}

    assert report[gone.page_id] == "Sentry issue 404 no longer exists"
    assert tracker.pages[kept.page_id].status == "Not started"


async def test_a_status_changed_in_notion_since_the_last_sync_is_carried_to_sentry() -> None:
    tracker = FakeWorkspace()
    entry = tracker.add("Login fails", sentry_url="https://acme.sentry.io/issues/1/")
    sentry = FakeSentryApi(SentryIssueState(issue_id="1", short_id="B-1", status="unresolved"))
    repair = reconcile(tracker, sentry)
    await repair()  # in step: the base is Not started with unresolved
    tracker.pages[entry.page_id].status = "Done"  # its event was lost

    (_, outcome), *_ = await repair()

    assert not isinstance(outcome, str)
    assert outcome.sentry_status == "resolved"
    assert sentry.writes == [("1", "status", "resolved")]
    assert tracker.pages[entry.page_id].status == "Done"


async def test_an_assignee_changed_on_one_side_since_the_last_sync_is_carried_to_the_other() -> None:
    grace = Assignee(id="u-grace", name="Grace Hopper", email="grace@example.org")
    tracker = FakeWorkspace(assignees=[ADA, grace])
    entry = tracker.add("Login fails", sentry_url="https://acme.sentry.io/issues/1/")
    issue = SentryIssueState(
        issue_id="1", short_id="B-1", status="unresolved", assignee_id="77", assignee_email="ada@example.org"
    )
    members = [SentryMember(user_id="77", email="ada@example.org"), SentryMember(user_id="88", email=grace.email)]
    sentry = FakeSentryApi(issue, members=members)
    repair = reconcile(tracker, sentry)
    await repair()  # in step: Ada on both sides
    tracker.pages[entry.page_id].assignee_ids = ("u-grace",)  # its event was lost

    (_, outcome), *_ = await repair()

    assert not isinstance(outcome, str)
    assert outcome.sentry_assignee == "88"
    assert sentry.writes == [("1", "assignee", "88")]
    assert tracker.pages[entry.page_id].assignee_ids == ("u-grace",)
    sentry.issues["1"] = sentry.issues["1"].model_copy(update={"assignee_id": "77", "assignee_email": ADA.email})
    await repair()  # and back in Sentry: the entry follows
    assert tracker.pages[entry.page_id].assignee_ids == ("u-ada",)
    assert len(sentry.writes) == 1
