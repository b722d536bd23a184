"""In-memory fake of the Notion REST API (data-source era, versions 2025-09-03 / 2026-03-11).

Follows Notion's reference (https://developers.notion.com/reference) and SDK (makenotion/notion-sdk-js): exact error
shapes and messages, content limits, sharing, capabilities and fault injection.
Serve it with ``aiohttp_server(FakeNotion().app())``; ``NotionWebhooks(fake, url, verification_token=...)`` subscribes
the service at ``url`` to its webhooks.
"""

from tests.support.fake_notion.server import FakeNotion
from tests.support.fake_notion.webhooks import NotionWebhooks

__all__ = ["FakeNotion", "NotionWebhooks"]
