# One method per Notion endpoint: users, databases and data sources, query, pages, blocks and search.
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.support.fake_notion.checks import (
    UNDEFINED,
    JsonObj,
    NotionError,
    body_invalid,
    check_obj,
    invalid,
    parse_id,
    reject_unknown,
)
from tests.support.fake_notion.queries import Queries
from tests.support.fake_notion.rendering import Rendering, plain_text
from tests.support.fake_notion.store import Call, DataSource
from tests.support.fake_notion.validation import Validation

SEARCH_SORT_RULE = 'body.sort.timestamp should be "last_edited_time" when sorting by timestamp.'


class Endpoints(Queries, Validation, Rendering):
    def _users_me(self, call: Call) -> JsonObj:
        me = self._render_user(self._users[self.bot_id])
        me["bot"] = {
            "owner": {"type": "workspace", "workspace": True},
            "workspace_id": self.workspace_id,
            "workspace_name": self.workspace_name,
            "workspace_limits": {"max_file_upload_size_in_bytes": 5 * 1024**3},
        }
        return me

    def _require_user_capability(self) -> None:
        if not self.user_capability:
            raise NotionError(403, "restricted_resource", "API token does not have access to this resource.")

    def _list_users(self, call: Call) -> JsonObj:
        self._require_user_capability()
        members = [u for u in self._users.values() if not u.guest]
        chunk, out = self._paginate_query(members, [u.id for u in members], call, "user")
        out["results"] = [self._render_user(u) for u in chunk]
        return out

    def _get_user(self, call: Call) -> JsonObj:
        self._require_user_capability()
        user_id = parse_id(call.params["user_id"], "path.user_id", "path")
        if user_id not in self._users:
            raise NotionError(404, "object_not_found", f"Could not find user with ID: {user_id}.")
        return self._render_user(self._users[user_id])

    def _get_database(self, call: Call) -> JsonObj:
        db = self._shared_database(parse_id(call.params["database_id"], "path.database_id", "path"))
        return self._render_database(db, call.version)

    def _get_data_source(self, call: Call) -> JsonObj:
        ds = self._shared_data_source(parse_id(call.params["data_source_id"], "path.data_source_id", "path"))
        return self._render_data_source(ds, call.version)

    def _query(self, call: Call) -> JsonObj:
        ds = self._shared_data_source(parse_id(call.params["data_source_id"], "path.data_source_id", "path"))
        body = call.body
        allowed = {"filter", "sorts", "start_cursor", "page_size", "in_trash", "result_type"}
        reject_unknown(body, allowed | ({"archived"} if call.version < "2026-03-11" else set()))
        want_trash = body.get("in_trash", body.get("archived", False)) is True
        pages = [p for p in self._ds_pages[ds.id] if p.in_trash == want_trash]
        if body.get("filter") is not None:
            predicate = self._compile_filter(ds, body["filter"], "body.filter", 0)
            pages = [p for p in pages if predicate(p)]
        if body.get("sorts") is not None:
            pages = self._sort(ds, pages, body["sorts"])
        # A single query stops at query_result_limit results, saying so in request_status
        # (https://developers.notion.com/guides/data-apis/query-large-data-sources).
        truncated = len(pages) > self.query_result_limit
        pages = pages[: self.query_result_limit]
        chunk, out = self._paginate_body(pages, [p.id for p in pages], call, "page_or_data_source")
        only = set(call.query.getall("filter_properties[]", [])) | set(call.query.getall("filter_properties", []))
        out["results"] = [self._render_page(p, call.version, only or None) for p in chunk]
        out["request_status"] = {"type": "complete"}
        if truncated and not out["has_more"]:
            out["request_status"] = {"type": "incomplete", "incomplete_reason": "query_result_limit_reached"}
        return out

    def _create_page(self, call: Call) -> JsonObj:
        body = call.body
        reject_unknown(body, ("parent", "properties", "children", "icon", "cover"))
        ds = self._parent_data_source(body.get("parent", UNDEFINED))
        if not self.insert_content:
            raise NotionError(403, "restricted_resource", "API token does not have access to this resource.")
        values, options = self._validate_properties(ds, body.get("properties", {}), "body.properties")
        specs = self._validate_children(body["children"]) if "children" in body else []
        page = self._new_page(ds, values, options)
        page.icon, page.cover = body.get("icon"), body.get("cover")
        self._materialize(page.id, page.id, specs, None)
        self._page_changed("page.created", page, self.bot_id)
        call.committed = {"committed_resource_id": page.id}
        return self._render_page(page, call.version)

    def _parent_data_source(self, parent: Any) -> DataSource:
        parent = check_obj(parent, "body.parent")
        kind = parent.get("type") or next((k for k in ("data_source_id", "database_id") if k in parent), None)
        if kind == "database_id":
            # Still accepted on new versions, but only while the database has a single data source
            # (https://developers.notion.com/docs/upgrade-guide-2025-09-03).
            db = self._shared_database(parse_id(parent.get("database_id", UNDEFINED), "body.parent.database_id"))
            if len(db.data_source_ids) != 1:
                raise NotionError(
                    400,
                    "validation_error",
                    "Databases with multiple data sources are not supported in this API version.",
                    {
                        "error_type": "multiple_data_sources_for_database",
                        "database_id": db.id,
                        "child_data_source_ids": list(db.data_source_ids),
                        "minimum_api_version": "2025-09-03",
                    },
                )
            return self._data_sources[db.data_source_ids[0]]
        if kind != "data_source_id":
            raise body_invalid("body.parent.data_source_id", "defined", UNDEFINED)
        return self._shared_data_source(parse_id(parent.get("data_source_id", UNDEFINED), "body.parent.data_source_id"))

    def _get_page(self, call: Call) -> JsonObj:
        page = self._shared_page(parse_id(call.params["page_id"], "path.page_id", "path"))
        only = set(call.query.getall("filter_properties[]", [])) | set(call.query.getall("filter_properties", []))
        return self._render_page(page, call.version, only or None)

    def _update_page(self, call: Call) -> JsonObj:
        page = self._shared_page(parse_id(call.params["page_id"], "path.page_id", "path"))
        body = call.body
        allowed = {"properties", "in_trash", "icon", "cover", "is_locked"}
        reject_unknown(body, allowed | ({"archived"} if call.version < "2026-03-11" else set()))
        trash = body.get("in_trash", body.get("archived"))
        if trash is not None and not isinstance(trash, bool):
            raise body_invalid("body.in_trash", "a boolean", trash)
        if page.in_trash and trash is not False:
            raise invalid("Can't edit block that is archived. You must unarchive the block before editing.")
        ds = self._data_sources[page.data_source_id]
        values, options = self._validate_properties(ds, body.get("properties", {}), "body.properties")
        for prop, option in options:
            prop[prop["type"]]["options"].append(option)
        page.icon = body.get("icon", page.icon)
        page.cover = body.get("cover", page.cover)
        self._edit_page(page, values, trash=trash, by=self.bot_id)
        return self._render_page(page, call.version)

    def _list_children(self, call: Call) -> JsonObj:
        block_id = parse_id(call.params["block_id"], "path.block_id", "path")
        self._shared_parent(block_id)
        ids = self._children.get(block_id, [])
        chunk, out = self._paginate_query(ids, ids, call, "block")
        out["results"] = [self._render_block(self._blocks[b], call.version) for b in chunk]
        return out

    def _append_children(self, call: Call) -> JsonObj:
        block_id = parse_id(call.params["block_id"], "path.block_id", "path")
        page = self._shared_parent(block_id)
        body = call.body
        # 2026-03-11 replaced `after` with `position`
        # (https://developers.notion.com/guides/get-started/upgrade-guide-2026-03-11).
        placement = "position" if call.version >= "2026-03-11" else "after"
        reject_unknown(body, ("children", placement))
        if "children" not in body:
            raise body_invalid("body.children", "defined", UNDEFINED)
        if not self.insert_content:
            raise NotionError(403, "restricted_resource", "API token does not have access to this resource.")
        if page.in_trash:
            raise invalid("Can't edit block that is archived. You must unarchive the block before editing.")
        specs = self._validate_children(body["children"])
        index = self._insert_index(block_id, body, placement)
        created = self._materialize(block_id, page.id, specs, index)
        page.edited, page.edited_by = self.clock(), self.bot_id
        self._page_changed(
            "page.content_updated", page, self.bot_id, updated_blocks=[{"id": b.id, "type": "block"} for b in created]
        )
        call.committed = {"committed_resource_id": block_id, "committed_child_ids": [b.id for b in created]}
        return self._list([self._render_block(b, call.version) for b in created], None, "block")

    def _insert_index(self, parent_id: str, body: JsonObj, placement: str) -> int | None:
        siblings = self._children.get(parent_id, [])
        if placement == "after":
            after = body.get("after")
            if after is None:
                return None
            anchor, anchor_path = parse_id(after, "body.after"), "body.after"
        else:
            position = check_obj(body.get("position", {"type": "end"}), "body.position")
            kind = position.get("type", UNDEFINED)
            if kind == "end":
                return None
            if kind == "start":
                return 0
            if kind != "after_block":
                raise body_invalid("body.position.type", '`"start"`, `"end"`, or `"after_block"`', kind)
            target = check_obj(position.get("after_block", UNDEFINED), "body.position.after_block")
            anchor_path = "body.position.after_block.id"
            anchor = parse_id(target.get("id", UNDEFINED), anchor_path)
        if anchor not in siblings:
            raise invalid(f"{anchor_path} {anchor} is not a child of block {parent_id}.")
        return siblings.index(anchor) + 1

    def _search(self, call: Call) -> JsonObj:
        body = call.body
        reject_unknown(body, ("query", "filter", "sort", "start_cursor", "page_size"))
        query = body.get("query") or ""
        if not isinstance(query, str):
            raise body_invalid("body.query", "a string", query)
        wanted = None
        if body.get("filter") is not None:
            flt = check_obj(body["filter"], "body.filter")
            wanted = flt.get("value", UNDEFINED)
            if wanted not in ("page", "data_source"):
                raise body_invalid("body.filter.value", '`"page"` or `"data_source"`', wanted)
        descending = True
        if body.get("sort") is not None:
            sort = check_obj(body["sort"], "body.sort")
            if sort.get("timestamp") != "last_edited_time":
                raise invalid(f"body failed validation: {SEARCH_SORT_RULE}")
            direction = sort.get("direction", UNDEFINED)
            if direction not in ("ascending", "descending"):
                raise body_invalid("body.sort.direction", '`"ascending"` or `"descending"`', direction)
            descending = direction == "descending"
        # Search matches titles by terms, any term (observed), and its index lags behind writes
        # (https://developers.notion.com/reference/search-optimizations-and-limitations).
        terms = query.casefold().split()
        indexed_before = self.clock() - timedelta(seconds=self.search_delay)
        found: list[tuple[datetime, str, JsonObj]] = []
        for ds in self._data_sources.values():
            db = self._databases[ds.database_id]
            if (
                db.shared
                and wanted in (None, "data_source")
                and _matches(db.title, terms)
                and ds.created <= indexed_before
            ):
                found.append((ds.created, ds.id, self._render_data_source(ds, call.version)))
        if wanted in (None, "page"):
            title_ids = {ds.id: _title_id(ds) for ds in self._data_sources.values()}
            for page in self._pages.values():
                if page.in_trash or page.created > indexed_before:
                    continue
                ds = self._data_sources[page.data_source_id]
                if self._databases[ds.database_id].shared and _matches(
                    plain_text(page.values.get(title_ids[ds.id])), terms
                ):
                    found.append((page.edited, page.id, self._render_page(page, call.version)))
        found.sort(key=lambda hit: hit[0], reverse=descending)
        chunk, out = self._paginate_body(found, [hit[1] for hit in found], call, "page_or_data_source")
        out["results"] = [hit[2] for hit in chunk]
        return out


def _title_id(ds: DataSource) -> str:
    return next(str(p["id"]) for p in ds.schema.values() if p["type"] == "title")


def _matches(title: str, terms: list[str]) -> bool:
    folded = title.casefold()
    return not terms or any(term in folded for term in terms)
