import json
import shlex
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from domain.ports import Workspace
from entrypoints.http.middlewares import signature

INSTALLATION = "00000000-0000-4000-8000-000000000001"
RESOLVED_ISSUE = "1"  # the Sentry issue the printed webhook resolves; the demo workspace links an entry to it
DATABASE = "00000000000000000000000000000000"  # the sandbox's database (Settings.for_sandbox)
SENTRY = {"type": "application", "id": "sentry", "name": "Sentry"}  # the actor of alerts, which nobody clicks


@dataclass(frozen=True)
class Sandbox:
    entries: Workspace  # the in-memory workspace
    page_id: str  # the entry the printed link request links
    resolved_page_id: str  # the entry the printed webhook moves to Done


SANDBOX = web.AppKey("sandbox", Sandbox)


# Sandbox only, never in production: lets the user see what a request or a webhook changed.
async def show_entry(request: web.Request) -> web.Response:
    entries, page_id = request.app[SANDBOX].entries, request.match_info["page_id"]
    entry = await entries.get_entry(page_id)  # IssueNotFound: 404
    state = await entries.entry_state(page_id)
    return web.json_response(entry.model_dump(mode="json") | state.model_dump(mode="json"))


def add_sandbox_routes(app: web.Application, sandbox: Sandbox) -> None:
    app[SANDBOX] = sandbox
    app.router.add_get("/sandbox/entries/{page_id}", show_entry)


