from domain.errors import QueueUnavailable
from domain.models import QueueStats
from domain.ports import JobQueue


class ObserveQueue:
    """The job queue's backlog, dead letters and live workers now; None while the queue cannot be read."""

    def __init__(self, *, queue: JobQueue) -> None:
        self._queue = queue

    async def __call__(self) -> QueueStats | None:
        try:
            return await self._queue.stats()
        except QueueUnavailable:
            return None
