# What Sentry's alert webhooks say, in the terms the entry is created in. Shapes follow getsentry/sentry:
# event_alert from src/sentry/sentry_apps/tasks/sentry_apps.py (send_alert_webhook_v2), metric_alert from the
# sentry-app metric alert handler (the incident serialized snake_case, with description_title/_text and web_url),
# the settings of an alert-rule action as a list of {name, value[, label]}
# (src/sentry/sentry_apps/external_requests/alert_rule_action_requester.py).
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from domain.errors import InvalidSettings
from domain.form_columns import COLUMN_FIELD
from domain.models import AlertSettings, Frozen, Job
from domain.queries import notion_id

_ISSUE_PAGE = re.compile(r"^(https?://[^\s?#]*?/issues/\d+/?)")
_DIGITS = re.compile(r"[0-9]{1,20}")
# What became of an alert that asked for an entry: created, existing (its issue or incident had one), or capped
# (held over its rule's hourly limit).
AlertOutcome = Literal["created", "existing", "capped"]
STACK_FRAMES = 15  # the innermost frames are the ones a triager reads; a whole trace would bury the title


class IssueAlert(Frozen):
    installation_id: str
    issue_id: str
    web_url: str  # the issue's page, as the create form links it
    title: str
    description: str
    rule: str
    rule_title: str
    settings: AlertSettings


class MetricAlert(Frozen):
    installation_id: str
    action: Literal["critical", "warning", "resolved"]
    incident_id: int
    web_url: str
    title: str
    description: str
    rule: str
    rule_title: str
    settings: AlertSettings


def alert_settings(fields: Iterable[Mapping[str, Any]]) -> AlertSettings:
    """The settings an alert rule's author chose; unknown names are ignored, as a newer form may add some."""
    values = {str(f.get("name")): f.get("value") for f in fields}
    text = {name: str(value).strip() for name, value in values.items() if value not in (None, "")}
    return AlertSettings(
        database=text.get("database", ""),
        assignee=text.get("assignee") or None,
        comment_on_repeat=text.get("comment_on_repeat", "").lower() in ("yes", "true", "1"),
        status=text.get("status") or None,
        columns={
            name.removeprefix(COLUMN_FIELD): value for name, value in text.items() if name.startswith(COLUMN_FIELD)
        },
    )


def chosen_database(settings: AlertSettings, configured: Iterable[str]) -> str:
    """The configured database the settings name; an empty choice (a rule saved before the field) takes the first.
    Raises InvalidSettings."""
    ids = list(configured)
    if not settings.database:
        return ids[0]
    found = notion_id(settings.database)
    if found in ids:
        return found
    raise InvalidSettings(
        f"The database {settings.database[:60]!r} is not one this integration is configured for; "
        "choose one from the list (NOTION_CONFIG names them)."
    )


def issue_alert(job: Job) -> IssueAlert | None:
    data = _dict(job.body.get("data"))
    event = _dict(data.get("event"))
    rule = _dict(data.get("issue_alert"))
    issue_id = str(event.get("issue_id") or "")
    page = _ISSUE_PAGE.match(str(event.get("web_url") or ""))
    if not _DIGITS.fullmatch(issue_id) or page is None:
        return None
    title = _text(event.get("title")) or _text(_dict(event.get("metadata")).get("title")) or f"Sentry issue {issue_id}"
    rule_title = _text(rule.get("title")) or _text(data.get("triggered_rule")) or "an alert rule"
    return IssueAlert(
        installation_id=_installation(job),
        issue_id=issue_id,
        web_url=page.group(1).rstrip("/") + "/",
        title=title,
        description=_event_description(event),
        rule=str(rule.get("id") or rule_title)[:100],
        rule_title=rule_title,
        settings=_listed(rule.get("settings")),
    )


def metric_alert(job: Job) -> MetricAlert | None:
    data = _dict(job.body.get("data"))
    incident = _dict(data.get("metric_alert"))
    incident_id = str(incident.get("id") or "")
    web_url = _text(data.get("web_url"))
    if job.action not in ("critical", "warning", "resolved") or not _DIGITS.fullmatch(incident_id) or not web_url:
        return None
    rule = _dict(incident.get("alert_rule"))
    rule_title = _text(rule.get("name")) or "a metric alert"
    installation = _installation(job)
    return MetricAlert(
        installation_id=installation,
        action=job.action,
        incident_id=int(incident_id),
        web_url=web_url,
        title=_text(data.get("description_title")) or _text(incident.get("title")) or rule_title,
        description=_text(data.get("description_text")) or "",
        rule=str(rule.get("id") or rule_title)[:100],
        rule_title=rule_title,
        settings=_metric_settings(rule, job.action, installation),
    )


def _metric_settings(rule: dict[str, Any], action: str, installation: str) -> AlertSettings:
    # As Sentry's example app does: the trigger labelled like the action (critical, warning) first, and in it the
    # action of this installation; a resolve carries no trigger of its own, so any trigger's action serves.
    triggers = [t for t in rule.get("triggers") or () if isinstance(t, dict)]
    triggers.sort(key=lambda t: t.get("label") != action)
    for trigger in triggers:
        for act in trigger.get("actions") or ():
            if isinstance(act, dict) and act.get("sentry_app_installation_uuid") == installation:
                return _listed(act.get("settings"))
    return AlertSettings()


def _listed(settings: Any) -> AlertSettings:
    return alert_settings(s for s in settings if isinstance(s, dict)) if isinstance(settings, list) else AlertSettings()


def _event_description(event: dict[str, Any]) -> str:
    # Like the create form's default: where it happened, then the stack, innermost frame last as Sentry shows it.
    parts = [f"Culprit: `{culprit}`"] if (culprit := _text(event.get("culprit"))) else []
    values = [v for v in _dict(event.get("exception")).get("values") or () if isinstance(v, dict)]
    if values:
        last = values[-1]
        lines = [": ".join(t for t in (_text(last.get("type")), _text(last.get("value"))) if t)]
        frames = [f for f in _dict(last.get("stacktrace")).get("frames") or () if isinstance(f, dict)]
        for frame in frames[-STACK_FRAMES:]:
            where = _text(frame.get("filename")) or _text(frame.get("module")) or "?"
            line = f":{frame['lineno']}" if isinstance(frame.get("lineno"), int) else ""
            lines.append(f"  at {_text(frame.get('function')) or '?'} ({where}{line})")
        parts.append("```\n" + "\n".join(lines).replace("```", "'''") + "\n```")
    return "\n\n".join(parts)


def _installation(job: Job) -> str:
    return str(_dict(job.body.get("installation")).get("uuid", ""))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
