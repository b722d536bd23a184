"""What a Notion integration webhook says, in the terms the sync works in.

Notion's events carry ids, never content (https://developers.notion.com/reference/webhooks-events-delivery):
a job only says "look at this page or comment again", and the worker reads what it needs. Events may arrive
late, merged, repeated and out of order, so nothing here depends on their order or number.
"""

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, ValidationError, field_validator

from domain.errors import InvalidWebhook
from domain.models import Frozen, Job

# The event types the sync acts on, by the job kind that applies them; every other type is acknowledged and
# dropped. `database.schema_updated` is the name of the same event on subscriptions older than 2025-09-03.
KINDS: dict[str, str] = {
    "page.properties_updated": "notion.page",
    "page.created": "notion.page",
    "page.moved": "notion.page",
    "page.deleted": "notion.page",
    "page.undeleted": "notion.page",
    "comment.created": "notion.comment",
    "comment.updated": "notion.comment",
    "comment.deleted": "notion.comment",
    "data_source.schema_updated": "notion.schema",
    "database.schema_updated": "notion.schema",
}


# Notion's ids are UUIDs, written with or without dashes (https://developers.notion.com/reference/intro). The
# worker puts them in API paths, so anything else is refused here rather than sent to Notion.
NotionId = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}$")]


class Author(Frozen):
    id: str = Field(min_length=1, max_length=64)
    type: str = Field(max_length=20)  # person, bot or agent


class NotionEvent(Frozen):
    """One delivery of Notion's envelope, reduced to what the sync uses."""

    id: str = Field(min_length=1, max_length=64)  # the same on every retry: the key that drops repeats
    type: str = Field(min_length=1, max_length=80)
    timestamp: datetime  # when the change happened, on Notion's clock
    workspace_id: str = Field(default="", max_length=64)
    subscription_id: str = Field(default="", max_length=64)
    integration_id: str = Field(default="", max_length=64)
    authors: tuple[Author, ...] = Field(default=(), max_length=100)
    entity_id: NotionId
    entity_type: str = Field(max_length=40)
    page_id: NotionId | None = None  # the page the event is about: the entity, or the page a comment is on
    data_source_id: NotionId | None = None  # the page's data source, when Notion names it
    updated_properties: tuple[str, ...] = Field(default=(), max_length=500)  # property ids, URL-encoded

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("the timestamp must name its time zone")
        return value

    @property
    def kind(self) -> str | None:
        return KINDS.get(self.type)

    def only_by_service(self, bot_id: str) -> bool:
        """Whether every author is the service's own bot (`bot_id`, the token's bot user): an event its own writes
        caused. Notion's documentation leaves open whether authors name that bot or the integration, so
        `integration_id` counts as ours too. A merged event with a person or another integration's bot among its
        authors is someone's change too, and is applied."""
        ours = {bot_id, self.integration_id} - {""}
        return bool(self.authors) and all(a.type == "bot" and a.id in ours for a in self.authors)


def decode(raw: bytes) -> Any:
    """The JSON of a delivery. Raises InvalidWebhook for bytes that are not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise InvalidWebhook("The Notion webhook's body is not JSON.") from None


def verification_token(body: Any) -> str | None:
    """The token of a subscription handshake: a body with `verification_token` and no event `type`."""
    if isinstance(body, dict) and "type" not in body and isinstance(token := body.get("verification_token"), str):
        return token if 0 < len(token) <= 200 and token.isprintable() else None
    return None


def parse(body: Any) -> NotionEvent:
    """Reads a signed event's envelope, as decoded from its JSON. Raises InvalidWebhook for a body Notion
    would not send."""
    if not isinstance(body, dict):
        raise InvalidWebhook("The Notion event is not a JSON object.")
    entity, data = _dict(body.get("entity")), _dict(body.get("data"))
    parent = _dict(data.get("parent"))
    try:
        event = NotionEvent(
            id=body.get("id"),
            type=body.get("type"),
            timestamp=body.get("timestamp"),
            workspace_id=body.get("workspace_id", ""),
            subscription_id=body.get("subscription_id", ""),
            integration_id=body.get("integration_id", ""),
            authors=body.get("authors") or (),
            entity_id=entity.get("id"),
            entity_type=entity.get("type", ""),
            page_id=data.get("page_id") if entity.get("type") == "comment" else entity.get("id"),
            data_source_id=parent.get("data_source_id"),
            updated_properties=_property_ids(data.get("updated_properties")),
        )
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors(include_url=False)[0]["loc"])
        raise InvalidWebhook(f"The Notion event's {where or 'envelope'} is missing or malformed.") from None
    return event


def job(event: NotionEvent, body: dict[str, Any], *, received_at: float) -> Job | None:
    """The job that applies the event, keyed on its id so that Notion's retries are dropped; None for a type
    the sync does not act on."""
    if event.kind is None:
        return None
    return Job(kind=event.kind, key=f"notion:{event.id}", action=event.type, body=body, received_at=received_at)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _property_ids(value: Any) -> tuple[str, ...]:
    # page.* events list ids; schema events list {id, name, action} objects.
    if not isinstance(value, list):
        return ()
    ids = (item.get("id") if isinstance(item, dict) else item for item in value)
    return tuple(i for i in ids if isinstance(i, str))
