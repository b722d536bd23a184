import contextlib
import time
from collections.abc import Awaitable, Sequence
from typing import Literal

from aiohttp_retry import RetryClient

from adapters.notion import wire
from adapters.notion.client import IDEMPOTENT, JSON, NOTION_API, SEND_ONCE, NotionApi
from adapters.notion.columns import Columns
from adapters.notion.comments import Comments
from adapters.notion.errors import MissingCapability
from adapters.notion.pages import Pages
from adapters.notion.schema import NotionSchema, Schemas
from adapters.notion.search import search
from domain.errors import DomainError, StoreUnavailable
from domain.models import (
    Assignee,
    Block,
    Cached,
    ChoiceColumn,
    Database,
    Entry,
    EntryDraft,
    EntryQuery,
    EntrySnapshot,
    EntryState,
    EntryUpdate,
    Finding,
    NotionComment,
    StatusColumn,
    SyncPolicy,
)
from domain.ports import Cache, Workspace
from domain.sentry_events import sentry_issue_id
from domain.stale_while_revalidate import StaleWhileRevalidate

CAPABILITIES = "Settings → Connections → Develop or manage integrations → your integration → Capabilities"


class NotionWorkspace(Workspace):
    def __init__(
        self,
        client: RetryClient,
        *,
        database_id: str,
        columns: Columns,
        schemas: StaleWhileRevalidate[NotionSchema],
        data_source_id: str = "",
        recovery_delays_s: tuple[float, ...] = (0.0, 0.5, 1.5),
        base_url: str = NOTION_API,
        sync: SyncPolicy | None = None,
        from_notion: bool = False,
        name: str = "",
        seen: Cache[JSON] | None = None,
    ) -> None:
        # `sync` and `from_notion` (whether Notion's events are accepted) say which capabilities check asks for;
        # without `sync`, only the database. `name`: the configured name, when there are several databases; it
        # stands for Notion's title and labels each of check's findings. `seen`: the pages last read or written
        # by page id, given only when Notion's events are applied, so that each change in Notion is read again.
        self._name, self._seen = name, seen
        self.name = f"Notion {name}" if name else "Notion"
        # A refused request may come from a renamed column or data source: the cached schema is read again.
        self._api = NotionApi(
            client, database_id=database_id, on_misconfigured=lambda: self._schemas.expire(), base_url=base_url
        )
        self._sync, self._from_notion = sync, from_notion
        self._schemas = Schemas(
            self._api, schemas, database_id=database_id, data_source_id=data_source_id, columns=columns
        )
        self._pages = Pages(self._api, columns, recovery_delays_s=recovery_delays_s)
        self._comments = Comments(self._api)
        self._columns = columns

    required = True

    async def database(self) -> Database:
        database = (await self._schemas.describe()).database
        return database.model_copy(update={"title": self._name}) if self._name else database

    async def diagnose(self, *, thorough: bool) -> list[Finding]:
        found = await self._schemas.diagnose(thorough=thorough)
        if thorough and self._sync and any(f.check == "Notion database" and f.ok for f in found):
            to_notion, to_sentry = self._sync.comments, self._sync.comments_to_sentry and self._from_notion
            if to_notion or to_sentry:
                found.append(await self._comments_finding(to_notion=to_notion, to_sentry=to_sentry))
            if self._sync.assignee:
                found.append(await self._emails_finding())
        if self._name:
            return [f.model_copy(update={"check": f"{self._name} · {f.check}"}) for f in found]
        return found

    async def _comments_finding(self, *, to_notion: bool, to_sentry: bool) -> Finding:
        # Reading an entry's comments shows whether *Read comments* is on: Notion answers 403 without it. No
        # request shows *Insert comments* short of writing a comment, which check must not do; only Sentry
        # comments need it (they are written to Notion), Notion comments are only read.
        check = "Notion comments"
        wanted = "Read comments and Insert comments" if to_notion else "Read comments"
        enable = f"{wanted} in the integration's Capabilities (Notion: {CAPABILITIES})"
        try:
            source = (await self._schemas.discover()).data_source_id
            pages = await self._api.send(
                "POST", f"v1/data_sources/{source}/query", IDEMPOTENT, json={"page_size": 1}, missing="database"
            )
            first = next(iter(pages.get("results") or ()), None)
            if first is None:
                return Finding(
                    check=check,
                    ok=True,
                    detail="not checked: the database has no entry to read comments of",
                    fix=f"Enable {enable}; run check again once an entry exists.",
                )
            await self._api.send(
                "GET", "v1/comments", IDEMPOTENT, params={"block_id": str(first["id"]), "page_size": "1"}
            )
        except MissingCapability:
            lost = [("Sentry comments cannot reach Notion", "sync.comments")] if to_notion else []
            lost += [("Notion comments cannot reach Sentry", "sync.comments_to_sentry")] if to_sentry else []
            return Finding(
                check=check,
                ok=False,
                detail="the integration may not read comments, so " + " and ".join(what for what, _ in lost),
                fix=f"Enable {enable}, or set NOTION_CONFIG {' and '.join(key for _, key in lost)} to false.",
                rules_out=frozenset({"notion_comments"}),
                because="the integration lacks Notion's Read comments",
            )
        except DomainError as exc:
            return Finding(check=check, ok=False, detail=f"not checked: {exc.message}")
        if not to_notion:
            return Finding(check=check, ok=True, detail="Read comments is on")
        return Finding(
            check=check,
            ok=True,
            detail="Read comments is on; Insert comments cannot be checked without writing a comment",
            fix=f"Make sure Insert comments is on too (Notion: {CAPABILITIES}).",
        )

    async def _emails_finding(self) -> Finding:
        # Assignees are matched by email both ways. Listing users takes the *Read user information* capability
        # (403 without it), and people carry `person.email` only when it includes email addresses
        # (https://developers.notion.com/reference/get-users).
        check = "Notion user emails"
        fix = (
            "Enable Read user information including email addresses in the integration's Capabilities "
            f"(Notion: {CAPABILITIES}), or set NOTION_CONFIG sync.assignee to false."
        )
        try:
            users = await self._api.send("GET", "v1/users", IDEMPOTENT, params={"page_size": "100"})
        except MissingCapability:
            return Finding(
                check=check,
                ok=False,
                detail="the integration may not read users, so assignees cannot be matched with Sentry's",
                fix=fix,
                rules_out=frozenset({"notion_emails"}),
                because="the integration lacks Notion's Read user information",
            )
        except DomainError as exc:
            return Finding(check=check, ok=False, detail=f"not checked: {exc.message}")
        people = [u for u in users.get("results") or () if isinstance(u, dict) and u.get("type") == "person"]
        if not people:
            return Finding(check=check, ok=True, detail="not checked: Notion lists no person in the workspace")
        if any((person.get("person") or {}).get("email") for person in people):
            return Finding(check=check, ok=True, detail="the integration reads people's emails, to match assignees")
        return Finding(
            check=check,
            ok=False,
            detail="the integration reads users without their emails, so assignees cannot be matched with Sentry's",
            fix=fix,
            rules_out=frozenset({"notion_emails"}),
            because="the integration reads no email addresses in Notion",
        )

    async def create_entry(self, draft: EntryDraft) -> Entry:
        return await self._pages.create(await self._schemas.describe(), draft)

    async def find_by_sentry_url(self, sentry_url: str) -> Entry | None:
        schema = await self._schemas.describe()
        page = await self._pages.first_linked(schema, sentry_url)
        return self._pages.entry(schema, page) if page else None

    async def get_entry(self, page_id: str) -> Entry:
        schema = await self._schemas.describe()
        return self._pages.entry(schema, await self._pages.get(page_id))

    async def set_sentry_link(self, page_id: str, sentry_url: str) -> Entry:
        schema = await self._schemas.describe()
        try:
            page = await self._pages.set_properties(page_id, {self._columns.sentry_url: {"url": sentry_url}})
        finally:
            # Not kept: linking holds the issue's lock, not the entry's, so a sync of the entry may have written
            # it meanwhile and kept a newer answer than this one. Redis failing here fails no link: what stays seen
            # differs from the page in its Sentry Link alone.
            with contextlib.suppress(StoreUnavailable):
                await self.forget_seen(page_id)
        return self._pages.entry(schema, page)

    async def append(self, page_id: str, blocks: Sequence[Block]) -> None:
        for batch in wire.batches(wire.blocks(blocks)):
            await self._api.send(
                "PATCH", f"v1/blocks/{page_id}/children", SEND_ONCE, json={"children": batch}, missing="page"
            )

    async def mentions(self, page_id: str, url: str) -> bool:
        # Notes are appended at the end of short pages; 1,000 blocks is plenty.
        blocks = self._api.paginate("GET", f"v1/blocks/{page_id}/children", missing="page", pages=10)
        async for block in blocks:
            if url in wire.links(block):
                return True
        return False

    async def search_entries(self, query: EntryQuery) -> list[Entry]:
        return await search(self._pages, await self._schemas.describe(), self._columns, query)

    async def list_assignees(self) -> list[Assignee]:
        return wire.assignees([user async for user in self._api.paginate("GET", "v1/users")])

    async def linked_entries(self) -> list[Entry]:
        schema = await self._schemas.describe()
        linked = {"property": self._columns.sentry_url, "url": {"is_not_empty": True}}
        oldest_first = {"timestamp": "created_time", "direction": "ascending"}
        body = {"filter": linked, "sorts": [oldest_first]}
        pages = self._api.paginate("POST", f"v1/data_sources/{schema.data_source_id}/query", json=body)
        return [entry async for page in pages if (entry := self._pages.entry(schema, page)).in_database]

    async def find_by_sentry_issue(self, issue_id: str) -> Entry | None:
        schema = await self._schemas.describe()
        link_filter = {"property": self._columns.sentry_url, "url": {"contains": f"/issues/{issue_id}"}}
        pages = await self._pages.query(
            schema, link_filter, {"timestamp": "created_time", "direction": "ascending"}, 10
        )
        # `contains` also matches /issues/42420 for 4242: check the id itself.
        entries = [self._pages.entry(schema, p) for p in pages]
        return next((e for e in entries if e.in_database and sentry_issue_id(e.sentry_url) == issue_id), None)

    async def status_column(self) -> StatusColumn | None:
        schema = await self._schemas.describe()
        column = schema.columns.get(self._columns.status) if self._columns.status else None
        if column is None or column.type not in ("status", "select"):
            return None
        kind: Literal["status", "select"] = "status" if column.type == "status" else "select"
        return StatusColumn(
            name=self._columns.status, id=column.id, kind=kind, options=column.options, groups=column.groups
        )

    async def assignee_column_id(self) -> str | None:
        column = (await self._schemas.describe()).columns.get(self._columns.assignee)
        return column.id if column is not None and column.type == "people" else None

    async def choice_columns(self) -> dict[str, ChoiceColumn]:
        schema = await self._schemas.describe()
        return {
            name: ChoiceColumn.model_validate({"name": name, "kind": column.type, "options": column.options})
            for name, column in schema.columns.items()
            if column.type in ("status", "select", "multi_select")
        }

    async def detail_columns(self) -> frozenset[str]:
        schema = await self._schemas.describe()
        return frozenset(key for key, column in self._columns.details if column in schema.columns)

    async def entry_state(self, page_id: str) -> EntryState:
        schema = await self._schemas.describe()
        return wire.entry_state(await self._pages.get(page_id), schema.columns, self._columns)

    async def forget_schema(self) -> None:
        await self._schemas.reread()

    async def snapshot(self, page_id: str) -> EntrySnapshot:
        schema = await self._schemas.describe()
        return self._snapshot(schema, await self._seeing(schema, page_id, self._pages.get(page_id)))

    async def last_seen(self, page_id: str) -> EntrySnapshot | None:
        if self._seen is None or (seen := await self._seen.load(_key(page_id))) is None:
            return None
        # A page's JSON names its properties and options, and gives each value the type its column had: once a
        # column or option is renamed or retyped, the page is read again rather than misread.
        schema, page = await self._schemas.describe(), seen.value.get("page")
        if seen.value.get("schema") != schema.fingerprint() or not isinstance(page, dict):
            return None
        return self._snapshot(schema, page)

    async def forget_seen(self, page_id: str) -> None:
        if self._seen is not None:
            await self._seen.forget(_key(page_id))

    async def update_entry(self, page_id: str, update: EntryUpdate) -> None:
        schema = await self._schemas.describe()
        if properties := wire.entry_properties(update, schema.columns, self._columns):
            await self._seeing(schema, page_id, self._pages.set_properties(page_id, properties))

    def _snapshot(self, schema: NotionSchema, page: JSON) -> EntrySnapshot:
        return wire.snapshot(
            self._pages.entry(schema, page), page, schema.columns, self._columns, schema.data_source_id
        )

    async def _seeing(self, schema: NotionSchema, page_id: str, call: Awaitable[JSON]) -> JSON:
        # Notion answers a read and a write of a page with the whole page as it is now (a token that may not read
        # content gets its id alone, which tells nothing).
        try:
            page = await call
        except DomainError:
            # Gone, refused, in conflict or maybe written: whatever was seen no longer tells. The call's own error
            # says more than Redis failing to forget it.
            with contextlib.suppress(StoreUnavailable):
                await self.forget_seen(page_id)
            raise
        if self._seen is not None and "properties" in page:
            kept = {"schema": schema.fingerprint(), "page": page}
            await self._seen.store(_key(page_id), Cached[JSON](value=kept, fetched_at=time.time()))
        else:
            await self.forget_seen(page_id)
        return page

    async def add_comment(self, page_id: str, text: str, author: str) -> str:
        return await self._comments.add(page_id, text, author)

    async def find_comments(self, page_id: str, text: str, author: str) -> list[str]:
        return await self._comments.find(page_id, text, author)

    async def edit_comment(self, comment_id: str, text: str) -> None:
        await self._comments.edit(comment_id, text)

    async def delete_comment(self, comment_id: str) -> None:
        await self._comments.delete(comment_id)

    async def read_comment(self, comment_id: str) -> NotionComment | None:
        return await self._comments.read(comment_id)

    async def bot_id(self) -> str:
        # Read with the schema, so knowing it costs no call of its own.
        if bot_id := (await self._schemas.describe()).bot_id:
            return bot_id
        return str((await self._api.send("GET", "v1/users/me", IDEMPOTENT))["id"])


def _key(page_id: str) -> str:
    # Notion writes ids with or without dashes; an event and an API answer name the same page either way.
    return page_id.replace("-", "").lower()
