# Notion's error answers (https://developers.notion.com/reference/status-codes) as domain errors.
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from domain.errors import DomainError, IssueNotFound, RateLimited, TrackerMisconfigured, TrackerUnavailable

BLOCKED = "public_api_request_blocked"
# What a request names that Notion may not find: it decides whether a 404 is a missing entry or a setup fault.
Missing = Literal["", "page", "database"]


async def rate_limit_reason(response: aiohttp.ClientResponse) -> str:
    try:
        body = await response.json(content_type=None)  # aiohttp keeps the body for the caller's own read
    except ValueError:
        return ""
    return (
        str(((body or {}).get("additional_data") or {}).get("rate_limit_reason", "")) if isinstance(body, dict) else ""
    )


def error_message(body: Any) -> str:
    # Notion's edge answers some errors with HTML, which has no message to show.
    return str(body.get("message", "")) if isinstance(body, dict) else ""


@dataclass(frozen=True)
class NotionError:
    status: int
    message: str
    retry_after: float | None
    reason: str = ""


# A write that Notion may or may not have applied.
class Unclear(Exception):
    def __init__(self, body: Any) -> None:
        super().__init__("unclear outcome")
        self.body: dict[str, Any] = body if isinstance(body, dict) else {}


# A 403: the integration lacks a capability (https://developers.notion.com/reference/capabilities).
class MissingCapability(TrackerMisconfigured):
    pass


def unreachable(exc: Exception, where: str) -> TrackerUnavailable:
    # `where` is the API's base URL without credentials: the setting to check when it is wrong.
    return TrackerUnavailable(
        f"Notion did not answer in time at {where} (NOTION_API_BASE_URL); try again."
        if isinstance(exc, TimeoutError)
        else f"Could not reach Notion at {where} (NOTION_API_BASE_URL); check it and that this host reaches it."
    )


def translate(error: NotionError, missing: Missing, database_id: str) -> DomainError:
    detail = f" Notion said: {error.message}" if error.message else ""
    if error.reason == BLOCKED:
        return TrackerMisconfigured(
            "Notion has blocked requests from this integration; waiting will not help. Contact Notion support."
        )
    if error.status in (429, 529):
        wait = error.retry_after or 60.0
        return RateLimited(f"Notion is rate limiting this integration; try again in {wait:.0f} seconds.", wait)
    if error.status == 401:
        return TrackerMisconfigured(
            "Notion rejected the integration token (NOTION_TOKEN); create a new one in Notion's integration settings."
        )
    if error.status == 403:
        return MissingCapability(
            f"The Notion integration lacks a capability for this.{detail} "
            "Check its Capabilities in Notion's integration settings."
        )
    if error.status in (400, 404) and missing == "database":
        return TrackerMisconfigured(
            f"Notion cannot find database {database_id}. Share the database with the integration: "
            "open it in Notion, ••• → Connections → add the integration."
        )
    bad_id = error.status == 400 and error.message.startswith("path failed validation")
    if missing == "page" and (error.status == 404 or bad_id):
        return IssueNotFound("No entry with that ID is shared with the Notion integration.")
    if error.status == 400:
        return TrackerMisconfigured(f"Notion rejected the request.{detail}")
    if error.status == 409:
        return TrackerUnavailable("Notion reported a conflicting edit; try again.")
    return TrackerUnavailable(f"Notion is unavailable (HTTP {error.status}); try again shortly.")
