# The fake workspace's state: users, databases, data sources, pages and blocks, looked up as sharing allows.
from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, unquote

from multidict import MultiMapping

from tests.support.fake_http import Fault, RecordedRequest
from tests.support.fake_notion.checks import NOT_SHARED, JsonObj, NotionError


@dataclass
class NotionFault(Fault):
    reset: bool
    non_json: bool
    rate_limit_reason: str


@dataclass
class User:
    id: str
    name: str
    email: str | None
    kind: str
    guest: bool = False


@dataclass
class Database:
    id: str
    title: str
    shared: bool
    parent_page_id: str
    created: datetime
    data_source_ids: list[str] = field(default_factory=list)


@dataclass
class DataSource:
    id: str
    database_id: str
    name: str
    schema: dict[str, JsonObj]
    created: datetime
    next_number: int = 1


@dataclass
class Page:
    id: str
    data_source_id: str
    values: dict[str, Any]
    created: datetime
    edited: datetime
    created_by: str
    edited_by: str
    in_trash: bool = False
    icon: Any = None
    cover: Any = None


@dataclass
class Block:
    id: str
    page_id: str
    parent: JsonObj
    type: str
    content: JsonObj
    created: datetime


@dataclass
class Call:
    version: str
    params: dict[str, str]
    body: JsonObj
    query: MultiMapping[str]
    committed: JsonObj = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One change to the workspace, as a webhook subscription hears of it: ids only, never content."""

    type: str
    entity: JsonObj
    data: JsonObj
    author: JsonObj
    at: datetime


class ChangeListener(Protocol):
    def record(self, change: Change) -> None: ...


BlockSpec = tuple[str, JsonObj, list[Any]]


class Store:
    def __init__(
        self,
        *,
        token: str = "secret_test",
        version: str = "2026-03-11",
        versions: Iterable[str] = ("2025-09-03", "2026-03-11"),
        legacy_urls: bool = False,
        user_emails: bool = True,
        user_capability: bool = True,
        insert_content: bool = True,
        read_comments: bool = True,
        insert_comments: bool = True,
        workspace_name: str = "Acme",
        bot_name: str = "Sentry Sync",
        seed: int | None = None,
    ) -> None:
        self.token = token
        self.version = version
        self.versions = tuple(dict.fromkeys((*versions, version)))
        self.legacy_urls = legacy_urls
        self.user_emails = user_emails
        self.user_capability = user_capability
        self.insert_content = insert_content
        # Separate capabilities in Notion, each off until enabled (https://developers.notion.com/reference/capabilities).
        self.read_comments, self.insert_comments = read_comments, insert_comments
        self.workspace_name = workspace_name
        self.latency = 0.0
        self.search_delay = 0.0
        self.query_result_limit = 10_000
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.requests: list[RecordedRequest] = []
        self.comments: list[JsonObj] = []
        self.resolved_discussions: set[str] = set()
        self.webhooks: list[ChangeListener] = []
        self._rng = random.Random(seed)
        self._faults: list[NotionFault] = []
        self._users: dict[str, User] = {}
        self._databases: dict[str, Database] = {}
        self._data_sources: dict[str, DataSource] = {}
        self._pages: dict[str, Page] = {}
        self._ds_pages: dict[str, list[Page]] = {}
        self._blocks: dict[str, Block] = {}
        self._children: dict[str, list[str]] = {}
        self.workspace_id = self._new_id()
        self.bot_id = self.add_user(bot_name, bot=True)

    def add_user(self, name: str, email: str | None = None, *, bot: bool = False, guest: bool = False) -> str:
        user = User(self._new_id(), name, email, "bot" if bot else "person", guest)
        self._users[user.id] = user
        return user.id

    def add_database(
        self,
        title: str,
        properties: Mapping[str, JsonObj] | None = None,
        *,
        shared: bool = True,
        data_sources: int = 1,
    ) -> tuple[str, str]:
        now = self.clock()
        db = Database(self._new_id(), title, shared, self._new_id(), now)
        self._databases[db.id] = db
        for n in range(data_sources):
            schema = self._build_schema(properties if properties is not None else default_properties())
            ds = DataSource(self._new_id(), db.id, title if n == 0 else f"{title} {n + 1}", schema, now)
            self._data_sources[ds.id] = ds
            self._ds_pages[ds.id] = []
            db.data_source_ids.append(ds.id)
        return db.id, db.data_source_ids[0]

    def share(self, database_id: str, shared: bool = True) -> None:
        self._databases[str(uuid.UUID(database_id))].shared = shared

    def _new_id(self) -> str:
        # Notion IDs are not all v4 UUIDs (see those in https://developers.notion.com/docs/upgrade-guide-2025-09-03),
        # so none of the version bits are set here either.
        return str(uuid.UUID(int=self._rng.getrandbits(128)))

    def _short_id(self) -> str:
        return quote("".join(self._rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz:;=?@[]{}", k=4)))

    def _shared_database(self, database_id: str) -> Database:
        db = self._databases.get(database_id)
        if db is None or not db.shared:
            raise NotionError(404, "object_not_found", f"Could not find database with ID: {database_id}. {NOT_SHARED}")
        return db

    def _shared_data_source(self, data_source_id: str) -> DataSource:
        ds = self._data_sources.get(data_source_id)
        if ds is None or not self._databases[ds.database_id].shared:
            raise NotionError(
                404, "object_not_found", f"Could not find data source with ID: {data_source_id}. {NOT_SHARED}"
            )
        return ds

    def _shared_page(self, page_id: str) -> Page:
        page = self._pages.get(page_id)
        if page is None or not self._databases[self._data_sources[page.data_source_id].database_id].shared:
            raise NotionError(404, "object_not_found", f"Could not find page with ID: {page_id}. {NOT_SHARED}")
        return page

    def _shared_parent(self, block_id: str) -> Page:
        """The page owning a page-or-block id; a block is visible when its page is."""
        page_id = self._blocks[block_id].page_id if block_id in self._blocks else block_id
        try:
            return self._shared_page(page_id)
        except NotionError:
            raise NotionError(
                404, "object_not_found", f"Could not find block with ID: {block_id}. {NOT_SHARED}"
            ) from None

    def _find_prop(self, ds: DataSource, key: Any) -> JsonObj | None:
        if not isinstance(key, str):
            return None
        if key in ds.schema:
            return ds.schema[key]
        return next((p for p in ds.schema.values() if key in (p["id"], unquote(p["id"]))), None)

    def _new_page(
        self, ds: DataSource, values: dict[str, Any], options: list[tuple[JsonObj, JsonObj]], by: str | None = None
    ) -> Page:
        now, by = self.clock(), by or self.bot_id
        for prop, option in options:
            prop[prop["type"]]["options"].append(option)
        for prop in ds.schema.values():
            if prop["type"] == "unique_id":
                values[prop["id"]] = ds.next_number
            # New rows start in the status's default option, the first of its "To-do" group.
            if prop["type"] == "status" and prop["id"] not in values and prop["status"]["options"]:
                groups = prop["status"]["groups"]
                values[prop["id"]] = next(
                    (g["option_ids"][0] for g in groups if g["option_ids"]), prop["status"]["options"][0]["id"]
                )
        ds.next_number += 1
        page = Page(self._new_id(), ds.id, values, now, now, by, by)
        self._pages[page.id] = page
        self._ds_pages[ds.id].append(page)
        return page

    def _edit_page(self, page: Page, values: dict[str, Any], *, trash: bool | None, by: str) -> None:
        # Only properties whose value really changed are reported, and a write that changes nothing is no event
        # (inferred: https://developers.notion.com/reference/webhooks-events-delivery describes changes, not writes).
        changed = [prop_id for prop_id, value in values.items() if page.values.get(prop_id) != value]
        page.values.update(values)
        trashed = trash is not None and trash != page.in_trash
        if trash is not None:
            page.in_trash = trash
        page.edited, page.edited_by = self.clock(), by
        if changed:
            self._page_changed("page.properties_updated", page, by, updated_properties=changed)
        if trashed:
            self._page_changed("page.deleted" if trash else "page.undeleted", page, by)

    def _page_changed(self, kind: str, page: Page, by: str, **data: Any) -> None:
        ds = self._data_sources[page.data_source_id]
        # Events fire only for what is shared with the integration (https://developers.notion.com/reference/webhooks).
        if self._databases[ds.database_id].shared:
            parent = {"id": ds.database_id, "type": "database", "data_source_id": ds.id}
            self._changed(kind, {"id": page.id, "type": "page"}, {"parent": parent, **data}, by)

    def _comment_changed(self, kind: str, comment: JsonObj, by: str) -> None:
        target = comment["parent"][comment["parent"]["type"]]
        page = self._pages[self._blocks[target].page_id if target in self._blocks else target]
        ds = self._data_sources[page.data_source_id]
        # Comment events also need the comment-read capability (https://developers.notion.com/reference/webhooks).
        if self.read_comments and self._databases[ds.database_id].shared:
            parent = {"id": target, "type": "block" if target in self._blocks else "page"}
            self._changed(kind, {"id": comment["id"], "type": "comment"}, {"page_id": page.id, "parent": parent}, by)

    def _changed(self, kind: str, entity: JsonObj, data: JsonObj, by: str) -> None:
        user = self._users[by]
        change = Change(kind, entity, data, {"id": user.id, "type": user.kind}, self.clock())
        for listener in self.webhooks:
            listener.record(change)

    def _materialize(self, parent_id: str, page_id: str, specs: list[BlockSpec], index: int | None) -> list[Block]:
        siblings = self._children.setdefault(parent_id, [])
        parent = (
            {"type": "page_id", "page_id": parent_id}
            if parent_id == page_id
            else {"type": "block_id", "block_id": parent_id}
        )
        now = self.clock()
        created: list[Block] = []
        for kind, content, children in specs:
            block = Block(self._new_id(), page_id, parent, kind, content, now)
            self._blocks[block.id] = block
            created.append(block)
            self._materialize(block.id, page_id, children, None)
        at = len(siblings) if index is None else index
        siblings[at:at] = [b.id for b in created]
        return created

    def _build_schema(self, properties: Mapping[str, JsonObj]) -> dict[str, JsonObj]:
        schema: dict[str, JsonObj] = {}
        for name, config in properties.items():
            kind = config.get("type") or next(iter(config))
            schema[name] = {
                "id": "title" if kind == "title" else self._short_id(),
                "name": name,
                "description": None,
                "type": kind,
                kind: self._normalize_config(kind, copy.deepcopy(config.get(kind) or {})),
            }
        if not any(p["type"] == "title" for p in schema.values()):
            # Every data source has exactly one title property
            # (https://developers.notion.com/reference/property-schema-object).
            schema = {
                "Name": {"id": "title", "name": "Name", "description": None, "type": "title", "title": {}}
            } | schema
        return schema

    def _normalize_config(self, kind: str, config: JsonObj) -> JsonObj:
        if kind == "unique_id":
            return {"prefix": config.get("prefix")}
        if kind not in ("select", "multi_select", "status"):
            return config
        default = ["Not started", "In progress", "Done"] if kind == "status" else []
        options = [
            {
                "id": self._short_id(),
                "color": "default",
                "description": None,
                **({"name": o} if isinstance(o, str) else o),
            }
            for o in config.get("options", default)
        ]
        if kind != "status":
            return {"options": options}
        by_name = {o["name"]: o["id"] for o in options}
        groups = config.get("groups") or [
            {"name": "To-do", "color": "gray", "option_ids": [options[0]["name"]] if options else []},
            {"name": "In progress", "color": "blue", "option_ids": [o["name"] for o in options[1:-1]]},
            {"name": "Complete", "color": "green", "option_ids": [options[-1]["name"]] if len(options) > 1 else []},
        ]
        return {
            "options": options,
            "groups": [
                {
                    "id": self._short_id(),
                    "name": g["name"],
                    "color": g.get("color", "default"),
                    # Seed configs may name options; responses always carry option ids.
                    "option_ids": [by_name.get(o, o) for o in g.get("option_ids", [])],
                }
                for g in groups
            ],
        }


def default_properties() -> dict[str, JsonObj]:
    return {
        "Name": {"title": {}},
        "ID": {"unique_id": {"prefix": "BUG"}},
        "Assignee": {"people": {}},
        "Sentry Link": {"url": {}},
        "Status": {"status": {}},
    }
