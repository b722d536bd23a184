import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, ValidationError

from domain.errors import InvalidWebhook
from domain.models import Frozen, Job

Transition = Literal["resolved", "unresolved", "regressed", "escalating", "archived", "ignored"]
DETAILS = ("level", "events", "users", "first_seen", "last_seen", "release", "environment")


class IssueEvent(Frozen):
    """What a Sentry webhook says about one issue, in the terms the Notion entry is kept in."""

    issue_id: str
    installation_id: str
    # When Sentry sent it, on Sentry's clock, to never apply an older event over a newer one; None for the state
    # Sentry's API reports now, which is newer than any event.
    at: int | None = None
    transition: Transition | None = None
    assignee_email: str | None = None
    assignee_team: bool = False
    assigned: bool = False
    comment_id: str | None = None
    comment_action: Literal["created", "updated", "deleted"] | None = None
    comment_text: str = ""
    author: str = ""
    details: dict[str, str | int | None] = Field(default_factory=dict)


# Sentry writes int(time.time()) (getsentry/sentry AppPlatformEvent.sentry_headers). Anything else, or a time
# outside this century, is not from Sentry; a float would also let `nan` into the stored order of events.
_TIMESTAMP = re.compile(r"[1-9][0-9]{8,9}")
_EARLIEST, _LATEST = 946_684_800, 4_102_444_800  # 2000-01-01 and 2100-01-01, UTC
_RESOURCE = re.compile(r"[a-z_]{1,40}")


def sent_at(timestamp: str | None) -> int:
    """Sentry-Hook-Timestamp as Sentry writes it: whole seconds on Sentry's clock. Raises InvalidWebhook."""
    text = (timestamp or "").strip()
    if not _TIMESTAMP.fullmatch(text) or not _EARLIEST <= int(text) < _LATEST:
        raise InvalidWebhook(
            f"Sentry-Hook-Timestamp must be Unix time in whole seconds, as Sentry sends it; got {text[:40]!r}."
        )
    return int(text)


def delivery(resource: str, timestamp: str | None, raw: bytes, *, received_at: float, triggers: bool) -> Job:
    """The job for one webhook delivery. Raises InvalidWebhook.

    The key rests on what Sentry signs, never on the unsigned timestamp: a delivery captured and sent again,
    whatever its timestamp, is a duplicate. With `triggers`, an issue event only says "look at this issue
    again", so events of one issue waiting in the queue merge into one job.
    """
    at = sent_at(timestamp)
    try:
        body = json.loads(raw)
    except ValueError:
        raise InvalidWebhook("The webhook body is not JSON.") from None
    if not isinstance(body, dict) or not isinstance(body.get("action"), str):
        raise InvalidWebhook("The webhook body has no action.")
    if not _RESOURCE.fullmatch(resource):
        resource = "unknown"  # the header is not signed: no text of the sender's own goes into kinds and keys
    issue_id = _dict(_dict(body.get("data")).get("issue")).get("id")
    if (
        triggers
        and resource == "issue"
        and isinstance(issue_id, str | int)
        and str(issue_id).isascii()
        and str(issue_id).isdigit()
    ):
        installation = str(_dict(body.get("installation")).get("uuid", ""))
        return trigger(installation, str(issue_id), body["action"], received_at=received_at, body=body)
    alert = _alert_key(resource, body)
    return Job(
        kind=f"sentry.{resource}",
        key=alert or f"{resource}:{hashlib.sha256(raw).hexdigest()[:32]}",
        action=body["action"],
        body=body,
        received_at=received_at,
        sent_at=at,
        coalesce=alert is not None,
    )


def trigger(
    installation: str, issue_id: str, action: str, *, received_at: float, body: dict[str, Any] | None = None
) -> Job:
    """A job that brings the issue's entry to the state Sentry's API reports when the job runs."""
    body = body or {"action": action, "installation": {"uuid": installation}, "data": {"issue": {"id": issue_id}}}
    return Job(
        kind="sentry.issue",
        key=f"issue:{installation}:{issue_id}",
        action=action,
        body=body,
        received_at=received_at,
        coalesce=True,
    )


def _alert_key(resource: str, body: dict[str, Any]) -> str | None:
    # A rule fires on every matching event: firings for one issue (or one incident and status) waiting in the
    # queue share this key and merge into one job, which creates the entry once. Two rules never merge: each has
    # its own cap, database and settings (the create path still makes one entry per issue).
    data = _dict(body.get("data"))
    if resource == "event_alert":
        rule = _dict(data.get("issue_alert"))
        named = str(rule.get("id") or rule.get("title") or "")
        digest = named if named.isascii() and named.isdigit() else hashlib.sha256(named.encode()).hexdigest()[:16]
        subject, tail = _dict(data.get("event")).get("issue_id"), f":rule:{digest}"
    elif resource == "metric_alert" and body["action"] in ("critical", "warning", "resolved"):
        subject, tail = _dict(data.get("metric_alert")).get("id"), f":{body['action']}"
    else:
        return None
    if not (isinstance(subject, str | int) and str(subject).isascii() and str(subject).isdigit()):
        return None
    installation = str(_dict(body.get("installation")).get("uuid", ""))
    return f"{resource}:{installation}:{subject}{tail}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


_SENTRY_ISSUE = re.compile(r"/issues/(\d+)(?:[/?#]|$)")


def sentry_issue_id(url: str | None) -> str | None:
    """The issue id in a Sentry issue link, whatever its host or organization path."""
    match = _SENTRY_ISSUE.search(url or "")
    return match.group(1) if match else None


def is_self_caused(body: dict[str, Any]) -> bool:
    # Changes made through an integration token come back with an application actor other than
    # Sentry itself (getsentry/sentry AppPlatformEvent.get_actor); applying them again would loop.
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
    if job.kind == "sentry.issue" and isinstance(data.get("issue"), dict):
        issue: dict[str, Any] = data["issue"]
        event = IssueEvent(
            issue_id=str(issue.get("id", "")),
            installation_id=installation,
            at=job.sent_at,
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
    if job.kind == "sentry.comment" and isinstance(data.get("issue_id"), (int, str)):
        actor = _dict(job.body.get("actor"))
        return IssueEvent(
            issue_id=str(data["issue_id"]),
            installation_id=installation,
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


def epoch_s(value: Any) -> float | None:
    """An ISO 8601 instant, as Sentry or Notion write it, in Unix seconds."""
    stamp = iso_utc(value)
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else None
