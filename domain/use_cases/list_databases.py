from domain.models import Option
from domain.ports import Entries


class ListDatabases:
    """The configured Notion databases whose title matches the query, for the alert rule's database select."""

    def __init__(self, *, entries: Entries, database_ids: tuple[str, ...]) -> None:
        self._entries, self._database_ids = entries, database_ids

    async def __call__(self, query: str) -> list[Option]:
        # One database is configured for now: its id stands for it, so rules keep working once there are several.
        title = (await self._entries.database()).title
        if query.strip().casefold() not in title.casefold():
            return []
        return [Option(label=title, value=self._database_ids[0])]
