import hashlib

from domain.models import Entry, Option
from domain.ports import Entries
from domain.queries import parse_entry_query
from domain.stale_while_revalidate import StaleWhileRevalidate


class SearchEntries:
    """Entries of the database for the link form: by title words, unique ID or pasted Notion link.

    Answers are shared for a few seconds per database and query, so a burst of identical searches (a user
    typing, many users opening one form) costs one Notion query; an entry created since shows up once
    the answer goes stale.
    """

    def __init__(self, *, entries: Entries, results: StaleWhileRevalidate[list[Entry]]) -> None:
        self._entries, self._results = entries, results

    async def __call__(self, text: str) -> list[Option]:
        query = parse_entry_query(text)
        scope = (await self._entries.database()).scope
        digest = hashlib.sha256(query.model_dump_json().encode()).hexdigest()[:32]
        issues = (
            await self._results.get(f"search:{scope}:{digest}", lambda: self._entries.search_entries(query))
        ).value
        return [Option(label=f"{i.identifier} · {i.title}", value=i.page_id) for i in issues]
