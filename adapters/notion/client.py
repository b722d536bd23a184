import contextlib
import re
import time
from collections.abc import AsyncIterator

import aiohttp
import structlog
from aiohttp_retry import RetryClient

from adapters.http_retry import BudgetedRetry, retry_after_s
from adapters.metrics import NOTION_REQUESTS, NOTION_RETRIES, NOTION_SECONDS, NOTION_THROTTLED
from adapters.rate_limit import NotionRateLimiter

NOTION_VERSION = "2026-03-11"
_ID = re.compile(r"/[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}(?=/|$)")
_ENDPOINTS = {
    "GET /v1/users/me": "users.me",
    "GET /v1/users": "users.list",
    "GET /v1/databases/{id}": "databases.get",
    "GET /v1/data_sources/{id}": "data_sources.get",
    "POST /v1/data_sources/{id}/query": "data_sources.query",
    "POST /v1/pages": "pages.create",
    "GET /v1/pages/{id}": "pages.get",
    "PATCH /v1/pages/{id}": "pages.update",
    "PATCH /v1/blocks/{id}/children": "blocks.append",
    "GET /v1/blocks/{id}/children": "blocks.list",
    "POST /v1/comments": "comments.create",
    "GET /v1/comments": "comments.list",
    "PATCH /v1/comments/{id}": "comments.update",
    "DELETE /v1/comments/{id}": "comments.delete",
}


# Notion's own guidance: wait Retry-After on 429/529, retry 5xx only where repeating is harmless.
BLOCKED = "public_api_request_blocked"
THROTTLED = frozenset({429, 529})  # rejected before any work: always safe to send again


async def rate_limit_reason(response: aiohttp.ClientResponse) -> str:
    try:
        body = await response.json(content_type=None)  # aiohttp keeps the body for the caller's own read
    except ValueError:
        return ""
    return (
        str(((body or {}).get("additional_data") or {}).get("rate_limit_reason", "")) if isinstance(body, dict) else ""
    )


class NotionRetry(BudgetedRetry):
    def __init__(self, *, idempotent: bool) -> None:
        super().__init__(
            idempotent=idempotent,
            throttled=THROTTLED,
            attempts=4,
            max_wait_s=8.0,
            on_retry=lambda reason: NOTION_RETRIES.labels(reason=reason).inc(),
        )

    async def give_up(self, response: aiohttp.ClientResponse) -> bool:
        # Notion blocked the integration: waiting does not help
        # (https://developers.notion.com/reference/request-limits).
        return await rate_limit_reason(response) == BLOCKED


# Named by what repeating a request does, not by its method: setting properties to given values or deleting a
# comment twice ends the same (PATCH and DELETE are IDEMPOTENT); a create or an append is sent again only when it
# cannot have reached Notion.
IDEMPOTENT = NotionRetry(idempotent=True)
SEND_ONCE = NotionRetry(idempotent=False)


def endpoint(method: str, path: str) -> str:
    template = f"{method} {_ID.sub('/{id}', path)}"
    return _ENDPOINTS.get(template, template)


def _metered(limiter: NotionRateLimiter | None) -> aiohttp.ClientMiddlewareType:
    # Every attempt, retries included, spends Notion's budget, so every attempt passes here.
    async def middleware(request: aiohttp.ClientRequest, send: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
        if limiter is not None:
            await limiter.acquire()
        name, started, status = endpoint(request.method, request.url.path), time.perf_counter(), "error"
        try:
            response = await send(request)
            status = str(response.status)
            if limiter is not None and response.status in THROTTLED and (wait := retry_after_s(response)):
                # Every replica and worker would be told the same: hold them all off at once.
                await limiter.hold_off(wait)
            return response
        finally:
            seconds = time.perf_counter() - started
            NOTION_REQUESTS.labels(endpoint=name, status=status).inc()
            NOTION_SECONDS.labels(endpoint=name).observe(seconds)
            if status in ("429", "529"):
                NOTION_THROTTLED.inc()
            # The request middleware binds a list under "notion_calls" so its one log line can list them.
            calls = structlog.contextvars.get_contextvars().get("notion_calls")
            if isinstance(calls, list):
                calls.append(f"{name} {status} {seconds * 1000:.0f}ms")

    return middleware


@contextlib.asynccontextmanager
async def open_notion_client(
    *, token: str, base_url: str, limiter: NotionRateLimiter | None = None, timeout_s: float = 10.0
) -> AsyncIterator[RetryClient]:
    session = aiohttp.ClientSession(
        middlewares=(_metered(limiter),),
        base_url=base_url.rstrip("/") + "/",
        headers={
            "Authorization": f"Bearer {token}",
            "Notion-Version": NOTION_VERSION,
            "User-Agent": "sentry-notion",
        },
        timeout=aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(timeout_s, 5.0)),
        raise_for_status=False,
    )
    async with RetryClient(client_session=session, retry_options=IDEMPOTENT) as client:
        yield client
