import asyncio
import contextlib
from collections.abc import Sequence

import structlog

from adapters.notion import wire
from adapters.notion.client import IDEMPOTENT, JSON, SEND_ONCE, NotionApi
from adapters.notion.columns import Columns
from adapters.notion.errors import Unclear
from adapters.notion.schema import NotionSchema, missing_column
from domain.errors import DomainError, TrackerMisconfigured, WriteUnconfirmed
from domain.models import Entry, EntryDraft, Span

log = structlog.get_logger(__name__)


class Pages:
    def __init__(self, api: NotionApi, columns: Columns, *, recovery_delays_s: tuple[float, ...]) -> None:
        self._api, self._columns, self._recovery_delays_s = api, columns, recovery_delays_s

    def entry(self, schema: NotionSchema, page: JSON) -> Entry:
        return wire.issue_from(
            page,
            title_column=schema.title,
            id_column=self._columns.id,
            sentry_column=self._columns.sentry_url,
            data_source_id=schema.data_source_id,
        )

    async def get(self, page_id: str) -> JSON:
        return await self._api.send("GET", f"v1/pages/{page_id}", IDEMPOTENT, missing="page")

    async def set_properties(self, page_id: str, properties: JSON) -> JSON:
        # Setting properties to given values is idempotent, so this write may be retried.
        body = {"properties": properties}
        return await self._api.send("PATCH", f"v1/pages/{page_id}", IDEMPOTENT, json=body, missing="page")

    async def query(
        self, schema: NotionSchema, filter_: JSON | None, sort: JSON, limit: int, properties: Sequence[str] = ()
    ) -> list[JSON]:
        body: JSON = {"sorts": [sort], "page_size": limit} | ({"filter": filter_} if filter_ else {})
        result = await self._api.send(
            "POST",
            f"v1/data_sources/{schema.data_source_id}/query",
            IDEMPOTENT,
            json=body,
            params=[("filter_properties[]", p) for p in properties],
        )
        pages: list[JSON] = result.get("results", [])
        return pages

    async def first_linked(self, schema: NotionSchema, sentry_url: str) -> JSON | None:
        link_filter = {"property": self._columns.sentry_url, "url": {"equals": sentry_url}}
        # The oldest entry is the one created first, should a race ever have made two.
        pages = await self.query(schema, link_filter, {"timestamp": "created_time", "direction": "ascending"}, 1)
        return next((p for p in pages if not p.get("in_trash")), None)

    async def create(self, schema: NotionSchema, draft: EntryDraft) -> Entry:
        first, *rest = list(wire.batches(wire.blocks(draft.body))) or [[]]
        body = {
            "parent": {"type": "data_source_id", "data_source_id": schema.data_source_id},
            "properties": self._properties(schema, draft),
            "children": first,
        }
        try:
            page = await self._api.send("POST", "v1/pages", SEND_ONCE, json=body, unclear=True)
        except Unclear as exc:
            page = await self._recover_create(schema, draft.sentry_url, exc)
        entry = self.entry(schema, page if "properties" in page else await self.get(page["id"]))
        for batch in rest:
            try:
                await self._api.send(
                    "PATCH", f"v1/blocks/{entry.page_id}/children", SEND_ONCE, json={"children": batch}
                )
            except DomainError as exc:
                # The entry exists and carries its Sentry link; a shorter body beats a failed request
                # that the user would repeat.
                log.warning("notion_body_incomplete", page_id=entry.page_id, error=str(exc))
                break
        return entry

    def _properties(self, schema: NotionSchema, draft: EntryDraft) -> JSON:
        properties: JSON = {
            schema.title: {"title": wire.rich_text([Span(text=wire.truncate(draft.title))])},
            self._columns.sentry_url: {"url": draft.sentry_url},
        }
        if draft.assignee_id:
            if not schema.has(self._columns.assignee, "people"):
                raise missing_column(schema, self._columns.assignee, "people", "assignee")
            properties[self._columns.assignee] = {"people": [{"object": "user", "id": draft.assignee_id}]}
        if gone := [name for name in draft.choices if name not in schema.columns]:
            raise TrackerMisconfigured(f"The Notion database {schema.database.title!r} no longer has {gone[0]!r}.")
        return properties | wire.choice_properties(draft.choices, schema.columns)

    async def _recover_create(self, schema: NotionSchema, sentry_url: str, exc: Unclear) -> JSON:
        # Notion may have saved the page it failed to confirm: read, never write again
        # (https://developers.notion.com/reference/request-limits).
        committed = (exc.body.get("additional_data") or {}).get("committed_resource_id")
        if committed:
            log.warning("notion_create_committed", page_id=committed)
            return await self.get(str(committed))
        for delay in self._recovery_delays_s:
            await asyncio.sleep(delay)
            with contextlib.suppress(DomainError):
                if found := await self.first_linked(schema, sentry_url):
                    log.warning("notion_create_recovered", page_id=found["id"])
                    return found
        raise WriteUnconfirmed(
            "Notion did not confirm the new entry in time, and it is not in the database yet. It may still "
            "appear: wait a minute before trying again, and the retry will find it instead of creating another."
        ) from exc
