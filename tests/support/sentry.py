# Requests built the way Sentry builds them (getsentry/sentry src/sentry/utils/json.py and
# src/sentry/sentry_apps/external_requests/{issue_link,select}_requester.py).

import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import urlencode

SECRET = "test-client-secret"
INSTALLATION = "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"
ALERT_RULE = {"id": 42, "title": "Notify Notion"}


def dumps(value: Any) -> bytes:
    # sentry.utils.json.dumps: compact separators, ASCII only, insertion order.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def issue_link_body(
    fields: dict[str, Any], *, issue_id: int = 4242, web_url: str | None = None, project: str = "backend"
) -> bytes:
    return dumps(
        {
            "fields": fields,
            "issueId": issue_id,
            "installationId": INSTALLATION,
            "webUrl": web_url or f"https://acme.sentry.io/issues/{issue_id}/",
            "project": {"slug": project, "id": 17},
            "actor": {"type": "user", "id": 9, "name": "Jane Doe"},
        }
    )


def ui_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Request-ID": uuid.uuid4().hex,
        "Sentry-App-Signature": sign(body, secret),
    }


def select_url(uri: str, query: str = "", project_slug: str = "backend") -> str:
    params = {"installationId": INSTALLATION, "projectSlug": project_slug}
    if query:
        params["query"] = query
    return f"{uri}?{urlencode(params)}"


def description(short_id: str, issue_id: int, stack: str) -> str:
    return f"Sentry Issue: [{short_id}](https://acme.sentry.io/issues/{issue_id}/?referrer=Notion)\n\n```\n{stack}\n```"


def webhook(action: str, data: dict[str, Any], actor: dict[str, Any] | None = None) -> bytes:
    # AppPlatformEvent.body: action, installation, data, actor, in that order
    # (getsentry/sentry src/sentry/sentry_apps/api/serializers/app_platform_event.py).
    return dumps(
        {
            "action": action,
            "installation": {"uuid": INSTALLATION},
            "data": data,
            "actor": actor or {"type": "user", "id": 9, "name": "Jane Doe"},
        }
    )


def group(issue_id: int = 4242, **fields: Any) -> dict[str, Any]:
    # The group serializer's output, as issue webhooks carry it
    # (getsentry/sentry src/sentry/api/serializers/models/group.py).
    return {
        "id": str(issue_id),
        "shortId": "BACKEND-1A",
        "title": "TypeError: x is undefined",
        "level": "error",
        "status": "unresolved",
        "substatus": "ongoing",
        "count": "42",
        "userCount": 7,
        "firstSeen": "2026-11-20T10:00:00.123456Z",
        "lastSeen": "2026-11-27T01:00:00Z",
        "project": {"id": "17", "name": "backend", "slug": "backend", "platform": "python"},
    } | fields


def hook_headers(body: bytes, resource: str, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Request-ID": uuid.uuid4().hex,
        "Sentry-Hook-Resource": resource,
        "Sentry-Hook-Timestamp": str(timestamp),
        "Sentry-Hook-Signature": sign(body, secret),
    }


def event_alert(
    issue_id: int, settings: list[dict[str, Any]] | None = None, rule: dict[str, Any] = ALERT_RULE
) -> bytes:
    # send_alert_webhook_v2: the event (with issue_id and its web_url), the rule's name, and the action's settings.
    event_id = uuid.uuid4().hex
    return dumps(
        {
            "action": "triggered",
            "installation": {"uuid": INSTALLATION},
            "data": {
                "event": {
                    "event_id": event_id,
                    "title": "ReferenceError: heck is not defined",
                    "culprit": "app/components/checkout in render",
                    "issue_id": str(issue_id),
                    "url": f"https://sentry.io/api/0/projects/acme/backend/events/{event_id}/",
                    "web_url": f"https://sentry.io/organizations/acme/issues/{issue_id}/events/{event_id}/",
                    "issue_url": f"https://sentry.io/api/0/organizations/acme/issues/{issue_id}/",
                    "exception": {
                        "values": [
                            {
                                "type": "ReferenceError",
                                "value": "heck is not defined",
                                "stacktrace": {
                                    "frames": [{"filename": "app/checkout.js", "function": "render", "lineno": 12}]
                                },
                            }
                        ]
                    },
                },
                "triggered_rule": rule["title"],
                "issue_alert": rule | {"sentry_app_id": 7, "settings": settings or []},
            },
            "actor": {"type": "application", "id": "sentry", "name": "Sentry"},
        }
    )
