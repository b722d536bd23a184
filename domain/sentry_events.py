import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, ValidationError

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
    # Sentry's Request-ID changes between deliveries; what happened, to what, and when does not. The
    # content is part of the key, so two assignments or edits within the same second stay two jobs.
    data = _dict(body.get("data"))
    issue, assignee = _dict(data.get("issue")), _dict(data.get("assignee"))
    facts = (
        _dict(body.get("installation")).get("uuid"),
        resource,
        action,
        data.get("comment_id") or issue.get("id"),
        issue.get("status"),
        issue.get("substatus"),
        assignee.get("email") or assignee.get("id"),
        data.get("comment"),
        timestamp,
    )
    digest = hashlib.sha256(json.dumps(facts, default=str).encode()).hexdigest()[:32]
    return f"{resource}:{action}:{digest}"


def event_time(timestamp: str, now: float) -> float:
    """When Sentry sent the webhook, from its (unsigned) header; never later than now."""
    try:
        return min(float(timestamp), now)
    except ValueError:
        return now


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


_SENTRY_ISSUE = re.compile(r"/issues/(\d+)(?:[/?#]|$)")


def sentry_issue_id(url: str | None) -> str | None:
    """The issue id in a Sentry issue link, whatever its host or organization path."""
    match = _SENTRY_ISSUE.search(url or "")
    return match.group(1) if match else None


def is_self_caused(body: dict[str, Any]) -> bool:
    # Changes made through an integration token come back with an application actor other than
    # Sentry itself (sentry-protocol.md §7.2); applying them again would loop.
    actor = _dict(body.get("actor"))
    return actor.get("type") == "application" and actor.get("id") != "sentry"


def parse(job: Job) -> IssueEvent | None:
    try:
        return _parse(job)
    except ValidationError:
        return None  # a shape Sentry does not send: nothing to apply


def _parse(job: Job) -> IssueEvent | None:
    data = _dict(job.body.get("data"))
    installation = str(_dict(job.body.get("installation")).get("uuid", ""))
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
            assignee = _dict(data.get("assignee"))
            event = event.model_copy(
                update={
                    "assigned": True,
                    "assignee_email": _text(assignee.get("email")),
                    "assignee_team": assignee.get("type") == "team",
                }
            )
        return event if event.issue_id else None
    if job.resource == "comment" and isinstance(data.get("issue_id"), (int, str)):
        actor = _dict(job.body.get("actor"))
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


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _details(issue: dict[str, Any]) -> dict[str, str | int | None]:
    count = issue.get("count")
    return {
        "level": _text(issue.get("level")),
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
