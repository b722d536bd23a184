"""Two-way status: which side wins, and what each side's status means on the other.

Each entry keeps a base: the Notion option and the Sentry status last seen in agreement. A side whose status
differs from the base changed since; when only one did, the other follows it. When both did, `status_winner`
decides: "notion" or "sentry" always win, "latest" takes the later change by each system's own record of it
(Notion's last_edited_time or event timestamp, Sentry's last status activity). A side without a record of
when it changed counts as older; at equal times Sentry wins, as the issue's own record of its state.
Both directions decide with `winner`, under the entry's lock, from the states read then: whichever job runs
first settles the conflict and moves the base, and the other then finds nothing changed. So the end state
does not depend on the order the two events are applied in.
"""

from typing import Literal

from domain.models import Frozen, SentryIssueState, SentryStatus, StatusColumn, StatusWinner, SyncPolicy
from domain.sentry_events import transition_of

Side = Literal["notion", "sentry"]

# Notion's default Status groups (https://developers.notion.com/reference/property-object).
COMPLETE, TO_DO = "Complete", "To-do"


class StatusBase(Frozen):
    """The two statuses last seen in agreement."""

    notion: str | None
    sentry: str


class StatusMove(Frozen):
    """What settling the status changed: the option Notion takes, the status Sentry took, and the new base."""

    notion: str | None = None
    sentry: SentryStatus | None = None
    base: StatusBase | None = None


def winner(
    base: StatusBase,
    *,
    notion: str | None,
    notion_at: float | None,
    sentry: str,
    sentry_at: float | None,
    policy: StatusWinner,
) -> Side | None:
    """The side both take, or None when neither changed since the base."""
    notion_moved, sentry_moved = notion != base.notion, sentry != base.sentry
    if not (notion_moved or sentry_moved):
        return None
    if notion_moved != sentry_moved:
        return "notion" if notion_moved else "sentry"
    if policy != "latest":
        return policy
    if notion_at is None or (sentry_at is not None and sentry_at >= notion_at):
        return "sentry"
    return "notion"


def group(column: StatusColumn, name: str) -> tuple[str, ...]:
    # Groups can be renamed: then the first group is the to-do one and the last the complete one.
    if not name or not column.groups:
        return ()
    if name in column.groups:
        return column.groups[name]
    groups = list(column.groups.values())
    return groups[-1] if name == COMPLETE else groups[0]


def to_sentry(option: str | None, column: StatusColumn, policy: SyncPolicy) -> SentryStatus | None:
    """The Sentry status a Notion option stands for; None leaves Sentry alone (no option, an option mapped to
    null, or a column without groups)."""
    if option is None:
        return None
    if option in policy.status_to_sentry:
        return policy.status_to_sentry[option]
    if not column.groups:
        return None
    return "resolved" if option in group(column, COMPLETE) else "unresolved"


def to_sentry_after(
    before: str | None, option: str | None, issue: SentryIssueState, column: StatusColumn, policy: SyncPolicy
) -> SentryStatus | None:
    """The status the issue takes when the entry's move from `before` to `option` wins; None leaves it as it
    is. A move between two options that stand for the same status (Not started → In progress) asks nothing of
    an issue whose status already stands for the new option: an archived issue stays archived."""
    wanted = to_sentry(option, column, policy)
    if wanted is None or wanted == issue.status:
        return None
    if option in policy.status_to_sentry or to_sentry(before, column, policy) != wanted:
        return wanted  # the option's meaning changed: into or out of Complete, or an option mapped one by one
    return wanted if to_notion(issue, option, column, policy) is not None else None


def to_notion(issue: SentryIssueState, current: str | None, column: StatusColumn, policy: SyncPolicy) -> str | None:
    """The option an entry takes when the issue's status wins; None leaves the entry as it is. `status_options`
    names options by the transition that led to the status (archived, regressed, escalating...). An entry
    whose option already stands for the issue's status stays where the team put it."""
    if to_sentry(current, column, policy) == issue.status:
        return None
    if (transition := transition_of(issue.status, issue.substatus)) in policy.status_options:
        target = policy.status_options[transition]
        return target if target != current else None
    if issue.status == "resolved":
        options = group(column, COMPLETE)
    elif issue.status == "unresolved":
        options = group(column, TO_DO)
    else:
        return None  # archiving means nothing in Notion unless `status_options` says so
    return options[0] if options and current not in options else None
