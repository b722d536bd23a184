import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from adapters.notion.columns import Column, Columns
from adapters.notion.languages import language
from domain.models import Assignee, Block, Entry, EntrySnapshot, EntryState, EntryUpdate, Span
from domain.sentry_events import epoch_s, iso_utc

JSON = dict[str, Any]

TEXT_LIMIT = 2000  # characters per rich-text item, counted in UTF-16 units as Notion's JS does
ARRAY_LIMIT = 100  # elements per array: blocks per request, rich-text items per block
PAYLOAD_BYTES = 400_000  # under Notion's 500 KB per request, leaving room for properties
SENTRY_URL_LIMIT = 200  # Sentry stores webUrl in a Django URLField of default length

_KIND = {
    "paragraph": "paragraph", "heading": "heading_3", "bullet": "bulleted_list_item",
    "numbered": "numbered_list_item", "quote": "quote", "code": "code",
}  # fmt: skip
_SLUG = re.compile(r"/[^/?#]*-([0-9a-f]{32})(?=[?#]|$)")


def _units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    if len(text) * 2 <= limit:
        return [text]
    parts, start, used = [], 0, 0
    for i, ch in enumerate(text):
        size = _units(ch)
        if used + size > limit:
            parts.append(text[start:i])
            start, used = i, 0
        used += size
    parts.append(text[start:])
    return parts


def truncate(text: str, limit: int = TEXT_LIMIT) -> str:
    if len(split_text(text, limit)) == 1:
        return text
    return split_text(text, limit - 1)[0] + "…"


def rich_text(spans: Iterable[Span]) -> list[JSON]:
    items: list[JSON] = []
    for span in spans:
        link = span.link if span.link and len(span.link) <= TEXT_LIMIT else None
        annotations = {k: True for k in ("bold", "italic", "code") if getattr(span, k)}
        for part in split_text(span.text):
            item: JSON = {
                "type": "text",
                "text": {"content": part, "link": {"url": link} if link else None},
            }
            if annotations:
                item["annotations"] = annotations
            items.append(item)
    return items


def blocks(body: Iterable[Block]) -> list[JSON]:
    out: list[JSON] = []
    for block in body:
        if block.kind == "divider":
            out.append({"object": "block", "type": "divider", "divider": {}})
            continue
        kind = _KIND[block.kind]
        items = rich_text(block.spans)
        # A block takes at most 100 rich-text items; a longer one continues in blocks of its kind.
        for start in range(0, max(len(items), 1), ARRAY_LIMIT):
            content: JSON = {"rich_text": items[start : start + ARRAY_LIMIT]}
            if kind == "code":
                content["language"] = language(block.language)
            out.append({"object": "block", "type": kind, kind: content})
    return out


