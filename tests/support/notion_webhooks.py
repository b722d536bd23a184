# Notion's webhook deliveries as Notion sends them: the envelope of
# https://developers.notion.com/reference/webhooks-events-delivery, compact JSON, signed with the subscription's token.
import hashlib
import hmac
import json
import uuid
from typing import Any

from tests.support.notion_payloads import DATA_SOURCE_ID, DATABASE_ID, PAGE_ID

# The documentation's own sample (https://developers.notion.com/reference/webhooks): this body, keyed by this token,
# is signed with this header.
DOC_TOKEN = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"
DOC_HANDSHAKE = b'{"verification_token":"secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}'
DOC_SIGNATURE = "sha256=461e8cbcba8a75c3edd866f0e71280f5a85cbf21eff040ebd10fe266df38a735"

TOKEN = "secret_5KsTgT6dX3bXn1fNw0Uu2pQh7yVv8mRrLcZzEe4jOaI"
OLD_TOKEN = "secret_Ol9dT0kenKeptWhileRotatingXXXXXXXXXXXXXXX"
COMMENT_ID = "7a793800-3e55-4d5e-8009-2261de026179"


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, token: str = TOKEN) -> str:
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def headers(body: bytes, token: str = TOKEN) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Notion-Signature": sign(body, token)}


def handshake(token: str = TOKEN) -> bytes:
    return dumps({"verification_token": token})


def event(
    type: str = "page.properties_updated",
    *,
    id: str | None = None,
    data_source_id: str | None = DATA_SOURCE_ID,
    authors: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """An event of the given type on PAGE_ID (or a comment on it), from a subscription on API version 2026-03-11."""
    parent: dict[str, Any] = {"id": DATABASE_ID, "type": "database"}
    if data_source_id is not None:
        parent["data_source_id"] = data_source_id
    entity: dict[str, str] = {"id": PAGE_ID, "type": "page"}
    data: dict[str, Any] = {"parent": parent}
    if type.startswith("comment."):
        entity, data = (
            {"id": COMMENT_ID, "type": "comment"},
            {"page_id": PAGE_ID, "parent": {"id": PAGE_ID, "type": "page"}},
        )
    elif type.startswith("data_source."):
        entity = {"id": data_source_id or DATA_SOURCE_ID, "type": "data_source"}
        data = {
            "parent": {"id": DATABASE_ID, "type": "database"},
            "updated_properties": [{"id": "biOx", "name": "Status", "action": "updated"}],
        }
    elif type == "page.properties_updated":
        data["updated_properties"] = ["biOx", "XGe%40"]
    return {
        "id": id or str(uuid.uuid4()),
        "timestamp": "2026-03-20T09:15:02.118Z",
        "workspace_id": "13950b26-c203-4f3b-b97d-93ec06319565",
        "workspace_name": "Acme",
        "subscription_id": "29d75c0d-5546-4414-8459-7b7a92f1fc4b",
        "integration_id": "0ef2e755-4912-8096-91c1-00376a88a5ca",
        "type": type,
        "authors": authors
        if authors is not None
        else [{"id": "c7c11cca-1d73-471d-9b6e-bdef51470190", "type": "person"}],
        "attempt_number": 1,
        "api_version": "2026-03-11",
        "entity": entity,
        "data": data,
    }
