import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from domain.errors import Conflict
from domain.models import Assignee
from domain.ports import AssigneeCache, LinkRegistry, Locks


class MemoryAssigneeCache(AssigneeCache):
    def __init__(self, *, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, list[Assignee]]] = {}

    async def load(self, scope: str) -> list[Assignee] | None:
        stored_at, people = self._entries.get(scope, (0.0, None))
        return people if people is not None and time.monotonic() - stored_at < self._ttl_s else None

    async def store(self, scope: str, assignees: list[Assignee]) -> None:
        self._entries[scope] = (time.monotonic(), list(assignees))


class MemoryLinkRegistry(LinkRegistry):
    def __init__(self) -> None:
        self._pages: dict[str, str] = {}

    async def recall(self, key: str) -> str | None:
        return self._pages.get(key)

    async def remember(self, key: str, page_id: str) -> None:
        self._pages[key] = page_id


# Serialises within one process; enough when a single replica runs without Redis.
class MemoryLocks(Locks):
    def __init__(self, *, wait_s: float = 20.0) -> None:
        self._wait_s = wait_s
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with asyncio.timeout(self._wait_s):
                await lock.acquire()
        except TimeoutError:
            raise Conflict("Another request for this issue is still running; try again in a moment.") from None
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
