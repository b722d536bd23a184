import contextlib
import itertools
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import structlog
from aiohttp_retry import RetryClient

from adapters.http_retry import TRANSIENT, UNSENT, BudgetedRetry, retry_after_s
from adapters.metrics import NOTION_REQUESTS, NOTION_RETRIES, NOTION_SECONDS, NOTION_THROTTLED
from adapters.notion.errors import (
    BLOCKED,
    Missing,
    NotionError,
    Unclear,
    error_message,
    rate_limit_reason,
    translate,
    unreachable,
)
from adapters.rate_limit import NotionRateLimiter
from adapters.urls import without_credentials
from domain.errors import TrackerMisconfigured

NOTION_VERSION = "2026-03-11"
NOTION_API = "https://api.notion.com"
JSON = dict[str, Any]
_ID = re.compile(r"/[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}(?=/|$)")
_ENDPOINTS = {
    "GET /v1/users/me": "users.me",
    "GET /v1/users": "users.list",
    "GET /v1/users/{id}": "users.get",
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
    "GET /v1/comments/{id}": "comments.get",
    "PATCH /v1/comments/{id}": "comments.update",
    "DELETE /v1/comments/{id}": "comments.delete",
}


# Notion's own guidance: wait Retry-After on 429/529, retry 5xx only where repeating is harmless.
THROTTLED = frozenset({429, 529})  # rejected before any work: always safe to send again


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


class NotionApi:
    def __init__(
        self,
        client: RetryClient,
        *,
        database_id: str,
        on_misconfigured: Callable[[], Awaitable[None]],
        base_url: str = NOTION_API,
    ) -> None:
        self._client, self._database_id, self._on_misconfigured = client, database_id, on_misconfigured
        self._where = without_credentials(base_url)

    async def send(
        self,
        method: str,
        path: str,
        retry: NotionRetry,
        *,
        missing: Missing = "",
        json: JSON | None = None,
        params: Any = None,
        unclear: bool = False,
    ) -> JSON:
        try:
            async with self._client.request(method, path, retry_options=retry, json=json, params=params) as resp:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
                if resp.status < 300 and isinstance(body, dict):
                    return body
                if unclear and resp.status in TRANSIENT:
                    raise Unclear(body)
                reason = await rate_limit_reason(resp)
                error = NotionError(resp.status, error_message(body), retry_after_s(resp), reason)
        except (TimeoutError, aiohttp.ClientError) as exc:
            if unclear and not isinstance(exc, UNSENT):
                raise Unclear(None) from exc
            raise unreachable(exc, self._where) from exc
        failure = translate(error, missing, self._database_id)
        if isinstance(failure, TrackerMisconfigured) and error.status in (400, 404):
            await self._on_misconfigured()
        raise failure

    async def paginate(
        self,
        method: str,
        path: str,
        *,
        missing: Missing = "",
        json: JSON | None = None,
        params: dict[str, str] | None = None,
        pages: int | None = None,
    ) -> AsyncIterator[JSON]:
        # Lists are read 100 at a time, the most Notion gives; a GET takes the cursor in its query, a POST in its
        # body (https://developers.notion.com/reference/intro#pagination).
        cursor: str | None = None
        for _ in range(pages) if pages is not None else itertools.count():
            after = {"start_cursor": cursor} if cursor else {}
            if method == "GET":
                result = await self.send(
                    method, path, IDEMPOTENT, missing=missing, params=(params or {}) | {"page_size": "100"} | after
                )
            else:
                result = await self.send(
                    method, path, IDEMPOTENT, missing=missing, json=(json or {}) | {"page_size": 100} | after
                )
            for item in result.get("results", []):
                yield item
            cursor = result.get("next_cursor")
            if not result.get("has_more") or not cursor:
                return
