# Notion JSON as Notion answers it (https://developers.notion.com/reference), for aioresponses.
from typing import Any

DATABASE_ID = "6ee911d9-189c-4844-93e8-260c1438b6e4"
DATA_SOURCE_ID = "bc1211ca-e3f1-4939-ae34-5260b16f627c"
PAGE_ID = "be633bf1-dfa0-436d-b259-571129a590e5"
BASE = "https://api.notion.com/v1"


def _text(content: str) -> dict[str, Any]:
    return {
        "type": "text",
        "text": {"content": content, "link": None},
        "annotations": {
            "bold": False, "italic": False, "strikethrough": False,
            "underline": False, "code": False, "color": "default",
        },
        "plain_text": content,
        "href": None,
    }  # fmt: skip


def database(title: str = "Bugs") -> dict[str, Any]:
    return {
        "object": "database",
        "id": DATABASE_ID,
        "title": [_text(title)],
        "description": [],
        "parent": {"type": "page_id", "page_id": "98ad959b-2b6a-4774-80ee-00246fb0ea9b"},
        "is_inline": False,
        "in_trash": False,
        "is_locked": False,
        "created_time": "2025-08-07T10:11:07.504-07:00",
        "last_edited_time": "2025-08-10T15:53:11.386-07:00",
        "data_sources": [{"id": DATA_SOURCE_ID, "name": title}],
        "icon": None,
        "cover": None,
        "url": f"https://app.notion.com/p/{DATABASE_ID.replace('-', '')}",
        "public_url": None,
    }


def data_source(prefix: str | None = "BUG") -> dict[str, Any]:
    return {
        "object": "data_source",
        "id": DATA_SOURCE_ID,
        "title": [_text("Bugs")],
        "parent": {"type": "database_id", "database_id": DATABASE_ID},
        "in_trash": False,
        "properties": {
            "Name": {"id": "title", "name": "Name", "description": None, "type": "title", "title": {}},
            "ID": {
                "id": "%3AUPp", "name": "ID", "description": None, "type": "unique_id", "unique_id": {"prefix": prefix}
            },
            "Assignee": {"id": "%7BLUX", "name": "Assignee", "description": None, "type": "people", "people": {}},
            "Sentry Link": {"id": "bB%3D%5B", "name": "Sentry Link", "description": None, "type": "url", "url": {}},
        },
    }  # fmt: skip


def me() -> dict[str, Any]:
    return {
        "object": "user",
        "id": "9188c6a5-7381-452f-b3dc-d4865aa89bdf",
        "name": "Sentry Sync",
        "avatar_url": None,
        "type": "bot",
        "bot": {"owner": {"type": "workspace", "workspace": True}, "workspace_id": "ws-1", "workspace_name": "Acme"},
    }


def page(
    *, page_id: str = PAGE_ID, title: str = "Login fails", number: int = 12, sentry_url: str | None = None,
    data_source_id: str = DATA_SOURCE_ID, in_trash: bool = False,
) -> dict[str, Any]:  # fmt: skip
    return {
        "object": "page",
        "id": page_id,
        "created_time": "2026-10-24T22:54:00.000Z",
        "last_edited_time": "2026-11-08T18:25:00.000Z",
        "parent": {"type": "data_source_id", "data_source_id": data_source_id, "database_id": DATABASE_ID},
        "in_trash": in_trash,
        "is_locked": False,
        "url": f"https://app.notion.com/p/{page_id.replace('-', '')}",
        "public_url": None,
        "properties": {
            "Name": {"id": "title", "type": "title", "title": [_text(title)]},
            "ID": {"id": "%3AUPp", "type": "unique_id", "unique_id": {"prefix": "BUG", "number": number}},
            "Assignee": {"id": "%7BLUX", "type": "people", "people": []},
            "Sentry Link": {"id": "bB%3D%5B", "type": "url", "url": sentry_url},
        },
    }


def query(*pages: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "list",
        "type": "page_or_data_source",
        "page_or_data_source": {},
        "results": list(pages),
        "next_cursor": None,
        "has_more": False,
        "request_status": {"type": "complete"},
    }


def error(status: int, code: str, message: str, **additional: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"object": "error", "status": status, "code": code, "message": message, "request_id": "r-1"}
    if additional:
        body["additional_data"] = additional
    return body
