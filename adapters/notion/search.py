import asyncio

from adapters.notion.client import JSON
from adapters.notion.columns import Columns
from adapters.notion.pages import Pages
from adapters.notion.schema import NotionSchema
from domain.errors import IssueNotFound
from domain.models import Entry, EntryQuery


async def search(pages: Pages, schema: NotionSchema, columns: Columns, query: EntryQuery) -> list[Entry]:
    if query.page_id:
        try:
            entry = pages.entry(schema, await pages.get(query.page_id))
        except IssueNotFound:
            return []
        return [entry] if entry.in_database else []
    conditions: list[JSON] = [{"property": schema.title, "title": {"contains": w}} for w in query.words[:10]]
    title_filter: JSON | None = {"and": conditions} if len(conditions) > 1 else next(iter(conditions), None)
    number = query.number
    prefix = schema.columns[columns.id].prefix
    if number is not None and query.prefix and (prefix or "").lower() != query.prefix:
        number = None
    # The entry with that ID goes first however long ago it was edited, so it gets its own query.
    by_title, by_id = await asyncio.gather(
        _recent(pages, schema, columns, title_filter, query.limit),
        _recent(pages, schema, columns, _number_filter(columns, number), 1) if number is not None else _nothing(),
    )
    # Notion does not document whether `contains` ignores case: check every match ourselves.
    words = [w.casefold() for w in query.words]
    exact = [i for i in by_id if i.identifier.rsplit("-", 1)[-1] == str(number)]
    rest = [i for i in by_title if i not in exact and all(w in i.title.casefold() for w in words)]
    return [i for i in exact + rest if i.in_database][: query.limit]


async def _recent(
    pages: Pages, schema: NotionSchema, columns: Columns, filter_: JSON | None, limit: int
) -> list[Entry]:
    newest_first = {"timestamp": "last_edited_time", "direction": "descending"}
    shown = (schema.title, columns.id, columns.sentry_url)
    ids = [schema.columns[c].id for c in shown if c in schema.columns]
    found = await pages.query(schema, filter_, newest_first, limit, properties=ids)
    return [pages.entry(schema, p) for p in found]


def _number_filter(columns: Columns, number: int | None) -> JSON | None:
    return None if number is None else {"property": columns.id, "unique_id": {"equals": number}}


async def _nothing() -> list[Entry]:
    return []
