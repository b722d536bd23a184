# Notion's webhook deliveries as Notion sends them, built by hand for tests of the route and of the workers: the
# envelope of https://developers.notion.com/reference/webhooks-events-delivery, compact JSON, signed with the
# subscription's token, through the same helpers as the fake Notion's own webhooks.
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY

from domain import notion_events
from domain.models import Job
from tests.support.fake_notion.webhooks import encode, envelope, signature
from tests.support.notion_payloads import DATA_SOURCE_ID, DATABASE_ID, PAGE_ID

# The documentation's own sample (https://developers.notion.com/reference/webhooks): this body, keyed by this token,
# is signed with this header.
DOC_TOKEN = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"
DOC_HANDSHAKE = b'{"verification_token":"secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}'
DOC_SIGNATURE = "sha256=461e8cbcba8a75c3edd866f0e71280f5a85cbf21eff040ebd10fe266df38a735"

TOKEN = "secret_5KsTgT6dX3bXn1fNw0Uu2pQh7yVv8mRrLcZzEe4jOaI"
OLD_TOKEN = "secret_Ol9dT0kenKeptWhileRotatingXXXXXXXXXXXXXXX"
COMMENT_ID = "7a793800-3e55-4d5e-8009-2261de026179"
WORKSPACE = "13950b26-c203-4f3b-b97d-93ec06319565"
SUBSCRIPTION = "29d75c0d-5546-4414-8459-7b7a92f1fc4b"
INTEGRATION = "0ef2e755-4912-8096-91c1-00376a88a5ca"
PERSON = "c7c11cca-1d73-471d-9b6e-bdef51470190"


def events_counted(type: str, outcome: str) -> float:
    """How many Notion events of the type the service counted with the outcome, in this process."""
    return REGISTRY.get_sample_value("sentry_notion_notion_events_total", {"type": type, "outcome": outcome}) or 0.0


def sign(body: bytes, token: str = TOKEN) -> str:
    return signature(body, token)


def headers(body: bytes, token: str = TOKEN) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Notion-Signature": sign(body, token)}


def handshake(token: str = TOKEN) -> bytes:
    return encode({"verification_token": token})


def delivery(
    type: str,
    entity: dict[str, str],
    data: dict[str, Any],
    *,
    authors: list[dict[str, str]] | None = None,
    at: float | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """An event body from this file's subscription on API version 2026-03-11, by PERSON unless `authors`."""
    moment = datetime(2026, 3, 20, 9, 15, 2, 118000, UTC) if at is None else datetime.fromtimestamp(at, UTC)
    return envelope(
        id=id or str(uuid.uuid4()),
        timestamp=moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        workspace_id=WORKSPACE,
        workspace_name="Acme",
        subscription_id=SUBSCRIPTION,
        integration_id=INTEGRATION,
        type=type,
        authors=authors if authors is not None else [{"id": PERSON, "type": "person"}],
        attempt_number=1,
        api_version="2026-03-11",
        entity=entity,
        data=data,
    )


def event(
    type: str = "page.properties_updated",
    *,
    id: str | None = None,
    data_source_id: str | None = DATA_SOURCE_ID,
    authors: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """An event of the given type on PAGE_ID (or a comment on it)."""
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
    return delivery(type, entity, data, authors=authors, id=id)


def page_event(
    kind: str,
    page_id: str,
    *,
    at: float,
    authors: list[dict[str, str]] | None = None,
    updated_properties: list[str] | None = None,
    data_source_id: str = "98024f3c-b1d3-4aec-a301-f01e0dacf023",
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "parent": {"id": "36cc9195-760f-4fff-a67e-3a46c559b176", "type": "database", "data_source_id": data_source_id}
    }
    if updated_properties is not None:
        data["updated_properties"] = updated_properties
    return delivery(kind, {"id": page_id, "type": "page"}, data, authors=authors, at=at)


def comment_job(type: str, comment_id: str, page_id: str, *, author_id: str, author_type: str = "person") -> Job:
    """The job the receiving route queues for a `comment.created`, `comment.updated` or `comment.deleted` event
    about a comment on the page."""
    body = delivery(
        type,
        {"id": comment_id, "type": "comment"},
        {"page_id": page_id, "parent": {"id": page_id, "type": "page"}},
        authors=[{"id": author_id, "type": author_type}],
        at=time.time(),
    )
    job = notion_events.job(notion_events.parse(body), body, received_at=time.time())
    assert job is not None
    return job
