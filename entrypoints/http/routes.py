import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from aiohttp import web

from domain import deadline, notion_events
from domain.errors import DomainError, TrackerUnavailable
from domain.models import AlertSettings, CreateRequest, LinkedEntry, LinkRequest, Option
from domain.use_cases.check_readiness import CheckReadiness
from domain.use_cases.keep_verification_token import KeepVerificationToken
from domain.use_cases.observe_queue import ObserveQueue
from domain.use_cases.receive_notion_event import ReceiveNotionEvent
from domain.use_cases.receive_webhook import ReceiveWebhook
from entrypoints.http import schemas
from entrypoints.http.metrics import DUPLICATES_PREVENTED, NOTION_EVENTS, WEBHOOKS, exposition, observe
from entrypoints.http.middlewares import problem

log = structlog.get_logger(__name__)

# Sentry gives up after 30 s; answer before it does so the user sees our message, not a timeout.
ISSUE_LINK_BUDGET_S = 25.0
# What the operator does with the token of Notion's handshake, by where it was kept. The token itself is a secret
# and never logged.
NEXT_STEP = {
    "active": "it is already set in NOTION_WEBHOOK_SECRET: click Verify in Notion if the subscription still asks",
    "pending": (
        "run `sentry-notion notion-webhook token` to print it, paste it into Notion's Verify dialog, then add it "
        "to NOTION_WEBHOOK_SECRET and restart"
    ),
    "local": (
        "without Redis it is kept in this process only, where `sentry-notion notion-webhook token` cannot read it: "
        "set REDIS_URL, restart, and click Resend token in Notion's Verify dialog"
    ),
    "unkept": "Redis could not keep it: once Redis answers, click Resend token in Notion's Verify dialog",
}
# Option lists load while the user types, and a failed load disables Sentry's form: answer fast, always.
OPTIONS_BUDGET_S = 2.5


# An option list's finder: the words typed and the Sentry project the form is for ("" when Sentry does not say).
Options = Callable[[str, str], Awaitable[list[Option]]]


@dataclass(frozen=True)
class UseCases:
    # Routed to the configured database they are about (domain/databases.py).
    create_entry: Callable[[CreateRequest], Awaitable[LinkedEntry]]
    link_entry: Callable[[LinkRequest], Awaitable[LinkedEntry]]
    search_entries: Options
    list_assignees: Options
    check_readiness: CheckReadiness
    receive_webhook: ReceiveWebhook
    observe_queue: ObserveQueue
    keep_verification_token: KeepVerificationToken
    receive_notion_event: ReceiveNotionEvent
    list_databases: Options
    check_alert_settings: Callable[[AlertSettings], Awaitable[str]]
    list_column_options: Callable[..., Awaitable[list[Option]]]  # (column, query, project, *, database)


USE_CASES = web.AppKey("use_cases", UseCases)
T = TypeVar("T")  # what a use case run within the budget answers
routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    # Ready while running: intake needs no dependency, so their health is reported, never waited for.
    checks: list[dict[str, Any]] = []
    for dependency in await request.app[USE_CASES].check_readiness():
        at = None if dependency.checked_at is None else datetime.fromtimestamp(dependency.checked_at, UTC).isoformat()
        found: list[tuple[str, bool | None, str]] = [(f.check, f.ok, f.detail) for f in dependency.findings]
        for check, ok, detail in found or [(dependency.name, None, "not checked yet")]:
            checks.append({"check": check, "ok": ok, "detail": detail, "checked_at": at})
    return web.json_response({"ready": True, "checks": checks})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    use_cases = request.app[USE_CASES]
    observe(await use_cases.check_readiness(), await use_cases.observe_queue())
    return exposition()


@routes.post("/sentry/issue-link/create")
async def create_entry(request: web.Request) -> web.Response:
    body = schemas.CreateBody.model_validate_json(await request.read())
    structlog.contextvars.bind_contextvars(installation_id=body.installationId, sentry_issue=body.issueId)
    issue = await _within_budget(request.app[USE_CASES].create_entry(body.to_request()))
    if not issue.created:
        DUPLICATES_PREVENTED.inc()
    return web.json_response(schemas.linked(issue), status=201 if issue.created else 200)


@routes.post("/sentry/issue-link/link")
async def link_entry(request: web.Request) -> web.Response:
    body = schemas.LinkBody.model_validate_json(await request.read())
    structlog.contextvars.bind_contextvars(installation_id=body.installationId, sentry_issue=body.issueId)
    issue = await _within_budget(request.app[USE_CASES].link_entry(body.to_request()))
    return web.json_response(schemas.linked(issue))


@routes.post("/sentry/alert-rule-action")
async def alert_rule_action(request: web.Request) -> web.Response:
    # Sentry saves the rule only on an answer below 400, and shows "<app name>: <message>" either way.
    body = schemas.AlertRuleBody.model_validate_json(await request.read())
    structlog.contextvars.bind_contextvars(installation_id=body.installationId)
    # The person saving the rule waits, as for the issue-link form: the adapter's waits give up within the budget.
    message = await _within_budget(
        request.app[USE_CASES].check_alert_settings(body.settings()), retry="try saving the rule again in a minute"
    )
    return web.json_response({"message": message})


