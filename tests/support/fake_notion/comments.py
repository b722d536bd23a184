# Notion's comment endpoints.
from __future__ import annotations

from tests.support.fake_notion.checks import (
    MAX_TEXT,
    NOT_SHARED,
    UNDEFINED,
    JsonObj,
    NotionError,
    body_invalid,
    check_obj,
    check_str,
    parse_id,
    reject_unknown,
)
from tests.support.fake_notion.rendering import Rendering, text_item, ts
from tests.support.fake_notion.store import Call
from tests.support.fake_notion.validation import Validation


class Comments(Validation, Rendering):
    def _create_comment(self, call: Call) -> JsonObj:
        body = call.body
        reject_unknown(body, ("parent", "discussion_id", "rich_text", "markdown", "display_name", "attachments"))
        if not self.insert_comments:
            raise NotionError(403, "restricted_resource", "Insufficient permissions for this endpoint.")
        targets = [k for k in ("parent", "discussion_id") if k in body]
        if len(targets) != 1:
            raise body_invalid("body.parent", "defined", UNDEFINED)
        if "parent" in body:
            parent = check_obj(body["parent"], "body.parent")
            key = "page_id" if "page_id" in parent else "block_id"
            target_id = parse_id(parent.get(key, UNDEFINED), f"body.parent.{key}")
            (self._shared_page if key == "page_id" else self._shared_parent)(target_id)
            parent_out, discussion_id = {"type": key, key: target_id}, self._new_id()
        else:
            discussion_id = parse_id(body["discussion_id"], "body.discussion_id")
            earlier = next((c for c in self.comments if c["discussion_id"] == discussion_id), None)
            if earlier is None:
                raise NotionError(404, "object_not_found", f"Could not find discussion with ID: {discussion_id}.")
            parent_out = earlier["parent"]
        if "markdown" in body:
            rich_text = [text_item(check_str(body["markdown"], "body.markdown", MAX_TEXT))]
        else:
            rich_text = self._rich_text(body.get("rich_text", UNDEFINED), "body.rich_text")
        display = check_obj(body.get("display_name", {"type": "integration"}), "body.display_name")
        if display.get("type") == "custom":
            resolved = check_obj(display.get("custom", UNDEFINED), "body.display_name.custom").get("name")
        else:
            resolved = self._users[self.bot_id].name
        display_name = {"type": display.get("type", "integration"), "resolved_name": resolved}
        return self._post_comment(parent_out, discussion_id, rich_text, display_name, self.bot_id)

    def _post_comment(
        self, parent: JsonObj, discussion_id: str, rich_text: list[JsonObj], display_name: JsonObj, by: str
    ) -> JsonObj:
        now = ts(self.clock())
        comment = {
            "object": "comment",
            "id": self._new_id(),
            "parent": parent,
            "discussion_id": discussion_id,
            "created_time": now,
            "last_edited_time": now,
            "created_by": self._user_ref(by),
            "rich_text": rich_text,
            "display_name": display_name,
        }
        self.comments.append(comment)
        self._comment_changed("comment.created", comment, by)
        return comment

    def _get_comment(self, call: Call) -> JsonObj:
        # https://developers.notion.com/reference/retrieve-comment: reading takes the Read comments capability.
        return self._shared_comment(parse_id(call.params["comment_id"], "path.comment_id", "path"), self.read_comments)

    def _list_comments(self, call: Call) -> JsonObj:
        # Open comments of a page or block, oldest first (https://developers.notion.com/docs/working-with-comments).
        if not self.read_comments:
            raise NotionError(403, "restricted_resource", "Insufficient permissions for this endpoint.")
        block_id = parse_id(call.query.get("block_id", UNDEFINED), "query.block_id", "query")
        self._shared_parent(block_id)
        found = [
            c
            for c in self.comments
            if c["parent"].get(c["parent"]["type"]) == block_id and c["discussion_id"] not in self.resolved_discussions
        ]
        chunk, out = self._paginate_query(found, [c["id"] for c in found], call, "comment")
        out["results"] = chunk
        return out

    def _update_comment(self, call: Call) -> JsonObj:
        # Only the content can change: the SDK's update body is `rich_text` or `markdown`
        # (makenotion/notion-sdk-js src/api-endpoints/comments.ts).
        comment_id = parse_id(call.params["comment_id"], "path.comment_id", "path")
        body = call.body
        reject_unknown(body, ("rich_text", "markdown"))
        if "markdown" in body:
            rich_text = [text_item(check_str(body["markdown"], "body.markdown", MAX_TEXT))]
        else:
            rich_text = self._rich_text(body.get("rich_text", UNDEFINED), "body.rich_text")
        comment = self._shared_comment(comment_id)
        self._edit_comment(comment, rich_text, self.bot_id)
        return comment

    def _edit_comment(self, comment: JsonObj, rich_text: list[JsonObj], by: str) -> None:
        comment["rich_text"] = rich_text
        comment["last_edited_time"] = ts(self.clock())
        self._comment_changed("comment.updated", comment, by)

    def _delete_comment(self, call: Call) -> JsonObj:
        # The SDK types the answer as the comment object itself, with no trash flag
        # (makenotion/notion-sdk-js src/api-endpoints/comments.ts).
        comment = self._shared_comment(parse_id(call.params["comment_id"], "path.comment_id", "path"))
        self._remove_comment(comment, self.bot_id)
        return comment

    def _remove_comment(self, comment: JsonObj, by: str) -> None:
        self.comments.remove(comment)
        self._comment_changed("comment.deleted", comment, by)

    def _shared_comment(self, comment_id: str, allowed: bool | None = None) -> JsonObj:
        if not (self.insert_comments if allowed is None else allowed):
            raise NotionError(403, "restricted_resource", "Insufficient permissions for this endpoint.")
        comment = next((c for c in self.comments if c["id"] == comment_id), None)
        if comment is not None:
            parent = comment["parent"]
            try:
                self._shared_parent(parent[parent["type"]])
            except NotionError:
                comment = None
        if comment is None:
            raise NotionError(404, "object_not_found", f"Could not find comment with ID: {comment_id}. {NOT_SHARED}")
        return comment
