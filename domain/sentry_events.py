import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from domain.models import Frozen, Job

Transition = Literal["resolved", "unresolved", "regressed", "escalating", "archived", "ignored"]
DETAILS = ("level", "events", "users", "first_seen", "last_seen", "release", "environment")


class IssueEvent(Frozen):
    """What a Sentry webhook says about one issue, in the terms the Notion entry is kept in."""

    issue_id: str
    installation_id: str
    at: float  # when Sentry sent it, to never apply an older event over a newer one
    transition: Transition | None = None
    assignee_email: str | None = None
    assignee_team: bool = False
    assigned: bool = False
    comment_id: str | None = None
    comment_action: Literal["created", "updated", "deleted"] | None = None
    comment_text: str = ""
    author: str = ""
    details: dict[str, str | int | None] = Field(default_factory=dict)


def job_key(resource: str, action: str, body: dict[str, Any], timestamp: str) -> str:
    # Sentry's Request-ID changes between deliveries; what happened, to what, and when does not.
    data = body.get("data") or {}
    installation = str((body.get("installation") or {}).get("uuid", ""))
    subject = (
        data.get("comment_id")
        or (data.get("issue") or {}).get("id")
        or (data.get("event") or {}).get("event_id")
        or (data.get("metric_alert") or {}).get("id")
        or ""
    )
    return f"{installation}:{resource}:{action}:{subject}:{timestamp}"


_SENTRY_ISSUE = re.compile(r"/issues/(\d+)(?:[/?#]|$)")


def sentry_issue_id(url: str | None) -> str | None:
    """The issue id in a Sentry issue link, whatever its host or organization path."""
    match = _SENTRY_ISSUE.search(url or "")
    return match.group(1) if match else None


def is_self_caused(body: dict[str, Any]) -> bool:
    # Changes made through an integration token come back with an application actor other than
    # Sentry itself (sentry-protocol.md §7.2); applying them again would loop.
    actor = body.get("actor") or {}
    return actor.get("type") == "application" and actor.get("id") != "sentry"


def parse(job: Job) -> IssueEvent | None:
    data: dict[str, Any] = job.body.get("data") or {}
    installation = str((job.body.get("installation") or {}).get("uuid", ""))
    if job.resource == "issue" and isinstance(data.get("issue"), dict):
        issue: dict[str, Any] = data["issue"]
        event = IssueEvent(
            issue_id=str(issue.get("id", "")),
            installation_id=installation,
            at=job.received_at,
            transition=_transition(job.action, issue),
            details=_details(issue),
        )
        if job.action == "assigned":
            assignee = data.get("assignee") or {}
            event = event.model_copy(
                update={
                    "assigned": True,
                    "assignee_email": assignee.get("email") or None,
                    "assignee_team": assignee.get("type") == "team",
                }
            )
        return event if event.issue_id else None
    if job.resource == "comment" and data.get("issue_id") is not None:
        actor = job.body.get("actor") or {}
        return IssueEvent(
            issue_id=str(data["issue_id"]),
            installation_id=installation,
            at=_time(data.get("timestamp")) or job.received_at,
            comment_id=str(data.get("comment_id", "")),
            comment_action=job.action if job.action in ("created", "updated", "deleted") else None,
            comment_text=str(data.get("comment") or ""),
            author=str(actor.get("name") or "Someone"),
        )
    return None


def transition_of(status: str, substatus: str | None) -> Transition | None:
    """The transition that leads to a status Sentry reports now."""
    action = {"resolved": "resolved", "unresolved": "unresolved", "ignored": "ignored"}.get(status, "")
    return _transition(action, {"substatus": substatus})


def _transition(action: str, issue: dict[str, Any]) -> Transition | None:
    substatus = str(issue.get("substatus") or "")
    if action == "resolved":
        return "resolved"
    if action == "unresolved":
        if substatus == "regressed":
            return "regressed"
        return "escalating" if substatus == "escalating" else "unresolved"
    if action in ("ignored", "archived"):
        # Newer Sentry says "ignored" for what its UI calls archiving; the substatus tells them apart.
        return "archived" if action == "archived" or substatus.startswith("archived") else "ignored"
    return None


def _details(issue: dict[str, Any]) -> dict[str, str | int | None]:
    count = issue.get("count")
    return {
        "level": issue.get("level"),
        "events": int(count) if isinstance(count, (int, str)) and str(count).isdigit() else None,
        "users": issue.get("userCount") if isinstance(issue.get("userCount"), int) else None,
        "first_seen": iso_utc(issue.get("firstSeen")),
        "last_seen": iso_utc(issue.get("lastSeen")),
    }


def _time(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def iso_utc(value: Any) -> str | None:
    # Sentry and Notion write the same instant differently; compare and store one form.
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
