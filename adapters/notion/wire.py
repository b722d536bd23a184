import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from domain.models import Assignee, Block, Issue, Span

JSON = dict[str, Any]

TEXT_LIMIT = 2000  # characters per rich-text item, counted in UTF-16 units as Notion's JS does
ARRAY_LIMIT = 100  # elements per array: blocks per request, rich-text items per block
PAYLOAD_BYTES = 400_000  # under Notion's 500 KB per request, leaving room for properties
SENTRY_URL_LIMIT = 200  # Sentry stores webUrl in a Django URLField of default length

LANGUAGES = frozenset(
    {
        "abap",
        "abc",
        "agda",
        "arduino",
        "assembly",
        "bash",
        "basic",
        "bnf",
        "c",
        "c#",
        "c++",
        "clojure",
        "coffeescript",
        "coq",
        "css",
        "dart",
        "dhall",
        "diff",
        "docker",
        "ebnf",
        "elixir",
        "elm",
        "erlang",
        "f#",
        "flow",
        "fortran",
        "gherkin",
        "glsl",
        "go",
        "graphql",
        "groovy",
        "haskell",
        "hcl",
        "html",
        "idris",
        "java",
        "javascript",
        "json",
        "julia",
        "kotlin",
        "latex",
        "less",
        "lisp",
        "livescript",
        "lua",
        "makefile",
        "markdown",
        "markup",
        "matlab",
        "mathematica",
        "mermaid",
        "nix",
        "objective-c",
        "ocaml",
        "pascal",
        "perl",
        "php",
        "powershell",
        "prolog",
        "protobuf",
        "purescript",
        "python",
        "r",
        "racket",
        "reason",
        "ruby",
        "rust",
        "sass",
        "scala",
        "scheme",
        "scss",
        "shell",
        "smalltalk",
        "solidity",
        "sql",
        "swift",
        "toml",
        "typescript",
        "vb.net",
        "verilog",
        "vhdl",
        "webassembly",
        "xml",
        "yaml",
    }
) | {
    "ascii art",
    "llvm ir",
    "notion formula",
    "plain text",
    "visual basic",
    "java/c/c++/c#",
}
_ALIASES = {
    "py": "python", "python3": "python", "js": "javascript", "jsx": "javascript", "node": "javascript",
    "ts": "typescript", "tsx": "typescript", "sh": "shell", "zsh": "shell", "console": "shell",
    "rb": "ruby", "yml": "yaml", "golang": "go", "rs": "rust", "kt": "kotlin", "cs": "c#",
    "cpp": "c++", "objc": "objective-c", "dockerfile": "docker", "text": "plain text", "txt": "plain text",
}  # fmt: skip
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


def language(name: str | None) -> str:
    name = (name or "").lower()
    name = _ALIASES.get(name, name)
    return name if name in LANGUAGES else "plain text"


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
) -> Issue:
    props: JSON = page.get("properties", {})

    def value(column: str, kind: str) -> Any:
        prop = props.get(column)
        return prop.get(kind) if isinstance(prop, dict) and prop.get("type") == kind else None

    parent = page.get("parent") or {}
    in_trash = bool(page.get("in_trash", page.get("archived", False)))
    return Issue(
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


def error_message(body: Any) -> str:
    # Notion's edge answers some errors with HTML, which has no message to show.
    return str(body.get("message", "")) if isinstance(body, dict) else ""