def batches(children: Sequence[JSON]) -> Iterator[list[JSON]]:
    batch: list[JSON] = []
    size = 0
    for child in children:
        child_size = len(json.dumps(child))  # as aiohttp sends it: ASCII, six bytes per escaped character
        if batch and (len(batch) == ARRAY_LIMIT or size + child_size > PAYLOAD_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(child)
        size += child_size
    if batch:
        yield batch


def links(block: JSON) -> set[str]:
    content = block.get(str(block.get("type")), {})
    items = content.get("rich_text", []) if isinstance(content, dict) else []
    found = {str(item.get("href")) for item in items if item.get("href")}
    return found | {str(link["url"]) for item in items if (link := (item.get("text") or {}).get("link"))}


def plain(items: Sequence[JSON]) -> str:
    return "".join(str(item.get("plain_text", "")) for item in items)


def short_url(url: str) -> str:
    if len(url) <= SENTRY_URL_LIMIT:
        return url
    # The title slug is decoration: the 32-hex id alone opens the page.
    return _SLUG.sub(r"/\1", url.split("?", 1)[0].split("#", 1)[0])


def identifier(value: JSON | None) -> str:
    if not value or value.get("number") is None:
        return ""
    prefix, number = value.get("prefix"), value["number"]
    return f"{prefix}-{number}" if prefix else str(number)


def issue_from(
    page: JSON,
    *,
    title_column: str,
    id_column: str,
    sentry_column: str,
    data_source_id: str,
) -> Entry:
    props: JSON = page.get("properties", {})

    def value(column: str, kind: str) -> Any:
        prop = props.get(column)
        return prop.get(kind) if isinstance(prop, dict) and prop.get("type") == kind else None

    parent = page.get("parent") or {}
    in_trash = bool(page.get("in_trash", page.get("archived", False)))
    return Entry(
        page_id=page["id"],
        url=short_url(str(page.get("url", ""))),
        title=plain(value(title_column, "title") or []),
        identifier=identifier(value(id_column, "unique_id")) or page["id"].replace("-", "")[:8],
        sentry_url=value(sentry_column, "url"),
        in_database=parent.get("data_source_id") == data_source_id and not in_trash,
    )


def assignees(users: Iterable[JSON]) -> list[Assignee]:
    return [
        Assignee(
            id=str(user["id"]),
            name=str(user.get("name") or (user.get("person") or {}).get("email") or user["id"]),
            email=(user.get("person") or {}).get("email") or None,
        )
        for user in users
        if user.get("type") == "person"
    ]


def entry_state(page: JSON, columns: dict[str, Column], names: Columns) -> EntryState:
    props: JSON = page.get("properties", {})

    def kind(column: str) -> str:
        return (columns.get(column) or Column(id="", type="")).type

    def value(column: str) -> Any:
        # Of the type the column has: a value of another (the column was retyped since the page was read) is none.
        prop = props.get(column)
        return prop.get(kind(column)) if isinstance(prop, dict) and prop.get("type") == kind(column) else None

    status = value(names.status) if names.status else None
    people = value(names.assignee) or []
    details: dict[str, str | int | None] = {}
    for key, column in names.details:
        raw, typed = value(column), kind(column)
        if typed == "number":
            details[key] = raw
        elif typed == "date":
            details[key] = iso_utc((raw or {}).get("start"))
        elif typed in ("rich_text", "title"):
            details[key] = plain(raw or []) or None
        elif typed == "select":
            details[key] = (raw or {}).get("name")
    return EntryState(
        status=(status or {}).get("name") if isinstance(status, dict) else None,
        assignee_ids=tuple(str(p.get("id")) for p in people if isinstance(p, dict)),
        details=details,
    )


def snapshot(
    entry: Entry, page: JSON, columns: dict[str, Column], names: Columns, data_source_id: str
) -> EntrySnapshot:
    return EntrySnapshot(
        entry=entry,
        state=entry_state(page, columns, names),
        in_data_source=(page.get("parent") or {}).get("data_source_id") == data_source_id,
        in_trash=bool(page.get("in_trash", page.get("archived", False))),
        edited_at=epoch_s(page.get("last_edited_time")),
    )


def entry_properties(update: EntryUpdate, columns: dict[str, Column], names: Columns) -> JSON:
    properties: JSON = {}
    if update.status is not None and names.status in columns:
        properties[names.status] = {columns[names.status].type: {"name": update.status}}
    if update.assignee_ids is not None:
        properties[names.assignee] = {"people": [{"object": "user", "id": i} for i in update.assignee_ids]}
    for key, column in names.details:
        if key not in update.details or column not in columns:
            continue
        value, kind = update.details[key], columns[column].type
        if kind == "number" and isinstance(value, int):
            properties[column] = {"number": value}
        elif kind == "date" and isinstance(value, str):
            properties[column] = {"date": {"start": value}}
        elif kind == "rich_text":
            properties[column] = {"rich_text": rich_text([Span(text=truncate(str(value)))])}
        elif kind == "select":
            # Notion refuses commas in option names; a new name becomes a new option.
            properties[column] = {"select": {"name": truncate(str(value).replace(",", " "), 100)}}
    return properties


def choice_properties(choices: dict[str, tuple[str, ...]], columns: dict[str, Column]) -> JSON:
    # Options by name, as the database has them: Notion would add an unknown select option, and refuses a status one.
    properties: JSON = {}
    for name, options in choices.items():
        kind = columns[name].type
        if kind == "multi_select":
            properties[name] = {"multi_select": [{"name": o} for o in options]}
        elif options:
            properties[name] = {kind: {"name": options[0]}}
    return properties
