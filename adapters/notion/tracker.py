import asyncio
import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import structlog
from aiohttp_retry import RetryClient
from pydantic import BaseModel, ConfigDict

from adapters.http_retry import TRANSIENT, UNSENT, retry_after_s
from adapters.notion import wire
from adapters.notion.client import BLOCKED, IDEMPOTENT, SEND_ONCE, NotionRetry, rate_limit_reason
from adapters.notion.wire import Column, Columns
from domain.errors import (
    DomainError,
    IssueNotFound,
    RateLimited,
    TrackerMisconfigured,
    TrackerUnavailable,
    WriteUnconfirmed,
)
from domain.models import (
    Assignee,
    Block,
    Database,
    Entry,
    EntryDraft,
    EntryQuery,
    EntryState,
    EntryUpdate,
    Finding,
    Span,
    StatusColumn,
)
from domain.ports import IssueTracker
from domain.refresh import Refresher
from domain.sentry_events import sentry_issue_id

log = structlog.get_logger(__name__)
JSON = wire.JSON


class NotionSchema(BaseModel):
    """What the service knows of the database; shared by replicas through the cache."""

    model_config = ConfigDict(frozen=True)

    database: Database
    workspace: str
    data_source_id: str
    title: str
    columns: dict[str, Column]

    def has(self, column: str, kind: str) -> bool:
        return column in self.columns and self.columns[column].type == kind


@dataclass(frozen=True)
class _NotionError:
    status: int
    message: str
    retry_after: float | None
    reason: str = ""


# A write that Notion may or may not have applied.
class _Unclear(Exception):
    def __init__(self, body: Any) -> None:
        super().__init__("unclear outcome")
        self.body: JSON = body if isinstance(body, dict) else {}


