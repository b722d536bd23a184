import asyncio
import hashlib
import json
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict

from adapters.notion import wire
from adapters.notion.client import IDEMPOTENT, JSON, NotionApi
from adapters.notion.columns import DETAIL_TYPES, Column, Columns
from domain.errors import DomainError, RateLimited, TrackerMisconfigured, TrackerUnavailable
from domain.models import Database, Finding, FormColumn
from domain.stale_while_revalidate import StaleWhileRevalidate

log = structlog.get_logger(__name__)
# Part of the cache key: a schema cached by a version that read no multi-select options is read anew.
SCHEMA_VERSION = 2


class NotionSchema(BaseModel):
    """What the service knows of the database; shared by replicas through the cache."""

    model_config = ConfigDict(frozen=True)

    database: Database
    workspace: str
    data_source_id: str
    title: str
    columns: dict[str, Column]
    bot_id: str = ""  # the bot user the token acts as; empty in schemas cached by older versions

    def has(self, column: str, kind: str) -> bool:
        return column in self.columns and self.columns[column].type == kind

    def fingerprint(self) -> str:
        """The columns' names, ids, types and options: what a page's JSON is read by."""
        shape = sorted((name, column.id, column.type, column.options) for name, column in self.columns.items())
        return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


class Schemas:
    def __init__(
        self,
        api: NotionApi,
        schemas: StaleWhileRevalidate[NotionSchema],
        *,
        database_id: str,
        data_source_id: str,
        columns: Columns,
    ) -> None:
        self._api, self._schemas, self._columns = api, schemas, columns
        self._database_id, self._wanted_source = database_id, data_source_id

    async def describe(self) -> NotionSchema:
        schema = (await self._schemas.get(self._key(), self.discover)).value
        for column, kind, key in (
            (self._columns.sentry_url, "url", "sentry_url"),
            (self._columns.id, "unique_id", "id"),
        ):
            if not schema.has(column, kind):
                raise missing_column(schema, column, kind, key)
        return schema

    async def expire(self) -> None:
        await self._schemas.expire(self._key())

    async def reread(self) -> None:
        await self._schemas.renew(self._key(), self.discover)

    def _key(self) -> str:
        # Deployments sharing a Redis may read one database with different settings.
        setup = f"{SCHEMA_VERSION}|{self._database_id}|{self._wanted_source}|{self._columns}"
        return f"schema:{hashlib.sha256(setup.encode()).hexdigest()[:16]}"

    async def discover(self) -> NotionSchema:
        database, me = await asyncio.gather(
            self._api.send("GET", f"v1/databases/{self._database_id}", IDEMPOTENT, missing="database"),
            self._api.send("GET", "v1/users/me", IDEMPOTENT),
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
        source = await self._api.send("GET", f"v1/data_sources/{wanted}", IDEMPOTENT, missing="database")
        props: dict[str, JSON] = source.get("properties", {})
        bot: JSON = me.get("bot") or {}
        return NotionSchema(
            database=Database(
                title=title,
                scope=f"{bot.get('workspace_id') or 'workspace'}:{self._database_id.replace('-', '')}",
                workspace=str(bot.get("workspace_id") or ""),
                data_source_id=wanted,
            ),
            workspace=str(bot.get("workspace_name") or ""),
            bot_id=str(me.get("id") or ""),
            data_source_id=wanted,
            title=next((name for name, p in props.items() if p.get("type") == "title"), "title"),
            columns={
                name: Column(
                    id=str(p.get("id", name)),
                    type=str(p.get("type", "")),
                    prefix=(p.get("unique_id") or {}).get("prefix") if p.get("type") == "unique_id" else None,
                    **_choices(p),
                )
                for name, p in props.items()
            },
        )

    async def diagnose(self, *, thorough: bool) -> list[Finding]:
        try:
            me = await self._api.send("GET", "v1/users/me", IDEMPOTENT)
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
            schema = await self.discover()
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
        wanted += [(key, column, DETAIL_TYPES[key]) for key, column in self._columns.details]
        found += [_column_finding(schema, key, column, kinds) for key, column, kinds in wanted]
        checked = {column for _, column, _ in wanted}
        found += [_form_finding(schema, c) for c in self._columns.form if c.name not in checked]
        return found + self._option_findings(schema)

    def _option_findings(self, schema: NotionSchema) -> list[Finding]:
        column = schema.columns.get(self._columns.status)
        if column is None:
            return []
        return [
            Finding(
                check=f"Status option {name!r}",
                ok=False,
                detail=f"named in NOTION_CONFIG {setting} but not an option of {self._columns.status!r}",
                fix=f"Use one of: {', '.join(column.options)}.",
            )
            for setting, name in dict.fromkeys(self._columns.status_options)
            if name not in column.options
        ]


def missing_column(schema: NotionSchema, column: str, kind: str, key: str) -> TrackerMisconfigured:
    return TrackerMisconfigured(
        f"The Notion database {schema.database.title!r} needs a column {column!r} of type {kind}. "
        f"Add it in Notion, or name the existing column in NOTION_CONFIG column_names.{key}."
    )


def _form_finding(schema: NotionSchema, column: FormColumn) -> Finding:
    kinds = ("multi_select",) if column.type == "multi_select" else ("status", "select")
    finding = _column_finding(schema, "", column.name, kinds)
    if finding.ok:
        return finding
    actual = schema.columns.get(column.name)
    if actual is None:
        fix = "Add it in Notion, or correct or remove its name in NOTION_CONFIG form_columns."
    elif actual.type in ("status", "select", "multi_select"):
        entry = {"name": column.name, "type": "multi_select"} if actual.type == "multi_select" else column.name
        fix = f"Write it in NOTION_CONFIG form_columns as {json.dumps(entry)}."
    else:
        fix = (
            "The forms offer status, select and multi-select columns: change its type in Notion, or remove it "
            "from NOTION_CONFIG form_columns."
        )
    return finding.model_copy(update={"fix": fix})


def _column_finding(schema: NotionSchema, key: str, column: str, kinds: tuple[str, ...]) -> Finding:
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


def _choices(prop: JSON) -> dict[str, Any]:
    kind = prop.get("type")
    if kind not in ("status", "select", "multi_select"):
        return {}
    config: JSON = prop.get(kind) or {}
    options = config.get("options") or []
    names = {str(o.get("id")): str(o.get("name")) for o in options}
    groups = {
        str(g.get("name")): tuple(names[i] for i in g.get("option_ids", []) if i in names)
        for g in config.get("groups") or []
    }
    return {"options": tuple(names.values()), "groups": groups}
