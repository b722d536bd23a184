import asyncio
import contextlib
import random
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
import structlog
from aiohttp_retry import RetryClient, RetryOptionsBase

from adapters.metrics import NOTION_REQUESTS, NOTION_RETRIES, NOTION_SECONDS, NOTION_THROTTLED
from adapters.rate_limit import NotionRateLimiter
from domain import budget

NOTION_VERSION = "2026-03-11"
_THROTTLED = frozenset({429, 529})  # rejected before any work: always safe to send again
TRANSIENT = frozenset({500, 502, 503, 504})  # the request may have been applied before it failed
UNSENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)  # nothing reached Notion
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


def retry_after_s(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        return max(
            0.0,
            (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(),
        )
    return None


# Notion's own guidance: wait Retry-After on 429/529, retry 5xx only where repeating is harmless.
#
# A write that may have been applied (a 5xx, a dropped connection) is never sent twice; only
# failures to connect are, since then nothing reached Notion. A wait longer than `max_wait_s`
# is not taken at all: the caller gets the 429 at once and can tell the user when to retry.
BLOCKED = "public_api_request_blocked"


async def rate_limit_reason(response: aiohttp.ClientResponse) -> str:
    try:
        body = await response.json(content_type=None)  # aiohttp keeps the body for the caller's own read
    except ValueError:
        return ""
    return (
        str(((body or {}).get("additional_data") or {}).get("rate_limit_reason", "")) if isinstance(body, dict) else ""
    )


class NotionRetry(RetryOptionsBase):
    def __init__(
        self,
        *,
        idempotent: bool,
        attempts: int = 4,
        max_wait_s: float = 8.0,
        base_s: float = 0.25,
    ):
        unsent: set[type[Exception]] = set(UNSENT)
        maybe_sent: set[type[Exception]] = {
            aiohttp.ClientConnectionError,
            asyncio.TimeoutError,
        }
        super().__init__(
            attempts=attempts,
            exceptions=unsent | maybe_sent if idempotent else unsent,
            retry_all_server_errors=False,
            evaluate_response_callback=self._final,
        )
        self.idempotent, self.max_wait_s, self._base_s = idempotent, max_wait_s, base_s

    def _affordable_s(self) -> float:
        left = budget.remaining()
        return self.max_wait_s if left is None else min(self.max_wait_s, left)

    async def _final(self, response: aiohttp.ClientResponse) -> bool:
        if response.status in _THROTTLED:
            if await rate_limit_reason(response) == BLOCKED:
                return True  # Notion blocked the integration: waiting does not help (notion-api.md §5.3)
            return (retry_after_s(response) or 0.0) > self._affordable_s()
        return not (self.idempotent and response.status in TRANSIENT)

    def get_timeout(self, attempt: int, response: aiohttp.ClientResponse | None = None) -> float:
        NOTION_RETRIES.labels(reason=str(response.status) if response is not None else "connection").inc()
        wait: float = self._base_s * 2 ** (attempt - 1) * (0.5 + random.random() / 2)
        if response is not None:
            if (asked := retry_after_s(response)) is not None:
                wait = asked
            response.release()  # aiohttp-retry drops the response it retries; give its connection back
        return min(wait, self._affordable_s())


READS = NotionRetry(idempotent=True)
WRITES = NotionRetry(idempotent=False)


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
    async with RetryClient(client_session=session, retry_options=READS) as client:
        yield client
