from domain.models import Option
from domain.ports import AssigneeCache, IssueTracker


class ListAssignees:
    """People to assign, matching the query on name or email; served from cache while fresh."""

    def __init__(self, *, tracker: IssueTracker, cache: AssigneeCache, limit: int = 100) -> None:
        self._tracker, self._cache, self._limit = tracker, cache, limit

    async def __call__(self, query: str) -> list[Option]:
        scope = (await self._tracker.database()).scope
        people = await self._cache.load(scope)
        if people is None:
            people = await self._tracker.list_assignees()
            await self._cache.store(scope, people)
        needle = query.strip().casefold()
        matches = [p for p in people if needle in p.name.casefold() or needle in (p.email or "").casefold()]
        return [Option(label=p.label, value=p.id) for p in matches[: self._limit]]
