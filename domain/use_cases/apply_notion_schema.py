from domain.models import Job, JobOutcome
from domain.ports import EntryColumns


class ApplyNotionSchema:
    """For a "notion.schema" job: the database's columns changed (a status option added or moved between
    groups), so they are read again before the next entry is synced."""

    def __init__(self, *, columns: EntryColumns) -> None:
        self._columns = columns

    async def __call__(self, job: Job) -> JobOutcome:
        await self._columns.forget_schema()
        return JobOutcome(outcome="applied", changes=("columns read again",))
