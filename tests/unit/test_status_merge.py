import pytest

from adapters.sandbox import STATUS
from domain.models import SentryIssueState, StatusWinner, SyncPolicy
from domain.status_merge import StatusBase, to_notion, to_sentry, to_sentry_after, winner

BASE = StatusBase(notion="In progress", sentry="unresolved")


@pytest.mark.parametrize("policy", ["latest", "notion", "sentry"])
def test_nothing_moved_is_nothing_to_settle(policy: StatusWinner) -> None:
    assert winner(BASE, notion="In progress", notion_at=9, sentry="unresolved", sentry_at=9, policy=policy) is None


@pytest.mark.parametrize("policy", ["latest", "notion", "sentry"])
def test_one_side_moved_wins_whatever_the_policy(policy: StatusWinner) -> None:
    assert winner(BASE, notion="Done", notion_at=1, sentry="unresolved", sentry_at=9, policy=policy) == "notion"
    assert winner(BASE, notion="In progress", notion_at=9, sentry="resolved", sentry_at=1, policy=policy) == "sentry"


@pytest.mark.parametrize(
    ("policy", "notion_at", "sentry_at", "expected"),
    [
        ("latest", 101.5, 100.0, "notion"),  # Notion changed last
        ("latest", 100.0, 101.5, "sentry"),  # Sentry changed last
        ("latest", 100.0, 100.0, "sentry"),  # the same instant: the issue's own record wins
        ("latest", None, 100.0, "sentry"),  # a side without a record counts as older
        ("latest", 100.0, None, "notion"),
        ("notion", 100.0, 101.5, "notion"),
        ("sentry", 101.5, 100.0, "sentry"),
    ],
)
def test_both_moved_is_settled_by_the_policy(
    policy: StatusWinner, notion_at: float | None, sentry_at: float | None, expected: str
) -> None:
    assert (
        winner(BASE, notion="Done", notion_at=notion_at, sentry="ignored", sentry_at=sentry_at, policy=policy)
        == expected
    )


def test_options_stand_for_their_group_unless_mapped() -> None:
    policy = SyncPolicy(status_to_sentry={"In progress": "ignored", "Not started": None})

    assert to_sentry("Done", STATUS, SyncPolicy()) == "resolved"
    assert to_sentry("Not started", STATUS, SyncPolicy()) == "unresolved"
    assert to_sentry("In progress", STATUS, policy) == "ignored"
    assert to_sentry("Not started", STATUS, policy) is None  # mapped to null: Sentry is left alone
    assert to_sentry(None, STATUS, SyncPolicy()) is None
    assert to_sentry("Done", STATUS.model_copy(update={"groups": {}}), SyncPolicy()) is None  # a Select column


def issue(status: str, substatus: str | None = None) -> SentryIssueState:
    return SentryIssueState(issue_id="4242", short_id="B-1", status=status, substatus=substatus)


def test_sentrys_status_moves_the_entry_only_across_groups() -> None:
    assert to_notion(issue("resolved"), "In progress", STATUS, SyncPolicy()) == "Done"
    assert to_notion(issue("unresolved"), "Done", STATUS, SyncPolicy()) == "Not started"
    assert to_notion(issue("unresolved"), "In progress", STATUS, SyncPolicy()) is None  # already stands for it
    assert to_notion(issue("ignored"), "In progress", STATUS, SyncPolicy()) is None
    assert to_notion(issue("ignored"), "Done", STATUS, SyncPolicy(status_options={"ignored": "Not started"})) == (
        "Not started"
    )


def test_status_options_name_options_by_sentrys_transition() -> None:
    policy = SyncPolicy(status_options={"archived": "In progress", "regressed": "In progress", "ignored": None})

    assert to_notion(issue("ignored", "archived_forever"), "Not started", STATUS, policy) == "In progress"
    assert to_notion(issue("ignored"), "Not started", STATUS, policy) is None
    assert to_notion(issue("unresolved", "regressed"), "Done", STATUS, policy) == "In progress"
    assert to_notion(issue("unresolved", "ongoing"), "Done", STATUS, policy) == "Not started"  # unnamed: its group


def test_sentry_follows_a_move_in_notion_only_when_it_changes_what_the_option_stands_for() -> None:
    archived, mapped = issue("ignored", "archived_forever"), SyncPolicy(status_to_sentry={"In progress": "ignored"})

    assert to_sentry_after("Not started", "In progress", archived, STATUS, SyncPolicy()) is None
    assert to_sentry_after("Not started", "Done", archived, STATUS, SyncPolicy()) == "resolved"
    assert to_sentry_after("Done", "In progress", issue("resolved"), STATUS, SyncPolicy()) == "unresolved"
    assert to_sentry_after("Done", "In progress", issue("unresolved"), STATUS, mapped) == "ignored"
    # Both sides moved and the entry won: an issue whose status does not stand for the new option follows it.
    assert to_sentry_after("Not started", "In progress", issue("resolved"), STATUS, SyncPolicy()) == "unresolved"
    # Without a base the earlier option is unknown: the option's own status goes.
    assert to_sentry_after(None, "In progress", archived, STATUS, SyncPolicy()) == "unresolved"
