from domain.models import Assignee, Option
from domain.ports import IssueTracker
from domain.refresh import Refresher


class ListAssignees:
    """People to assign, matching the query on name or email; the list is cached per workspace and database."""

    def __init__(self, *, tracker: IssueTracker, people: Refresher[list[Assignee]], limit: int = 100) -> None:
        self._tracker, self._people, self._limit = tracker, people, limit

    async def __call__(self, query: str) -> list[Option]:
        scope = (await self._tracker.database()).scope
        people = (await self._people.get(f"assignees:{scope}", self._tracker.list_assignees)).value
        needle = query.strip().casefold()
        matches = [p for p in people if needle in p.name.casefold() or needle in (p.email or "").casefold()]
        return [Option(label=p.label, value=p.id) for p in matches[: self._limit]]
