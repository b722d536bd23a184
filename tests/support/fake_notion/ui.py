# What people do in Notion's own UI: the same state changes as the API makes, authored by a person, so webhook
# subscriptions hear of them (https://developers.notion.com/reference/webhooks-events-delivery).
from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any

from tests.support.fake_notion.checks import JsonObj
from tests.support.fake_notion.comments import Comments
from tests.support.fake_notion.rendering import text_item
from tests.support.fake_notion.store import Page


class NotionUI(Comments):
    def _page_from_ui(
        self, data_source_id: str, title: str, properties: Mapping[str, Any] | None, by: str | None
    ) -> Page:
        ds = self._data_sources[str(uuid.UUID(data_source_id))]
        title_name = next(name for name, prop in ds.schema.items() if prop["type"] == "title")
        written = {title_name: {"title": [{"text": {"content": title}}]}, **(properties or {})}
        values, options = self._validate_properties(ds, written, "properties")
        page = self._new_page(ds, values, options, by)
        # Seeded pages (no author) were there before any subscription, so they are no event.
        if by is not None:
            self._page_changed("page.created", page, by)
        return page

    def person_creates_page(
        self, data_source_id: str, title: str, properties: Mapping[str, Any] | None = None, *, by: str
    ) -> JsonObj:
        return self.page(self._page_from_ui(data_source_id, title, properties, by).id)

    def person_updates_properties(self, page_id: str, properties: Mapping[str, Any], *, by: str) -> JsonObj:
        """`properties` as the API writes them (keyed by name or id): Status, Assignee (people) or any column."""
        page = self._pages[str(uuid.UUID(page_id))]
        assert not page.in_trash, "Notion's UI cannot edit a page in the trash"
        values, options = self._validate_properties(self._data_sources[page.data_source_id], properties, "properties")
        for prop, option in options:
            prop[prop["type"]]["options"].append(option)
        self._edit_page(page, values, trash=None, by=by)
        return self.page(page.id)

    def person_trashes_page(self, page_id: str, *, by: str) -> JsonObj:
        page = self._pages[str(uuid.UUID(page_id))]
        self._edit_page(page, {}, trash=True, by=by)
        return self.page(page.id)

    def person_restores_page(self, page_id: str, *, by: str) -> JsonObj:
        page = self._pages[str(uuid.UUID(page_id))]
        self._edit_page(page, {}, trash=False, by=by)
        return self.page(page.id)

    def person_comments(self, page_id: str, text: str, *, by: str, discussion_id: str | None = None) -> JsonObj:
        """A comment on the page, or a reply in `discussion_id`, shown under the person's own name."""
        if discussion_id is None:
            parent, discussion_id = {"type": "page_id", "page_id": str(uuid.UUID(page_id))}, self._new_id()
        else:
            parent = next(c["parent"] for c in self.comments if c["discussion_id"] == discussion_id)
        display_name = {"type": "user", "resolved_name": self._users[by].name}
        return copy.deepcopy(self._post_comment(parent, discussion_id, [text_item(text)], display_name, by))

    def person_edits_comment(self, comment_id: str, text: str, *, by: str) -> JsonObj:
        comment = next(c for c in self.comments if c["id"] == comment_id)
        self._edit_comment(comment, [text_item(text)], by)
        return copy.deepcopy(comment)

    def person_deletes_comment(self, comment_id: str, *, by: str) -> None:
        self._remove_comment(next(c for c in self.comments if c["id"] == comment_id), by)

    def person_resolves_discussion(self, discussion_id: str) -> None:
        # Resolving sends no event and hides the thread from the API
        # (https://developers.notion.com/docs/working-with-comments).
        self.resolved_discussions.add(discussion_id)

    def person_groups_status_option(
        self, data_source_id: str, property_name: str, option_name: str, group_name: str, *, by: str
    ) -> JsonObj:
        """Adds the status option to `group_name`, or moves it there: groups can be arranged only in the UI
        (https://developers.notion.com/reference/update-data-source-properties)."""
        ds = self._data_sources[str(uuid.UUID(data_source_id))]
        prop = ds.schema[property_name]
        status = prop["status"]
        option = next((o for o in status["options"] if o["name"] == option_name), None)
        if option is None:
            option = {"id": self._short_id(), "name": option_name, "color": "default", "description": None}
            status["options"].append(option)
        for group in status["groups"]:
            if option["id"] in group["option_ids"]:
                group["option_ids"].remove(option["id"])
        next(g for g in status["groups"] if g["name"] == group_name)["option_ids"].append(option["id"])
        self._schema_changed(data_source_id, prop, by)
        return copy.deepcopy(prop)

    def person_renames_option(
        self, data_source_id: str, property_name: str, option_name: str, new_name: str, *, by: str
    ) -> JsonObj:
        """Renames a select or status option: the pages that have it show the new name, and no page event tells."""
        prop = self._data_sources[str(uuid.UUID(data_source_id))].schema[property_name]
        next(o for o in prop[prop["type"]]["options"] if o["name"] == option_name)["name"] = new_name
        self._schema_changed(data_source_id, prop, by)
        return copy.deepcopy(prop)

    def _schema_changed(self, data_source_id: str, prop: JsonObj, by: str) -> None:
        ds = self._data_sources[str(uuid.UUID(data_source_id))]
        if self._databases[ds.database_id].shared:
            self._changed(
                "data_source.schema_updated",
                {"id": ds.id, "type": "data_source"},
                {
                    "parent": {"id": ds.database_id, "type": "database"},
                    "updated_properties": [{"id": prop["id"], "name": prop["name"], "action": "updated"}],
                },
                by,
            )

    def page(self, page_id: str) -> JsonObj:
        return copy.deepcopy(self._render_page(self._pages[str(uuid.UUID(page_id))], self.version))