class NotionWorkspace(IssueTracker):
    def __init__(
        self,
        client: RetryClient,
        *,
        database_id: str,
        columns: Columns,
        schemas: Refresher[NotionSchema],
        data_source_id: str = "",
        recovery_delays_s: tuple[float, ...] = (0.0, 0.5, 1.5),
    ) -> None:
        self._client, self._database_id, self._columns = client, database_id, columns
        self._schemas, self._wanted_source = schemas, data_source_id
        self._recovery_delays_s = recovery_delays_s

    name = "Notion"
    required = True

    async def database(self) -> Database:
        return (await self._describe()).database

    async def diagnose(self, *, thorough: bool) -> list[Finding]:
        try:
            me = await self._send("GET", "v1/users/me", IDEMPOTENT)
        except RateLimited as exc:
            return [Finding(check="Notion", ok=True, detail=f"answers, but rate limits: {exc.message}")]
        except TrackerUnavailable as exc:
            fix = "Check that this host reaches Notion's API (NOTION_API_BASE_URL) and that Notion is up."
            return [Finding(check="Notion", ok=False, detail=exc.message, fix=fix)]
        except DomainError as exc:
            return [Finding(check="Notion token", ok=False, detail=exc.message)]
        workspace = (me.get("bot") or {}).get("workspace_name") or "?"
        found = [Finding(check="Notion token", ok=True, detail=f"valid: {me.get('name')!r} in workspace {workspace!r}")]
        if not thorough:
            return found
        try:
            schema = await self._discover()
        except DomainError as exc:
            return [*found, Finding(check="Notion database", ok=False, detail=exc.message)]
        detail = f"{schema.database.title!r} is shared with the integration; data source {schema.data_source_id}"
        found.append(Finding(check="Notion database", ok=True, detail=detail))
        wanted: list[tuple[str, str, tuple[str, ...]]] = [
            ("id", self._columns.id, ("unique_id",)),
            ("sentry_url", self._columns.sentry_url, ("url",)),
            ("assignee", self._columns.assignee, ("people",)),
        ]
        if self._columns.status:
            wanted.append(("status", self._columns.status, ("status", "select")))
        wanted += [(key, column, wire.DETAIL_TYPES[key]) for key, column in self._columns.details]
        found += [self._column_finding(schema, key, column, kinds) for key, column, kinds in wanted]
        return found + self._option_findings(schema)

    def _column_finding(self, schema: "NotionSchema", key: str, column: str, kinds: tuple[str, ...]) -> Finding:
        check = f"Column {column!r}"
        actual = schema.columns.get(column)
        if actual is not None and actual.type in kinds:
            shown = ""
            if actual.type == "unique_id":
                shown = f", prefix {actual.prefix!r}" if actual.prefix else ", no prefix"
            elif actual.groups:
                shown = ", groups " + ", ".join(f"{g} ({', '.join(o)})" for g, o in actual.groups.items())
            return Finding(check=check, ok=True, detail=f"{actual.type}{shown}")
        needs = " or ".join(kinds)
        return Finding(
            check=check,
            ok=False,
            detail=f"is {actual.type}, needs {needs}" if actual else f"missing (needs type {needs})",
            fix=f"Add it in Notion, or name the existing column in NOTION_CONFIG column_names.{key}.",
        )

    def _option_findings(self, schema: "NotionSchema") -> list[Finding]:
        column = schema.columns.get(self._columns.status)
        if column is None:
            return []
        return [
            Finding(
                check=f"Status option {name!r}",
                ok=False,
                detail=f"named in NOTION_CONFIG sync.status_options but not an option of {self._columns.status!r}",
                fix=f"Use one of: {', '.join(column.options)}.",
            )
            for name in self._columns.status_options
            if name not in column.options
        ]

    async def create_entry(self, draft: EntryDraft) -> Entry:
        schema = await self._describe()
        properties: JSON = {
            schema.title: {"title": wire.rich_text([Span(text=wire.truncate(draft.title))])},
            self._columns.sentry_url: {"url": draft.sentry_url},
        }
        if draft.assignee_id:
            if not schema.has(self._columns.assignee, "people"):
                raise self._missing_column(schema, self._columns.assignee, "people", "assignee")
            properties[self._columns.assignee] = {"people": [{"object": "user", "id": draft.assignee_id}]}
        first, *rest = list(wire.batches(wire.blocks(draft.body))) or [[]]
        body = {
            "parent": {
                "type": "data_source_id",
                "data_source_id": schema.data_source_id,
            },
            "properties": properties,
        }
        try:
            page = await self._send(
                "POST",
                "v1/pages",
                SEND_ONCE,
                json=body | {"children": first},
                unclear=True,
            )
        except _Unclear as exc:
            page = await self._recover_create(schema, draft.sentry_url, exc)
        issue = self._issue(schema, page if "properties" in page else await self._page(page["id"]))
        for batch in rest:
            try:
                await self._send(
                    "PATCH",
                    f"v1/blocks/{issue.page_id}/children",
                    SEND_ONCE,
                    json={"children": batch},
                )
            except DomainError as exc:
                # The entry exists and carries its Sentry link; a shorter body beats a failed request
                # that the user would repeat.
                log.warning("notion_body_incomplete", page_id=issue.page_id, error=str(exc))
                break
        return issue

    async def _recover_create(self, schema: NotionSchema, sentry_url: str, exc: _Unclear) -> JSON:
        # Notion may have saved the page it failed to confirm: read, never write again
        # (https://developers.notion.com/reference/request-limits).
        committed = (exc.body.get("additional_data") or {}).get("committed_resource_id")
        if committed:
            log.warning("notion_create_committed", page_id=committed)
            return await self._page(str(committed))
        for delay in self._recovery_delays_s:
            await asyncio.sleep(delay)
            with contextlib.suppress(DomainError):
                if found := await self._query_by_sentry_url(schema, sentry_url):
                    log.warning("notion_create_recovered", page_id=found["id"])
                    return found
        raise WriteUnconfirmed(
            "Notion did not confirm the new entry in time, and it is not in the database yet. It may still "
            "appear: wait a minute before trying again, and the retry will find it instead of creating another."
        ) from exc

    async def find_by_sentry_url(self, sentry_url: str) -> Entry | None:
        schema = await self._describe()
        page = await self._query_by_sentry_url(schema, sentry_url)
        return self._issue(schema, page) if page else None

    async def _query_by_sentry_url(self, schema: NotionSchema, sentry_url: str) -> JSON | None:
        link_filter = {"property": self._columns.sentry_url, "url": {"equals": sentry_url}}
        # The oldest entry is the one created first, should a race ever have made two.
        pages = await self._query(schema, link_filter, {"timestamp": "created_time", "direction": "ascending"}, 1)
        return next((p for p in pages if not p.get("in_trash")), None)

    async def get_entry(self, page_id: str) -> Entry:
        schema = await self._describe()
        return self._issue(schema, await self._page(page_id))

    async def set_sentry_link(self, page_id: str, sentry_url: str) -> Entry:
        schema = await self._describe()
        body = {"properties": {self._columns.sentry_url: {"url": sentry_url}}}
        # Setting a property to a fixed value is idempotent, so this write may be retried.
        page = await self._send(
            "PATCH",
            f"v1/pages/{page_id}",
            IDEMPOTENT,
            json=body,
            missing="page",
        )
        return self._issue(schema, page)

    async def append(self, page_id: str, blocks: Sequence[Block]) -> None:
        for batch in wire.batches(wire.blocks(blocks)):
            await self._send(
                "PATCH",
                f"v1/blocks/{page_id}/children",
                SEND_ONCE,
                json={"children": batch},
                missing="page",
            )

    async def mentions(self, page_id: str, url: str) -> bool:
        cursor: str | None = None
        for _ in range(10):  # notes are appended at the end of short pages; 1,000 blocks is plenty
            params = {"page_size": "100"} | ({"start_cursor": cursor} if cursor else {})
            result = await self._send("GET", f"v1/blocks/{page_id}/children", IDEMPOTENT, params=params, missing="page")
            if any(url in wire.links(block) for block in result.get("results", [])):
                return True
            cursor = result.get("next_cursor")
            if not result.get("has_more") or not cursor:
                break
        return False

    async def search_entries(self, query: EntryQuery) -> list[Entry]:
        schema = await self._describe()
        if query.page_id:
            try:
                issue = await self.get_entry(query.page_id)
            except IssueNotFound:
                return []
            return [issue] if issue.in_database else []
        conditions: list[JSON] = [{"property": schema.title, "title": {"contains": w}} for w in query.words[:10]]
        title_filter: JSON | None = {"and": conditions} if len(conditions) > 1 else next(iter(conditions), None)
        number = query.number
        prefix = schema.columns[self._columns.id].prefix
        if number is not None and query.prefix and (prefix or "").lower() != query.prefix:
            number = None
        # The entry with that ID goes first however long ago it was edited, so it gets its own query.
        by_title, by_id = await asyncio.gather(
            self._recent(schema, title_filter, query.limit),
            self._recent(schema, self._number_filter(number), 1) if number is not None else _nothing(),
        )
        # Notion does not document whether `contains` ignores case: check every match ourselves.
        words = [w.casefold() for w in query.words]
        exact = [i for i in by_id if i.identifier.rsplit("-", 1)[-1] == str(number)]
        rest = [i for i in by_title if i not in exact and all(w in i.title.casefold() for w in words)]
        return [i for i in exact + rest if i.in_database][: query.limit]

    async def _recent(self, schema: NotionSchema, filter_: JSON | None, limit: int) -> list[Entry]:
        newest_first = {"timestamp": "last_edited_time", "direction": "descending"}
        shown = (schema.title, self._columns.id, self._columns.sentry_url)
        ids = [schema.columns[c].id for c in shown if c in schema.columns]
        pages = await self._query(schema, filter_, newest_first, limit, properties=ids)
        return [self._issue(schema, p) for p in pages]

    async def _query(
        self, schema: NotionSchema, filter_: JSON | None, sort: JSON, limit: int, properties: Sequence[str] = ()
    ) -> list[JSON]:
        body: JSON = {"sorts": [sort], "page_size": limit} | ({"filter": filter_} if filter_ else {})
        result = await self._send(
            "POST",
            f"v1/data_sources/{schema.data_source_id}/query",
            IDEMPOTENT,
            json=body,
            params=[("filter_properties[]", p) for p in properties],
        )
        pages: list[JSON] = result.get("results", [])
        return pages

    def _number_filter(self, number: int | None) -> JSON | None:
        return None if number is None else {"property": self._columns.id, "unique_id": {"equals": number}}

    async def list_assignees(self) -> list[Assignee]:
        users: list[JSON] = []
        cursor: str | None = None
        while True:
            params = {"page_size": "100"} | ({"start_cursor": cursor} if cursor else {})
            result = await self._send("GET", "v1/users", IDEMPOTENT, params=params)
            users.extend(result.get("results", []))
            cursor = result.get("next_cursor")
            if not result.get("has_more") or not cursor:
                return wire.assignees(users)

    async def linked_entries(self) -> list[Entry]:
        schema = await self._describe()
        linked = {"property": self._columns.sentry_url, "url": {"is_not_empty": True}}
        oldest_first = {"timestamp": "created_time", "direction": "ascending"}
        entries: list[Entry] = []
        cursor: str | None = None
        while True:
            body: JSON = {"filter": linked, "sorts": [oldest_first], "page_size": 100}
            if cursor:
                body["start_cursor"] = cursor
            result = await self._send("POST", f"v1/data_sources/{schema.data_source_id}/query", IDEMPOTENT, json=body)
            entries += [i for i in (self._issue(schema, p) for p in result.get("results", [])) if i.in_database]
            cursor = result.get("next_cursor")
            if not result.get("has_more") or not cursor:
                return entries

    async def find_by_sentry_issue(self, issue_id: str) -> Entry | None:
        schema = await self._describe()
        link_filter = {"property": self._columns.sentry_url, "url": {"contains": f"/issues/{issue_id}"}}
        pages = await self._query(schema, link_filter, {"timestamp": "created_time", "direction": "ascending"}, 10)
        # `contains` also matches /issues/42420 for 4242: check the id itself.
        issues = [self._issue(schema, p) for p in pages]
        return next((i for i in issues if i.in_database and sentry_issue_id(i.sentry_url) == issue_id), None)

    async def status_column(self) -> StatusColumn | None:
        schema = await self._describe()
        column = schema.columns.get(self._columns.status) if self._columns.status else None
        if column is None or column.type not in ("status", "select"):
            return None
        kind: Literal["status", "select"] = "status" if column.type == "status" else "select"
        return StatusColumn(name=self._columns.status, kind=kind, options=column.options, groups=column.groups)

    async def detail_columns(self) -> frozenset[str]:
        schema = await self._describe()
        return frozenset(key for key, column in self._columns.details if column in schema.columns)

    async def entry_state(self, page_id: str) -> EntryState:
        schema = await self._describe()
        page = await self._page(page_id)
        return wire.entry_state(page, schema.columns, self._columns)

    async def update_entry(self, page_id: str, update: EntryUpdate) -> None:
        schema = await self._describe()
        properties = wire.entry_properties(update, schema.columns, self._columns)
        if properties:
            # Setting properties to given values is idempotent, so this write may be retried.
            await self._send(
                "PATCH", f"v1/pages/{page_id}", IDEMPOTENT, json={"properties": properties}, missing="page"
            )

    async def add_comment(self, page_id: str, text: str, author: str) -> str:
        body = {"parent": {"page_id": page_id}} | _comment(text, author)
        comment = await self._send("POST", "v1/comments", SEND_ONCE, json=body, missing="page")
        return str(comment["id"])

    async def find_comments(self, page_id: str, text: str, author: str) -> list[str]:
        shown = _comment(text, author)
        found: list[str] = []
        cursor: str | None = None
        for _ in range(10):  # a thousand comments are plenty to look through on one entry
            params = {"block_id": page_id, "page_size": "100"} | ({"start_cursor": cursor} if cursor else {})
            result = await self._send("GET", "v1/comments", IDEMPOTENT, params=params, missing="page")
            for comment in result.get("results", []):
                same_author = (comment.get("display_name") or {}).get("resolved_name") == shown["display_name"][
                    "custom"
                ]["name"]
                if same_author and wire.plain(comment.get("rich_text") or []) == text:
                    found.append(str(comment["id"]))
            cursor = result.get("next_cursor")
            if not result.get("has_more") or not cursor:
                break
        return found

    async def edit_comment(self, comment_id: str, text: str) -> None:
        # Notion changes only the content of a comment; its author stays as it was written.
        body = {"rich_text": _comment(text, "")["rich_text"]}
        await self._send("PATCH", f"v1/comments/{comment_id}", IDEMPOTENT, json=body, missing="page")

    async def delete_comment(self, comment_id: str) -> None:
        with contextlib.suppress(IssueNotFound):  # already gone
            await self._send("DELETE", f"v1/comments/{comment_id}", IDEMPOTENT, missing="page")

    async def _page(self, page_id: str) -> JSON:
        return await self._send("GET", f"v1/pages/{page_id}", IDEMPOTENT, missing="page")

    def _issue(self, schema: NotionSchema, page: JSON) -> Entry:
        return wire.issue_from(
            page,
            title_column=schema.title,
            id_column=self._columns.id,
            sentry_column=self._columns.sentry_url,
            data_source_id=schema.data_source_id,
        )

    async def _describe(self) -> NotionSchema:
        schema = (await self._schemas.get(self._schema_key(), self._discover)).value
        for column, kind, key in (
            (self._columns.sentry_url, "url", "sentry_url"),
            (self._columns.id, "unique_id", "id"),
        ):
            if not schema.has(column, kind):
                raise self._missing_column(schema, column, kind, key)
        return schema

    def _schema_key(self) -> str:
        # Deployments sharing a Redis may read one database with different settings.
        setup = f"{self._database_id}|{self._wanted_source}|{self._columns}"
        return f"schema:{hashlib.sha256(setup.encode()).hexdigest()[:16]}"

    async def _discover(self) -> NotionSchema:
        database, me = await asyncio.gather(
            self._send("GET", f"v1/databases/{self._database_id}", IDEMPOTENT, missing="database"),
            self._send("GET", "v1/users/me", IDEMPOTENT),
        )
        title = wire.plain(database.get("title") or []) or "Notion"
        sources = [str(s["id"]) for s in database.get("data_sources", [])]
        wanted = self._wanted_source or (sources[0] if sources else "")
        if wanted not in sources:
            raise TrackerMisconfigured(
                f"The Notion database {title!r} has no data source {wanted or '(none)'}; "
                f"set NOTION_CONFIG data_source_id to one of: {', '.join(sources) or 'none'}."
            )
        if len(sources) > 1 and not self._wanted_source:
            log.warning("notion_multiple_data_sources", using=wanted, available=sources)
        source = await self._send("GET", f"v1/data_sources/{wanted}", IDEMPOTENT, missing="database")
        props: dict[str, JSON] = source.get("properties", {})
        bot: JSON = me.get("bot") or {}
        return NotionSchema(
            database=Database(
                title=title, scope=f"{bot.get('workspace_id') or 'workspace'}:{self._database_id.replace('-', '')}"
            ),
            workspace=str(bot.get("workspace_name") or ""),
            data_source_id=wanted,
            title=next((name for name, p in props.items() if p.get("type") == "title"), "title"),
            columns={
                name: Column(
                    id=str(p.get("id", name)),
                    type=str(p.get("type", "")),
                    prefix=(p.get("unique_id") or {}).get("prefix") if p.get("type") == "unique_id" else None,
                    **wire.choices(p),
                )
                for name, p in props.items()
            },
        )

    def _missing_column(self, schema: NotionSchema, column: str, kind: str, key: str) -> TrackerMisconfigured:
        return TrackerMisconfigured(
            f"The Notion database {schema.database.title!r} needs a column {column!r} of type {kind}. "
            f"Add it in Notion, or name the existing column in NOTION_CONFIG column_names.{key}."
        )

    async def _send(
        self,
        method: str,
        path: str,
        retry: NotionRetry,
        *,
        missing: str = "",
        json: JSON | None = None,
        params: Any = None,
        unclear: bool = False,
    ) -> JSON:
        try:
            async with self._client.request(method, path, retry_options=retry, json=json, params=params) as resp:
                status = resp.status
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
                if status < 300 and isinstance(body, dict):
                    return body
                if unclear and status in TRANSIENT:
                    raise _Unclear(body)
                error = _NotionError(
                    status, wire.error_message(body), retry_after_s(resp), await rate_limit_reason(resp)
                )
        except (TimeoutError, aiohttp.ClientError) as exc:
            if unclear and not isinstance(exc, UNSENT):
                raise _Unclear(None) from exc
            raise TrackerUnavailable(
                "Notion did not answer in time; try again."
                if isinstance(exc, asyncio.TimeoutError)
                else "Could not reach Notion; try again."
            ) from exc
        failure = self._translate(error, missing)
        if isinstance(failure, TrackerMisconfigured) and error.status in (400, 404):
            # A renamed column or data source makes the cached schema wrong: look again next time.
            await self._schemas.expire(self._schema_key())
        raise failure

    def _translate(self, error: _NotionError, missing: str) -> DomainError:
        detail = f" Notion said: {error.message}" if error.message else ""
        if error.reason == BLOCKED:
            return TrackerMisconfigured(
                "Notion has blocked requests from this integration; waiting will not help. Contact Notion support."
            )
        if error.status in (429, 529):
            wait = error.retry_after or 60.0
            return RateLimited(
                f"Notion is rate limiting this integration; try again in {wait:.0f} seconds.",
                wait,
            )
        if error.status == 401:
            return TrackerMisconfigured(
                "Notion rejected the integration token (NOTION_TOKEN); "
                "create a new one in Notion's integration settings."
            )
        if error.status == 403:
            return TrackerMisconfigured(
                f"The Notion integration lacks a capability for this.{detail} "
                "Check its Capabilities in Notion's integration settings."
            )
        if (error.status == 404 and missing == "database") or (error.status == 400 and missing == "database"):
            return TrackerMisconfigured(
                f"Notion cannot find database {self._database_id}. Share the database with the integration: "
                "open it in Notion, ••• → Connections → add the integration."
            )
        bad_id = error.status == 400 and error.message.startswith("path failed validation")
        if missing == "page" and (error.status == 404 or bad_id):
            return IssueNotFound("No entry with that ID is shared with the Notion integration.")
        if error.status == 400:
            return TrackerMisconfigured(f"Notion rejected the request.{detail}")
        if error.status == 409:
            return TrackerUnavailable("Notion reported a conflicting edit; try again.")
        return TrackerUnavailable(f"Notion is unavailable (HTTP {error.status}); try again shortly.")


def _comment(text: str, author: str) -> JSON:
    # Shown as written by the Sentry user, not by the integration
    # (https://developers.notion.com/reference/create-a-comment, display_name).
    name = wire.truncate(f"{author} (Sentry)", 100)
    display = {"type": "custom", "custom": {"name": name}}
    return {"rich_text": wire.rich_text([Span(text=text)])[:100], "display_name": display}


async def _nothing() -> list[Entry]:
    return []
