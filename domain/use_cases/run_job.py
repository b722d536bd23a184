from collections.abc import Awaitable, Callable, Mapping

from domain.errors import DomainError
from domain.models import Job

# A handler may answer what it changed, for the record.
JobHandler = Callable[[Job], Awaitable[object]]


class RunJob:
    """Runs a job with the use case its kind names. Raises DomainError for a kind nobody handles (a job
    queued by a newer version), so it ends among the dead letters instead of vanishing."""

    def __init__(self, *, handlers: Mapping[str, JobHandler]) -> None:
        self._handlers = handlers

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._handlers)

    async def __call__(self, job: Job) -> None:
        handler = self._handlers.get(job.kind)
        if handler is None:
            raise DomainError(f"No handler for jobs of kind {job.kind!r}; replay it with a version that has one.")
        await handler(job)
