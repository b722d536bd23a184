import asyncio
import contextlib
import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from aiohttp_retry import RetryOptionsBase

from domain import deadline

TRANSIENT = frozenset({500, 502, 503, 504})  # the request may have been applied before it failed
UNSENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)  # nothing reached the server


def retry_after_s(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    return None


class BudgetedRetry(RetryOptionsBase):
    """Retries that never repeat a write that may have been applied, and never outwait their caller.

    A write that may have been applied (a 5xx, a dropped connection) is not sent again; only failures to
    connect are, since then nothing reached the server. A throttled answer is retried after the wait the
    server asks for, unless that wait is longer than `max_wait_s` or than the request's budget: then the
    caller gets it at once and can tell the user when to come back.
    """

    def __init__(
        self,
        *,
        idempotent: bool,
        throttled: frozenset[int],
        attempts: int,
        max_wait_s: float,
        base_s: float = 0.25,
        asked_wait: Callable[[aiohttp.ClientResponse], float | None] = retry_after_s,
        on_retry: Callable[[str], None] = lambda reason: None,
    ) -> None:
        maybe_sent: set[type[Exception]] = {aiohttp.ClientConnectionError, asyncio.TimeoutError}
        super().__init__(
            attempts=attempts,
            exceptions=set(UNSENT) | maybe_sent if idempotent else set(UNSENT),
            retry_all_server_errors=False,
            evaluate_response_callback=self._final,
        )
        self.idempotent, self.throttled, self.max_wait_s, self._base_s = idempotent, throttled, max_wait_s, base_s
        self._asked_wait, self._on_retry = asked_wait, on_retry

    def affordable_s(self) -> float:
        left = deadline.remaining()
        return self.max_wait_s if left is None else min(self.max_wait_s, left)

    async def give_up(self, response: aiohttp.ClientResponse) -> bool:
        """Whether a throttled answer must not be retried, whatever the wait."""
        return False

    async def _final(self, response: aiohttp.ClientResponse) -> bool:
        if response.status in self.throttled:
            return await self.give_up(response) or (self._asked_wait(response) or 0.0) > self.affordable_s()
        return not (self.idempotent and response.status in TRANSIENT)

    def get_timeout(self, attempt: int, response: aiohttp.ClientResponse | None = None) -> float:
        self._on_retry(str(response.status) if response is not None else "connection")
        wait: float = self._base_s * 2 ** (attempt - 1) * (0.5 + random.random() / 2)
        if response is not None:
            if (asked := self._asked_wait(response)) is not None:
                wait = asked
            response.release()  # aiohttp-retry drops the response it retries; give its connection back
        return min(wait, self.affordable_s())
