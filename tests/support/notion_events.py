# Notion integration webhook events as Notion sends them (https://developers.notion.com/reference/webhooks-events-delivery),
# and the jobs the receiving route queues for them, for tests of the workers.
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from domain import notion_events
from domain.models import Job

WORKSPACE = "13950b26-c203-4f3b-b97d-93ec06319565"
SUBSCRIPTION = "29d75c0d-5546-4414-8459-7b7a92f1fc4b"
INTEGRATION = "0ef2e755-4912-8096-91c1-00376a88a5ca"
PERSON = "c7c11cca-1d73-471d-9b6e-bdef51470190"


def envelope(
    kind: str, entity: dict[str, str], data: dict[str, Any], *, at: float, authors: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "timestamp": datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "workspace_id": WORKSPACE,
        "workspace_name": "Acme",
        "subscription_id": SUBSCRIPTION,
        "integration_id": INTEGRATION,
        "type": kind,
        "authors": authors,
        "attempt_number": 1,
        "api_version": "2026-03-11",
        "entity": entity,
        "data": data,
    }


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
    who = authors if authors is not None else [{"id": PERSON, "type": "person"}]
    return envelope(kind, {"id": page_id, "type": "page"}, data, at=at, authors=who)


def comment_event(
    type: str, comment_id: str, page_id: str, *, author_id: str, author_type: str = "person"
) -> dict[str, Any]:
    """A `comment.created`, `comment.updated` or `comment.deleted` event about a comment on the page."""
    return envelope(
        type,
        {"id": comment_id, "type": "comment"},
        {"page_id": page_id, "parent": {"id": page_id, "type": "page"}},
        at=time.time(),
        authors=[{"id": author_id, "type": author_type}],
    )


def comment_job(type: str, comment_id: str, page_id: str, *, author_id: str, author_type: str = "person") -> Job:
    """The job the receiving route queues for the event."""
    body = comment_event(type, comment_id, page_id, author_id=author_id, author_type=author_type)
    job = notion_events.job(notion_events.parse(body), body, received_at=time.time())
    assert job is not None
    return job
