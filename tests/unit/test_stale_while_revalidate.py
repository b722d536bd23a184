import asyncio

from adapters.memory import MemoryCache, MemoryLocks
from domain.errors import TrackerUnavailable
from domain.stale_while_revalidate import LOCAL_S, StaleWhileRevalidate


class Source:
    """What the cache fetches from: counts its fetches and can fail or wait."""

    def __init__(self) -> None:
        self.value, self.fetches, self.fail = "v1", 0, False
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self) -> str:
        self.fetches += 1
        await self.gate.wait()
        if self.fail:
            raise TrackerUnavailable("Notion answered 503")
        return self.value


def refresher(now: list[float]) -> StaleWhileRevalidate[str]:
    return StaleWhileRevalidate(cache=MemoryCache(), locks=MemoryLocks(), fresh_s=60, clock=lambda: now[0])


async def test_a_fresh_value_is_served_without_fetching() -> None:
    now, source = [0.0], Source()
    cache = refresher(now)

    await cache.get("k", source)
    now[0] = 59
    assert (await cache.get("k", source)).value == "v1"
    assert source.fetches == 1


async def test_a_stale_value_is_served_while_one_refresh_runs_in_the_background() -> None:
    now, source = [0.0], Source()
    cache = refresher(now)
    await cache.get("k", source)
    now[0], source.value = 61, "v2"
    source.gate.clear()

    stale = await asyncio.gather(*(cache.get("k", source) for _ in range(5)))
    source.gate.set()
    await cache.settle()

    assert [c.value for c in stale] == ["v1"] * 5
    assert (await cache.get("k", source)).value == "v2"
    assert source.fetches == 2


async def test_concurrent_misses_make_one_fetch() -> None:
    source = Source()
    cache = refresher([0.0])

    values = await asyncio.gather(*(cache.get("k", source) for _ in range(10)))

    assert {v.value for v in values} == {"v1"}
    assert source.fetches == 1


async def test_a_failed_refresh_keeps_the_stale_value_and_the_next_use_tries_again() -> None:
    now, source = [0.0], Source()
    cache = refresher(now)
    await cache.get("k", source)
    now[0], source.fail = 61, True

    assert (await cache.get("k", source)).value == "v1"
    await cache.settle()
    source.fail, source.value = False, "v2"
    await cache.get("k", source)
    await cache.settle()

    assert (await cache.get("k", source)).value == "v2"
    assert source.fetches == 3


async def test_a_renewed_value_is_fetched_at_once_and_served_from_then_on() -> None:
    now, source = [0.0], Source()
    cache = refresher(now)
    await cache.get("k", source)
    source.value = "v2"

    assert (await cache.renew("k", source)).value == "v2"

    assert (await cache.get("k", source)).value == "v2"
    assert source.fetches == 2


async def test_a_value_renewed_in_another_process_is_served_here_within_a_few_seconds() -> None:
    now, source, shared, locks = [0.0], Source(), MemoryCache[str](), MemoryLocks()
    here, there = (StaleWhileRevalidate(cache=shared, locks=locks, fresh_s=60, clock=lambda: now[0]) for _ in range(2))
    await here.get("k", source)
    source.value = "v2"
    await there.renew("k", source)

    now[0] = LOCAL_S - 1
    assert (await here.get("k", source)).value == "v1"  # this process's copy, trusted a little while
    now[0] = LOCAL_S
    assert (await here.get("k", source)).value == "v2"
    assert source.fetches == 2
