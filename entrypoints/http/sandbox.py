import json
import shlex
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from domain.ports import Workspace
from entrypoints.http.middlewares import signature

INSTALLATION = "00000000-0000-4000-8000-000000000001"
RESOLVED_ISSUE = "1"  # the Sentry issue the printed webhook resolves; the demo workspace links an entry to it


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


def curl_commands(base_url: str, secret: str, sandbox: Sandbox) -> list[tuple[str, str]]:
    """One ready-to-paste request per route, built and signed the way Sentry builds them."""

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
        return _curl("POST", f"{base_url}{path}", signature(secret, body.encode()), body)

    def get(path: str, query: str | None = None) -> str:
        url = f"{base_url}{path}" + (f"?{urlencode({'installationId': INSTALLATION, 'query': query})}" if query else "")
        return _curl("GET", url, signature(secret, b""))

    resolved = {"id": RESOLVED_ISSUE, "shortId": "BACKEND-1", "status": "resolved", "substatus": None, "level": "error"}
    webhook = _sentry_json(
        {
            "action": "resolved",
            "installation": {"uuid": INSTALLATION},
            "data": {"issue": resolved},
            "actor": {"type": "user", "id": 1, "name": "Sandbox User"},
        }
    )
    hook = ["Sentry-Hook-Resource: issue", f"Sentry-Hook-Timestamp: {int(time.time())}"]
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
            _curl("POST", f"{base_url}/sentry/webhook", signature(secret, webhook.encode()), webhook, hook, hook=True),
        ),
        ("See that entry (sandbox only)", get(f"/sandbox/entries/{sandbox.resolved_page_id}")),
        ("Readiness (unsigned)", f"curl -sS {shlex.quote(base_url + '/readyz')}"),
        ("Metrics (unsigned)", f"curl -sS {shlex.quote(base_url + '/metrics')}"),
    ]


def _sentry_json(value: Any) -> str:
    # Sentry's serializer: compact separators, ASCII only, keys in insertion order
    # (getsentry/sentry src/sentry/utils/json.py).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


def _curl(
    method: str, url: str, signed: str, body: str | None = None, headers: list[str] | None = None, *, hook: bool = False
) -> str:
    parts = ["curl", "-sS", "-X", method, url, "-H", "Content-Type: application/json"]
    parts += ["-H", f"Sentry-{'Hook' if hook else 'App'}-Signature: {signed}"]
    for header in headers or []:
        parts += ["-H", header]
    if body is not None:
        parts += ["--data-raw", body]
    return " ".join(shlex.quote(p) for p in parts)
