import re
from urllib.parse import parse_qs, urlsplit

from domain.models import EntryQuery

_HEX32 = re.compile(r"[0-9a-f]{32}")
_PATH_ID = re.compile(
    r"(?<![0-9a-f])([0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?![0-9a-f])"
)
_BARE_ID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_UNIQUE_ID = re.compile(r"^#?(?:(?P<prefix>[a-z][a-z0-9_]*)-)?(?P<number>\d{1,15})$")
_NOTION_HOSTS = ("notion.so", "notion.com", "notion.site")


# The object a pasted Notion link or ID names, dashed and lowercase, or None.
def notion_id(text: str) -> str | None:
    text = text.strip().lower()
    if _BARE_ID.match(text):
        return _dashed(text.replace("-", ""))
    try:
        parts = urlsplit(text if "://" in text else f"https://{text}")
    except ValueError:  # brackets or look-alike punctuation in words typed to search titles
        return None
    host = parts.hostname or ""
    if not any(host == h or host.endswith(f".{h}") for h in _NOTION_HOSTS):
        return None
    # A side-peek link names the database in its path and the page in ?p=; the path id is the page otherwise.
    peek = [v for v in parse_qs(parts.query).get("p", []) if _HEX32.fullmatch(v.replace("-", ""))]
    if peek:
        return _dashed(peek[0].replace("-", ""))
    found = _PATH_ID.findall(parts.path)
    return _dashed(found[-1].replace("-", "")) if found else None


def parse_entry_query(text: str, limit: int = 20) -> EntryQuery:
    text = " ".join(text.split())
    if not text:
        return EntryQuery(limit=limit)
    if pid := notion_id(text):
        return EntryQuery(page_id=pid, limit=limit)
    words = tuple(text.split(" "))
    if match := _UNIQUE_ID.match(text.lower()):
        return EntryQuery(
            words=words,
            number=int(match["number"]),
            prefix=match["prefix"],
            limit=limit,
        )
    return EntryQuery(words=words, limit=limit)


def _dashed(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"
