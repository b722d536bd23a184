import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from aiohttp_retry import RetryClient, RetryOptionsBase

NOTION_VERSION = "2026-03-11"
_THROTTLED = frozenset({429, 529})  # rejected before any work: always safe to send again
_TRANSIENT = frozenset({500, 502, 503, 504})


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
class NotionRetry(RetryOptionsBase):
    def __init__(
        self,
        *,
        idempotent: bool,
        attempts: int = 4,
        max_wait_s: float = 8.0,
        base_s: float = 0.25,
    ):
        unsent: set[type[Exception]] = {
            aiohttp.ClientConnectorError,
            aiohttp.ConnectionTimeoutError,
        }
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

    async def _final(self, response: aiohttp.ClientResponse) -> bool:
        if response.status in _THROTTLED:
            return (retry_after_s(response) or 0.0) > self.max_wait_s
        return not (self.idempotent and response.status in _TRANSIENT)

    def get_timeout(self, attempt: int, response: aiohttp.ClientResponse | None = None) -> float:
        wait: float = self._base_s * 2 ** (attempt - 1) * (0.5 + random.random() / 2)
        if response is not None:
            if (asked := retry_after_s(response)) is not None:
                wait = asked
            response.release()  # aiohttp-retry drops the response it retries; give its connection back
        return min(wait, self.max_wait_s)


READS = NotionRetry(idempotent=True)
WRITES = NotionRetry(idempotent=False)


@contextlib.asynccontextmanager
async def open_notion_client(*, token: str, base_url: str, timeout_s: float = 10.0) -> AsyncIterator[RetryClient]:
    session = aiohttp.ClientSession(
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
