# Notion webhook events as Notion sends them: the envelope of https://developers.notion.com/reference/webhooks-events-delivery
# with the `data` of comment events (page_id and parent), for tests of the workers.
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from domain import notion_events
from domain.models import Job

WORKSPACE_ID = "13950b26-c203-4f3b-b97d-93ec06319565"
SUBSCRIPTION_ID = "29d75c0d-5546-4414-8459-7b7a92f1fc4b"
INTEGRATION_ID = "0ef2e755-4912-8096-91c1-00376a88a5ca"


def comment_event(
    type: str, comment_id: str, page_id: str, *, author_id: str, author_type: str = "person"
) -> dict[str, Any]:
    """A `comment.created`, `comment.updated` or `comment.deleted` event about a comment on the page."""
    return {
        "id": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "workspace_id": WORKSPACE_ID,
        "workspace_name": "Quantify Labs",
        "subscription_id": SUBSCRIPTION_ID,
        "integration_id": INTEGRATION_ID,
        "type": type,
        "authors": [{"id": author_id, "type": author_type}],
        "attempt_number": 1,
        "api_version": "2026-03-11",
        "entity": {"id": comment_id, "type": "comment"},
        "data": {"page_id": page_id, "parent": {"id": page_id, "type": "page"}},
    }


def comment_job(type: str, comment_id: str, page_id: str, *, author_id: str, author_type: str = "person") -> Job:
    """The job the receiving route queues for the event."""
    body = comment_event(type, comment_id, page_id, author_id=author_id, author_type=author_type)
    job = notion_events.job(notion_events.parse(body), body, received_at=time.time())
    assert job is not None
    return job
