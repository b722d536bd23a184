import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from domain.models import DependencyHealth, Finding
from domain.ports import Dependency

log = logging.getLogger(__name__)


class CheckReadiness:
    """Each dependency's health as last probed, answered at once: probing never holds up the caller.

    Readiness is this process's: intake needs no dependency (webhooks queue on Redis, or are applied
    inline without it), so a Notion outage must not take every replica out of its Service at once.
    A call starts a probe of every dependency in the background when the last one is `interval_s`
    old, each bounded by `timeout_s`, so load balancer probes never turn into a stream of requests.
    """

    def __init__(
        self,
        *,
        dependencies: Sequence[Dependency],
        interval_s: float = 30.0,
        timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._dependencies, self._interval_s, self._timeout_s = dependencies, interval_s, timeout_s
        self._clock, self._wall_clock = clock, wall_clock
        self._health = [DependencyHealth(name=d.name, findings=[], checked_at=None) for d in dependencies]
        self._started: float | None = None
        self._probe: asyncio.Task[None] | None = None

    async def __call__(self) -> list[DependencyHealth]:
        due = self._started is None or self._clock() - self._started >= self._interval_s
        if due and (self._probe is None or self._probe.done()):
            self._started = self._clock()
            self._probe = asyncio.create_task(self._refresh())
        return list(self._health)

    async def stop(self) -> None:
        """Cancels a probe in flight, before the clients it uses are closed."""
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe

    async def _refresh(self) -> None:
        await asyncio.gather(*(self._probe_one(at, d) for at, d in enumerate(self._dependencies)))

    async def _probe_one(self, at: int, dependency: Dependency) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                found = await dependency.diagnose(thorough=False)
        except TimeoutError:
            found = [Finding(check=dependency.name, ok=False, detail=f"did not answer within {self._timeout_s:g} s")]
        except Exception as exc:  # diagnose never raises by contract; a bug must still not stop the probes
            log.exception("readiness probe of %s failed", dependency.name)
            found = [Finding(check=dependency.name, ok=False, detail=f"probe failed: {type(exc).__name__}")]
        self._health[at] = DependencyHealth(name=dependency.name, findings=found, checked_at=self._wall_clock())
