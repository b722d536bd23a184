# Objects as Notion renders them for a given API version, and its paginated lists.
from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from tests.support.fake_notion.checks import MAX_ARRAY, JsonObj, body_invalid, invalid
from tests.support.fake_notion.store import Block, Call, Database, DataSource, Page, Store, User

DEFAULT_ANNOTATIONS = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def text_item(content: str) -> JsonObj:
    return {
        "type": "text",
        "text": {"content": content, "link": None},
        "annotations": dict(DEFAULT_ANNOTATIONS),
        "plain_text": content,
        "href": None,
    }


def plain_text(items: list[JsonObj] | None) -> str:
    return "".join(item.get("plain_text", "") for item in items or [])


class Rendering(Store):
    def _trash(self, version: str, in_trash: bool) -> JsonObj:
        # 2026-03-11 renamed `archived` to `in_trash`; older versions carry both
        # (https://developers.notion.com/guides/get-started/upgrade-guide-2026-03-11).
        return {"in_trash": in_trash} if version >= "2026-03-11" else {"archived": in_trash, "in_trash": in_trash}

    def _url(self, title: str, object_id: str) -> str:
        hex_id = object_id.replace("-", "")
        if not self.legacy_urls:
            return f"https://app.notion.com/p/{hex_id}"
        slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")
        return f"https://www.notion.so/{slug}-{hex_id}" if slug else f"https://www.notion.so/{hex_id}"

    def _user_ref(self, user_id: str | None = None) -> JsonObj:
        return {"object": "user", "id": user_id or self.bot_id}

    def _render_user(self, user: User) -> JsonObj:
        out: JsonObj = {"object": "user", "id": user.id, "name": user.name, "avatar_url": None, "type": user.kind}
        if user.kind == "bot":
            out["bot"] = {}
        else:
            out["person"] = {"email": user.email} if self.user_emails and user.email else {}
        return out

    def _render_database(self, db: Database, version: str) -> JsonObj:
        return {
            "object": "database",
            "id": db.id,
            "title": [text_item(db.title)],
            "description": [],
            "parent": {"type": "page_id", "page_id": db.parent_page_id},
            "is_inline": False,
            **self._trash(version, False),
            "is_locked": False,
            "created_time": ts(db.created),
            "last_edited_time": ts(db.created),
            "created_by": self._user_ref(),
            "last_edited_by": self._user_ref(),
            "data_sources": [{"id": i, "name": self._data_sources[i].name} for i in db.data_source_ids],
            "icon": None,
            "cover": None,
            "url": self._url(db.title, db.id),
            "public_url": None,
        }

    def _render_data_source(self, ds: DataSource, version: str) -> JsonObj:
        db = self._databases[ds.database_id]
        return {
            "object": "data_source",
            "id": ds.id,
            "title": [text_item(ds.name)],
            "description": [],
            "parent": {"type": "database_id", "database_id": db.id},
            "database_parent": {"type": "page_id", "page_id": db.parent_page_id},
            "is_inline": False,
            **self._trash(version, False),
            "created_time": ts(ds.created),
            "last_edited_time": ts(ds.created),
            "created_by": self._user_ref(),
            "last_edited_by": self._user_ref(),
            "icon": None,
            "cover": None,
            "url": self._url(ds.name, db.id),
            "public_url": None,
            "properties": ds.schema,
        }

    def _render_page(self, page: Page, version: str, only: set[str] | None = None) -> JsonObj:
        ds = self._data_sources[page.data_source_id]
        properties = {
            name: {"id": prop["id"], "type": prop["type"], prop["type"]: self._render_value(page, prop)}
            for name, prop in ds.schema.items()
            if not only or name in only or prop["id"] in only or unquote(prop["id"]) in only
        }
        title = plain_text(page.values.get("title"))  # the title property's id is always "title" here
        return {
            "object": "page",
            "id": page.id,
            "created_time": ts(page.created),
            "last_edited_time": ts(page.edited),
            "created_by": self._user_ref(page.created_by),
            "last_edited_by": self._user_ref(page.edited_by),
            "cover": page.cover,
            "icon": page.icon,
            "parent": {"type": "data_source_id", "data_source_id": ds.id, "database_id": ds.database_id},
            **self._trash(version, page.in_trash),
            "is_locked": False,
            "url": self._url(title, page.id),
            "public_url": None,
            "properties": properties,
        }

    def _render_value(self, page: Page, prop: JsonObj) -> Any:
        kind, value = prop["type"], page.values.get(prop["id"])
        if kind in ("title", "rich_text", "files"):
            return value or []
        if kind == "multi_select":
            return [self._option_out(prop, option_id) for option_id in value or []]
        if kind in ("select", "status"):
            return None if value is None else self._option_out(prop, value)
        if kind == "people":
            return [self._person_ref(user_id) for user_id in value or []]
        if kind == "relation":
            return [{"id": page_id} for page_id in value or []]
        if kind == "unique_id":
            return {"prefix": prop["unique_id"]["prefix"], "number": value}
        if kind in ("created_time", "last_edited_time"):
            return ts(page.created if kind == "created_time" else page.edited)
        if kind in ("created_by", "last_edited_by"):
            return self._person_ref(page.created_by if kind == "created_by" else page.edited_by)
        if kind == "checkbox":
            return bool(value)
        if kind == "formula":
            return {"type": "string", "string": None}
        if kind == "rollup":
            return {"type": "array", "array": [], "function": "show_original"}
        return value

    def _person_ref(self, user_id: str) -> JsonObj:
        user = self._users.get(user_id)
        # Without the user-info capability Notion shrinks users to {object, id}.
        if user is None or not self.user_capability:
            return {"object": "user", "id": user_id}
        return self._render_user(user)

    @staticmethod
    def _option_out(prop: JsonObj, option_id: str) -> JsonObj:
        option = next(o for o in prop[prop["type"]]["options"] if o["id"] == option_id)
        return {"id": option["id"], "name": option["name"], "color": option["color"]}

    def _render_block(self, block: Block, version: str) -> JsonObj:
        return {
            "object": "block",
            "id": block.id,
            "parent": block.parent,
            "created_time": ts(block.created),
            "last_edited_time": ts(block.created),
            "created_by": self._user_ref(),
            "last_edited_by": self._user_ref(),
            "has_children": bool(self._children.get(block.id)),
            **self._trash(version, False),
            "type": block.type,
            block.type: block.content,
        }

    @staticmethod
    def _list(results: list[JsonObj], next_cursor: str | None, kind: str) -> JsonObj:
        return {
            "object": "list",
            "results": results,
            "next_cursor": next_cursor,
            "has_more": next_cursor is not None,
            "type": kind,
            kind: {},
        }

    @staticmethod
    def _window(ids: list[str], start_cursor: Any, page_size: Any, where: str) -> tuple[int, int]:
        if where == "query" and page_size is not None:
            try:
                page_size = int(page_size)
            except ValueError:
                raise body_invalid("query.page_size", "a number", page_size, "query") from None
        if page_size is None:
            page_size = MAX_ARRAY
        if not isinstance(page_size, int) or isinstance(page_size, bool):
            raise body_invalid(f"{where}.page_size", "a number", page_size, where)
        if page_size > MAX_ARRAY:
            suffix = " or `undefined`" if where == "query" else ""
            raise body_invalid(f"{where}.page_size", f"≤ `{MAX_ARRAY}`{suffix}", page_size, where)
        if page_size < 1:
            raise body_invalid(f"{where}.page_size", "≥ `1`", page_size, where)
        start = 0
        if start_cursor is not None:
            if not isinstance(start_cursor, str) or start_cursor not in ids:
                raise invalid(f"The start_cursor provided is invalid: {start_cursor}")
            start = ids.index(start_cursor)
        return start, min(start + page_size, len(ids))

    def _paginate_query(self, items: list[Any], ids: list[str], call: Call, kind: str) -> tuple[list[Any], JsonObj]:
        start, end = self._window(ids, call.query.get("start_cursor"), call.query.get("page_size"), "query")
        return items[start:end], self._list([], ids[end] if end < len(ids) else None, kind)

    def _paginate_body(self, items: list[Any], ids: list[str], call: Call, kind: str) -> tuple[list[Any], JsonObj]:
        start, end = self._window(ids, call.body.get("start_cursor"), call.body.get("page_size"), "body")
        return items[start:end], self._list([], ids[end] if end < len(ids) else None, kind)
