import asyncio
import time
from collections.abc import Callable, Sequence

from domain.models import Finding
from domain.ports import Dependency


class CheckReadiness:
    """Ready while every required dependency answers; optional ones are reported but never block.

    Answers are reused for `interval_s`, so probes from load balancers do not turn into a stream of
    requests to Notion.
    """

    def __init__(
        self,
        *,
        dependencies: Sequence[Dependency],
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dependencies, self._interval_s, self._clock = dependencies, interval_s, clock
        self._last: tuple[float, bool, list[Finding]] | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> tuple[bool, list[Finding]]:
        async with self._lock:
            if self._last is None or self._clock() - self._last[0] >= self._interval_s:
                results = await asyncio.gather(*(d.diagnose(thorough=False) for d in self._dependencies))
                required = [found for d, found in zip(self._dependencies, results, strict=True) if d.required]
                ready = all(f.ok for found in required for f in found)
                self._last = (self._clock(), ready, [f for found in results for f in found])
            return self._last[1], self._last[2]
