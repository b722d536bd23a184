from domain.models import Assignee, Option
from domain.ports import People
from domain.stale_while_revalidate import StaleWhileRevalidate


class ListAssignees:
    """People to assign, matching the query on name or email; the list is cached per workspace and database."""

    def __init__(self, *, people: People, assignees: StaleWhileRevalidate[list[Assignee]], limit: int = 100) -> None:
        self._people, self._assignees, self._limit = people, assignees, limit

    async def __call__(self, query: str) -> list[Option]:
        scope = (await self._people.database()).people
        people = (await self._assignees.get(f"assignees:{scope}", self._people.list_assignees)).value
        needle = query.strip().casefold()
        matches = [p for p in people if needle in p.name.casefold() or needle in (p.email or "").casefold()]
        return [Option(label=p.label, value=p.id) for p in matches[: self._limit]]
