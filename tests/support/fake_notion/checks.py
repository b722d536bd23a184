# Notion's request checks and their error messages: a failed check raises NotionError as Notion answers it.
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

JsonObj = dict[str, Any]
# Distinguishes an absent key from an explicit null: Notion's messages print `undefined` vs `null`.
UNDEFINED: Any = object()
NOT_SHARED = "Make sure the relevant pages and databases are shared with your integration."
MAX_TEXT = 2000
MAX_ARRAY = 100


class NotionError(Exception):
    def __init__(self, status: int, code: str, message: str, additional_data: JsonObj | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.additional_data = status, code, message, additional_data


def js(value: Any) -> str:
    if value is UNDEFINED:
        return "undefined"
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= 200 else text[:200] + "…"


def invalid(message: str) -> NotionError:
    return NotionError(400, "validation_error", message)


def body_invalid(path: str, should: str, value: Any, where: str = "body") -> NotionError:
    return invalid(f"{where} failed validation: {path} should be {should}, instead was `{js(value)}`.")


def _js_len(text: str) -> int:
    # Notion counts JavaScript string length (UTF-16 code units), so an emoji costs two.
    return len(text.encode("utf-16-le")) // 2


def _check_len(items: list[Any], path: str, limit: int = MAX_ARRAY) -> None:
    if len(items) > limit:
        raise body_invalid(f"{path}.length", f"≤ `{limit}`", len(items))


def check_str(value: Any, path: str, limit: int) -> str:
    if not isinstance(value, str):
        raise body_invalid(path, "defined" if value is UNDEFINED else "a string", value)
    if _js_len(value) > limit:
        raise body_invalid(f"{path}.length", f"≤ `{limit}`", _js_len(value))
    return value


def check_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise body_invalid(path, "defined" if value is UNDEFINED else "an array", value)
    _check_len(value, path)
    return value


def check_obj(value: Any, path: str) -> JsonObj:
    if not isinstance(value, dict):
        raise body_invalid(path, "defined" if value is UNDEFINED else "an object", value)
    return value


def reject_unknown(body: JsonObj, allowed: Iterable[str], path: str = "body") -> None:
    for key, value in body.items():
        if key not in allowed:
            raise body_invalid(f"{path}.{key}", "not present", value)


_UUID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def parse_id(value: Any, path: str, where: str = "body") -> str:
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise body_invalid(path, "a valid uuid", value, where)
    return str(uuid.UUID(value))


def parse_moment(value: Any) -> tuple[datetime, bool] | None:
    """(UTC datetime, is_date_only) or None when unparseable; naive values are UTC as Notion documents."""
    if not isinstance(value, str):
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.fromisoformat(value).replace(tzinfo=UTC), True
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), False
