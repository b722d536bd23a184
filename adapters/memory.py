import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

from domain.errors import STILL_RUNNING, Conflict, QueueUnavailable
from domain.models import Cached, DeadLetter, Finding, HeldAlert, Job, PendingToken, QueueStats
from domain.ports import AlertBudget, Cache, Dependency, JobQueue, LinkRegistry, Locks, SyncState, VerificationTokens

T = TypeVar("T")


class MemoryCache(Cache[T]):
    def __init__(self, *, keep_s: float | None = None, clock: Callable[[], float] = time.time) -> None:
        self._entries: dict[str, Cached[T]] = {}
        self._keep_s, self._clock = keep_s, clock

    async def load(self, key: str) -> Cached[T] | None:
        entry = self._entries.get(key)
        return None if entry is None or self._expired(entry) else entry

    async def store(self, key: str, entry: Cached[T]) -> None:
        if key not in self._entries:
            # Keys asked for once (a search typed once) must not pile up, as Redis lets them expire.
            self._entries = {k: e for k, e in self._entries.items() if not self._expired(e)}
        self._entries[key] = entry

    async def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def _expired(self, entry: Cached[T]) -> bool:
        return self._keep_s is not None and self._clock() - entry.fetched_at >= self._keep_s


class MemorySyncState(SyncState):
    def __init__(self) -> None:
        self._facts: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self._facts.get(key)

    async def put(self, key: str, value: str) -> None:
        self._facts[key] = value


class InlineOnlyQueue(JobQueue):
    """Without Redis there is nowhere durable to keep jobs: webhooks are applied as they arrive."""

    async def enqueue(self, job: Job) -> bool:
        raise QueueUnavailable("No job queue without Redis.")

    async def work(self, handle: Callable[[Job], Awaitable[None]], *, stop: asyncio.Event) -> None:
        await stop.wait()

    async def dead_letters(self) -> list[DeadLetter]:
        return []

    async def replay(self, ids: Sequence[str]) -> list[str]:
        return []

    async def stats(self) -> QueueStats:
        return QueueStats(depth=0, oldest_age_s=0, dead_letters=0, workers=0)


# How many handshake tokens are kept: enough for a few subscriptions set up at once, and a stream of forged
# handshakes costs no memory. Also the Redis adapter's.
KEPT_TOKENS = 5


class MemoryVerificationTokens(VerificationTokens):
    shared = False  # in this process's memory: `sentry-notion notion-webhook token` cannot read it

    def __init__(self) -> None:
        self._tokens: dict[str, float] = {}

    async def offer(self, token: str, received_at: float) -> bool:
        self._tokens.pop(token, None)
        self._tokens[token] = received_at
        while len(self._tokens) > KEPT_TOKENS:
            del self._tokens[min(self._tokens, key=self._tokens.__getitem__)]
        return True

    async def pending(self) -> list[PendingToken]:
        kept = sorted(self._tokens.items(), key=lambda item: item[1], reverse=True)
        return [PendingToken(token=token, received_at=at) for token, at in kept]


class RedisNotConfigured(Dependency):
    name = "Redis"
    required = False

    async def diagnose(self, *, thorough: bool) -> list[Finding]:
        detail = "not configured: cache, locks and links stay in this process (fine for a single replica)"
        return [Finding(check="Redis", ok=True, detail=detail)]


class MemoryLinkRegistry(LinkRegistry):
    def __init__(self) -> None:
        self._pages: dict[str, str] = {}
        self._unconfirmed: dict[str, float] = {}

    async def recall(self, key: str) -> str | None:
        return self._pages.get(key)

    async def remember(self, key: str, page_id: str) -> None:
        self._pages[key] = page_id
        self._unconfirmed.pop(key, None)

    async def mark_unconfirmed(self, key: str, ttl_s: float) -> None:
        self._unconfirmed[key] = time.monotonic() + ttl_s

    async def is_unconfirmed(self, key: str) -> bool:
        return self._unconfirmed.get(key, 0.0) > time.monotonic()

    async def clear_unconfirmed(self, key: str) -> None:
        self._unconfirmed.pop(key, None)


# Serialises within one process; enough when a single replica runs without Redis.
class MemoryLocks(Locks):
    def __init__(self, *, wait_s: float = 20.0) -> None:
        self._wait_s = wait_s
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str, *, wait_s: float | None = None) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            if lock.locked() and wait_s == 0:
                raise TimeoutError
            async with asyncio.timeout(self._wait_s if wait_s is None else wait_s):
                await lock.acquire()
        except TimeoutError:
            raise Conflict(STILL_RUNNING) from None
        else:
            try:
                yield
            finally:
                lock.release()
        finally:
            # Forget a key once nobody holds or awaits it, so the table does not grow with every issue.
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


# An alert rule's entries are counted by the hour of the clock, as Sentry's own rate limits count their windows.
HOUR_S = 3600
HELD_KEEP_S = 7 * 86400  # a week: time enough for someone to read them after a weekend's flood


class MemoryAlertBudget(AlertBudget):
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[tuple[str, int], int] = {}
        self._held: list[HeldAlert] = []

    async def admit(self, rule: str, limit: int) -> bool:
        hour = int(self._clock() // HOUR_S)
        self._counts = {k: n for k, n in self._counts.items() if k[1] == hour}  # earlier hours count no more
        count = self._counts.get((rule, hour), 0) + 1
        self._counts[(rule, hour)] = count
        return count <= limit

    async def refund(self, rule: str) -> None:
        key = (rule, int(self._clock() // HOUR_S))
        if self._counts.get(key, 0) > 0:
            self._counts[key] -= 1

    async def hold(self, alert: HeldAlert) -> bool:
        self._held = [h for h in self._held if h.at > alert.at - HELD_KEEP_S]
        hour = int(alert.at // HOUR_S)
        first = not any(h.rule == alert.rule and int(h.at // HOUR_S) == hour for h in self._held)
        self._held.append(alert)
        return first

    async def held(self) -> list[HeldAlert]:
        return sorted(self._held, key=lambda h: h.at)
