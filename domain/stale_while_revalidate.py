import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from domain.errors import Conflict, DomainError
from domain.models import Cached
from domain.ports import Cache, Locks

T = TypeVar("T")
log = logging.getLogger(__name__)
# How long this process trusts its own copy before reading the shared one again: a value another process renewed
# (the schema after a Notion event another worker took) reaches this one within that time.
LOCAL_S = 5.0


class StaleWhileRevalidate(Generic[T]):
    """Stale-while-revalidate with one fetch at a time across replicas.

    A fresh value is served from the cache. A stale one is served too, while one refresh runs in the
    background. A miss waits for a single fetch: whoever holds the refresh lock fetches, the others
    then read what it stored.
    """

    def __init__(
        self,
        *,
        cache: Cache[T],
        locks: Locks,
        fresh_s: float,
        clock: Callable[[], float] = time.time,
        on_lookup: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self._cache, self._locks, self._fresh_s, self._clock = cache, locks, fresh_s, clock
        self._on_lookup = on_lookup  # told "hit", "stale" or "miss", for metrics
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        # This process's copy, and when it was read: spares the shared cache a read, and the value a parse, on
        # every request.
        self._local: dict[str, tuple[Cached[T], float]] = {}

    async def get(self, key: str, fetch: Callable[[], Awaitable[T]]) -> Cached[T]:
        now = self._clock()
        if (local := self._local.get(key)) is not None and self.is_fresh(local[0]) and now - local[1] < LOCAL_S:
            self._on_lookup("hit")
            return local[0]
        entry = await self._cache.load(key)
        if entry is None:
            self._on_lookup("miss")
            entry = await self._fill(key, fetch)
        elif not self.is_fresh(entry):
            self._on_lookup("stale")
            self._refresh_in_background(key, fetch)
        else:
            self._on_lookup("hit")
        if key not in self._local:
            # Keys asked for once (a search typed once) must not pile up in this process.
            self._local = {k: e for k, e in self._local.items() if self.is_fresh(e[0])}
        self._local[key] = (entry, now)
        return entry

    async def _fill(self, key: str, fetch: Callable[[], Awaitable[T]]) -> Cached[T]:
        async with self._locks.hold(f"refresh:{key}"):
            # With the shared cache down, whoever held the lock before us left the value only in this process.
            local = self._local.get(key)
            entry = local[0] if local is not None and self.is_fresh(local[0]) else await self._cache.load(key)
            if entry is not None and self.is_fresh(entry):
                return entry  # fetched by whoever held the lock before us
            return await self._fetch(key, fetch)

    def is_fresh(self, entry: Cached[T]) -> bool:
        return self._clock() - entry.fetched_at < self._fresh_s

    async def _fetch(self, key: str, fetch: Callable[[], Awaitable[T]]) -> Cached[T]:
        entry = Cached[T](value=await fetch(), fetched_at=self._clock())
        await self._cache.store(key, entry)
        return entry

    def _refresh_in_background(self, key: str, fetch: Callable[[], Awaitable[T]]) -> None:
        if key not in self._refreshing:
            task = asyncio.create_task(self._refresh(key, fetch))
            self._refreshing[key] = task
            task.add_done_callback(lambda _: self._refreshing.pop(key, None))

    async def _refresh(self, key: str, fetch: Callable[[], Awaitable[T]]) -> None:
        try:
            async with self._locks.hold(f"refresh:{key}", wait_s=0):
                await self._fetch(key, fetch)
        except Conflict:
            pass  # another replica is refreshing it
        except DomainError as exc:
            # The stale value stays in use; the next request past its freshness tries again.
            log.warning("background refresh of %s failed: %s", key, exc.message)
        except Exception:
            # No request waits on this task, so nothing else would report it (a closed client at shutdown).
            log.exception("background refresh of %s failed", key)

    async def expire(self, key: str) -> None:
        """Marks the value stale, so the next use refreshes it."""
        self._local.pop(key, None)
        if (entry := await self._cache.load(key)) is not None:
            await self._cache.store(key, Cached[T](value=entry.value, fetched_at=0.0))

    async def renew(self, key: str, fetch: Callable[[], Awaitable[T]]) -> Cached[T]:
        """Fetches the value now, for a change known to have made it wrong: marked stale instead, the next use
        would still be served the old value while the refresh runs."""
        async with self._locks.hold(f"refresh:{key}"):
            entry = await self._fetch(key, fetch)
        self._local[key] = (entry, self._clock())
        return entry

    async def settle(self) -> None:
        """Waits for the background refreshes under way."""
        await asyncio.gather(*self._refreshing.values(), return_exceptions=True)