@routes.post("/sentry/webhook")
async def webhook(request: web.Request) -> web.Response:
    # Sentry allows one second and never sends an internal integration's webhook again.
    receipt = await request.app[USE_CASES].receive_webhook(
        request.headers.get("Sentry-Hook-Resource", ""),
        request.headers.get("Sentry-Hook-Timestamp"),
        await request.read(),
    )
    job, outcome = receipt.job, receipt.outcome
    installation = job.body.get("installation")
    structlog.contextvars.bind_contextvars(
        installation_id=installation.get("uuid", "") if isinstance(installation, dict) else "", kind=job.kind
    )
    WEBHOOKS.labels(outcome=outcome).inc()
    # Applied at once (no Redis): the answer says what became of the entry, as a worker's log line would.
    done = receipt.result
    result = done.model_dump(mode="json", exclude={"outcome"}, exclude_defaults=True) if done else {}
    if outcome == "lost":
        log.error("webhook_lost", action=job.action, job=job.model_dump(mode="json"))
    else:
        log.info("webhook_received", action=job.action, outcome=outcome, **result)
    return web.json_response(
        {"received": True, "outcome": outcome} | result, status=202 if outcome == "queued" else 200
    )


@routes.post("/notion/webhook")
async def notion_webhook(request: web.Request) -> web.Response:
    # Signed, or a handshake, as the middleware let through. Notion retries what it sees no 2xx for.
    use_cases = request.app[USE_CASES]
    body = notion_events.decode(await request.read())
    if (token := notion_events.verification_token(body)) is not None:
        kept = await use_cases.keep_verification_token(token)
        NOTION_EVENTS.labels(type="verification", outcome=kept).inc()
        report = log.info if kept == "active" else log.warning
        report("notion_verification_token_received", kept=kept, next=NEXT_STEP[kept])
        return web.json_response({"received": True, "outcome": "verification"})
    outcome, event = await use_cases.receive_notion_event(body)
    structlog.contextvars.bind_contextvars(notion_event=event.id, kind=event.kind or "")
    NOTION_EVENTS.labels(type=event.type if event.kind else "other", outcome=outcome).inc()
    if outcome == "lost":
        # Neither queued nor applied: refused, so that Notion sends it again later.
        log.warning("notion_event_refused", type=event.type)
        return problem(503, "The event could not be queued or applied now; send it again later.", {"Retry-After": "60"})
    log.info("notion_event_received", type=event.type, outcome=outcome)
    return web.json_response({"received": True, "outcome": outcome})


@routes.get("/sentry/options/issues")
async def issue_options(request: web.Request) -> web.Response:
    return await _options(request, request.app[USE_CASES].search_entries)


@routes.get("/sentry/options/assignees")
async def assignee_options(request: web.Request) -> web.Response:
    return await _options(request, request.app[USE_CASES].list_assignees)


@routes.get("/sentry/options/databases")
async def database_options(request: web.Request) -> web.Response:
    return await _options(request, request.app[USE_CASES].list_databases)


# Any character but "/" (sent as %2F): aiohttp's default pattern also refuses braces, which Notion allows in names.
@routes.get("/sentry/options/columns/{column:[^/]+}")
async def column_options(request: web.Request) -> web.Response:
    return await _choices(request, request.match_info["column"])


@routes.get("/sentry/options/status")
async def status_options(request: web.Request) -> web.Response:
    return await _choices(request, None)


async def _choices(request: web.Request, column: str | None) -> web.Response:
    database = schemas.dependent_database(request.query.get("dependentData", ""))
    list_options = request.app[USE_CASES].list_column_options
    return await _options(request, functools.partial(list_options, column, database=database))


async def _within_budget(work: Awaitable[T], *, retry: str = "try again in a minute") -> T:
    try:
        with deadline.within(ISSUE_LINK_BUDGET_S, priority="interactive"):
            async with asyncio.timeout(ISSUE_LINK_BUDGET_S):
                return await work
    except TimeoutError:
        raise TrackerUnavailable(f"Notion is answering too slowly; {retry}.") from None


async def _options(request: web.Request, find: Options) -> web.Response:
    structlog.contextvars.bind_contextvars(installation_id=request.query.get("installationId", ""))
    found: list[Option] = []
    try:
        # Searches spend only what writes and webhook jobs leave of Notion's budget, and never wait for it.
        with deadline.within(OPTIONS_BUDGET_S, priority="search"):
            async with asyncio.timeout(OPTIONS_BUDGET_S):
                found = await find(request.query.get("query", ""), request.query.get("projectSlug", ""))
    except (DomainError, TimeoutError) as exc:
        # An error here would disable the whole Sentry form; an empty list only says "nothing found".
        log.warning("options_unavailable", error=type(exc).__name__, detail=str(exc))
    except Exception:
        log.exception("options_failed")
    return web.json_response(schemas.options(found))
