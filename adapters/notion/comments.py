import contextlib

from adapters.notion import wire
from adapters.notion.client import IDEMPOTENT, JSON, SEND_ONCE, NotionApi
from domain.errors import IssueNotFound, TrackerMisconfigured
from domain.models import NotionComment, Span

# Names of the people who comment, kept for the life of the process: a workspace has a bounded number of them.
MAX_NAMES = 10_000


class Comments:
    def __init__(self, api: NotionApi) -> None:
        self._api = api
        self._names: dict[str, str] = {}

    async def add(self, page_id: str, text: str, author: str) -> str:
        body = {"parent": {"page_id": page_id}} | _comment(text, author)
        comment = await self._api.send("POST", "v1/comments", SEND_ONCE, json=body, missing="page")
        return str(comment["id"])

    async def find(self, page_id: str, text: str, author: str) -> list[str]:
        shown = _comment(text, author)["display_name"]["custom"]["name"]
        # A thousand comments are plenty to look through on one entry.
        comments = self._api.paginate("GET", "v1/comments", params={"block_id": page_id}, missing="page", pages=10)
        return [
            str(comment["id"])
            async for comment in comments
            if (comment.get("display_name") or {}).get("resolved_name") == shown
            and wire.plain(comment.get("rich_text") or []) == text
        ]

    async def edit(self, comment_id: str, text: str) -> None:
        # Notion changes only the content of a comment; its author stays as it was written.
        body = {"rich_text": _comment(text, "")["rich_text"]}
        await self._api.send("PATCH", f"v1/comments/{comment_id}", IDEMPOTENT, json=body, missing="page")

    async def delete(self, comment_id: str) -> None:
        with contextlib.suppress(IssueNotFound):  # already gone
            await self._api.send("DELETE", f"v1/comments/{comment_id}", IDEMPOTENT, missing="page")

    async def read(self, comment_id: str) -> NotionComment | None:
        # https://developers.notion.com/reference/retrieve-comment; a deleted, resolved or unshared comment is a 404.
        try:
            comment = await self._api.send("GET", f"v1/comments/{comment_id}", IDEMPOTENT, missing="page")
        except IssueNotFound:
            return None
        author = str((comment.get("created_by") or {}).get("id") or "")
        parent = comment.get("parent") or {}
        shown = (comment.get("display_name") or {}).get("resolved_name")
        return NotionComment(
            id=str(comment.get("id") or comment_id),
            page_id=str(parent["page_id"]) if parent.get("type") == "page_id" and parent.get("page_id") else None,
            author_id=author,
            author_name=str(shown) if shown else await self._name(author),
            text=wire.plain(comment.get("rich_text") or []),
        )

    async def _name(self, user_id: str) -> str:
        # The name the comment shows is in display_name; an answer without it names only the author's id.
        if user_id not in self._names:
            try:
                user = await self._api.send("GET", f"v1/users/{user_id}", IDEMPOTENT, missing="page")
            except (IssueNotFound, TrackerMisconfigured):  # a former member, or no "user information" capability
                return "Someone"
            if len(self._names) >= MAX_NAMES:
                self._names.clear()
            self._names[user_id] = str(user.get("name") or "Someone")
        return self._names[user_id]


def _comment(text: str, author: str) -> JSON:
    # Shown as written by the Sentry user, not by the integration
    # (https://developers.notion.com/reference/create-a-comment, display_name).
    name = wire.truncate(f"{author} (Sentry)", 100)
    display = {"type": "custom", "custom": {"name": name}}
    return {"rich_text": wire.rich_text([Span(text=text)])[:100], "display_name": display}