def curl_commands(base_url: str, secret: str, sandbox: Sandbox, notion_secret: str) -> list[tuple[str, str]]:
    """One ready-to-paste request per route, built and signed the way Sentry (or Notion) builds them."""

    def post(path: str, fields: dict[str, Any], issue_id: int) -> str:
        body = _sentry_json(
            {
                "fields": fields,
                "issueId": issue_id,
                "installationId": INSTALLATION,
                "webUrl": f"https://example.sentry.io/issues/{issue_id}/",
                "project": {"slug": "backend", "id": 1},
                "actor": {"type": "user", "id": 1, "name": "Sandbox User"},
            }
        )
        return _curl("POST", f"{base_url}{path}", [f"Sentry-App-Signature: {signature(secret, body.encode())}"], body)

    def get(path: str, query: str | None = None) -> str:
        url = f"{base_url}{path}" + (f"?{urlencode({'installationId': INSTALLATION, 'query': query})}" if query else "")
        return _curl("GET", url, [f"Sentry-App-Signature: {signature(secret, b'')}"])

    resolved = {"id": RESOLVED_ISSUE, "shortId": "BACKEND-1", "status": "resolved", "substatus": None, "level": "error"}

    def hook(resource: str, action: str, data: dict[str, Any], actor: dict[str, Any]) -> str:
        body = _sentry_json({"action": action, "installation": {"uuid": INSTALLATION}, "data": data, "actor": actor})
        headers = [
            f"Sentry-Hook-Signature: {signature(secret, body.encode())}",
            f"Sentry-Hook-Resource: {resource}",
            f"Sentry-Hook-Timestamp: {int(time.time())}",
        ]
        return _curl("POST", f"{base_url}/sentry/webhook", headers, body)

    rule = _sentry_json(
        {"fields": [{"name": "database", "value": DATABASE, "label": "Bugs"}], "installationId": INSTALLATION}
    )
    settings = [{"name": "database", "value": DATABASE}]
    event_url = "https://example.sentry.io/organizations/example/issues/4250/events/4d6c2ab1/"
    event_alert = {
        "event": {"event_id": "4d6c2ab1", "title": "KeyError: 'cart'", "issue_id": "4250", "web_url": event_url},
        "triggered_rule": "Notify Notion",
        "issue_alert": {"id": 1, "title": "Notify Notion", "sentry_app_id": 1, "settings": settings},
    }
    action = {"type": "sentry_app", "sentry_app_installation_uuid": INSTALLATION, "settings": settings}
    metric_alert = {
        "metric_alert": {
            "id": "7",
            "identifier": "7",
            "title": "Checkout errors",
            "alert_rule": {
                "id": "2",
                "name": "Checkout errors",
                "triggers": [{"label": "critical", "actions": [action]}],
            },
        },
        "description_text": "1000 events in the last 10 minutes",
        "description_title": "Critical: Checkout errors",
        "web_url": "https://example.sentry.io/organizations/example/alerts/rules/details/2/?alert=7",
    }
    event = _notion_event(sandbox.page_id)
    description = "Sentry Issue: [BACKEND-1](https://example.sentry.io/issues/4242/)\n\n```\nTypeError: x\n```"
    return [
        (
            "Create an entry",
            post("/sentry/issue-link/create", {"title": "TypeError: x", "description": description}, 4242),
        ),
        ("Link an existing entry", post("/sentry/issue-link/link", {"issue": sandbox.page_id}, 4243)),
        ("Search entries (link form)", get("/sentry/options/issues", "bug-1")),
        ("List assignees (create form)", get("/sentry/options/assignees", "a")),
        (
            "Resolve Sentry issue 1 (a webhook): its entry moves to Done",
            hook("issue", "resolved", {"issue": resolved}, {"type": "user", "id": 1, "name": "Sandbox User"}),
        ),
        (
            "Change entry BUG-1's properties in Notion (a Notion webhook event)",
            _curl(
                "POST",
                f"{base_url}/notion/webhook",
                [f"X-Notion-Signature: sha256={signature(notion_secret, event.encode())}"],
                event,
            ),
        ),
        (
            "Save an alert rule with the action Create a Notion entry (Sentry checks its settings)",
            _curl(
                "POST",
                f"{base_url}/sentry/alert-rule-action",
                [f"Sentry-App-Signature: {signature(secret, rule.encode())}"],
                rule,
            ),
        ),
        (
            "The issue alert fires (an event_alert webhook): one entry per issue",
            hook("event_alert", "triggered", event_alert, SENTRY),
        ),
        (
            "A metric alert turns critical (a metric_alert webhook): one entry per incident",
            hook("metric_alert", "critical", metric_alert, SENTRY),
        ),
        ("See that entry (sandbox only)", get(f"/sandbox/entries/{sandbox.resolved_page_id}")),
        ("Readiness (unsigned)", f"curl -sS {shlex.quote(base_url + '/readyz')}"),
        ("Metrics (unsigned)", f"curl -sS {shlex.quote(base_url + '/metrics')}"),
    ]


def _sentry_json(value: Any) -> str:
    # Sentry's serializer: compact separators, ASCII only, keys in insertion order
    # (getsentry/sentry src/sentry/utils/json.py).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


def _notion_event(page_id: str) -> str:
    # Notion's envelope, compact as Notion sends it (https://developers.notion.com/reference/webhooks-events-delivery).
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "workspace_id": "00000000-0000-4000-8000-000000000002",
            "workspace_name": "Sandbox",
            "subscription_id": "00000000-0000-4000-8000-000000000003",
            "integration_id": "00000000-0000-4000-8000-000000000004",
            "type": "page.properties_updated",
            "authors": [{"id": "00000000-0000-4000-8000-000000000005", "type": "person"}],
            "attempt_number": 1,
            "api_version": "2026-03-11",
            "entity": {"id": page_id, "type": "page"},
            "data": {
                "parent": {"id": "00000000-0000-4000-8000-000000000006", "type": "database"},
                "updated_properties": ["title"],
            },
        },
        separators=(",", ":"),
    )


def _curl(method: str, url: str, headers: list[str], body: str | None = None) -> str:
    parts = ["curl", "-sS", "-X", method, url, "-H", "Content-Type: application/json"]
    for header in headers:
        parts += ["-H", header]
    if body is not None:
        parts += ["--data-raw", body]
    return " ".join(shlex.quote(p) for p in parts)
