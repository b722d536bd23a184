import json
import uuid
from collections.abc import AsyncIterator

import pytest
from pytest_aiohttp import AiohttpClient, AiohttpServer
from redis.asyncio import Redis

from adapters.memory import MemoryLinkRegistry, MemoryLocks
from adapters.urls import without_credentials
from container import Container
from tests.support.fake_notion import FakeNotion
from tests.support.fakes import FakeWorkspace
from tests.support.real_redis import REDIS_URL, why_unreachable
from tests.support.stack import Client, Notion, StartApp, app_for, forget_everything, settings


def pytest_sessionstart(session: pytest.Session) -> None:
    # Said once, and before any test runs: otherwise each test that uses Redis fails on its own with a
    # connection error, and a run without Redis cannot pass.
    if (reason := why_unreachable(REDIS_URL)) is not None:
        raise pytest.UsageError(
            f"Redis does not answer at {without_credentials(REDIS_URL)} ({reason}). The tests need a Redis: start one "
            "(redis-server --daemonize yes) or set TEST_REDIS_URL to one that answers."
        )


@pytest.fixture
def tracker() -> FakeWorkspace:
    return FakeWorkspace()


@pytest.fixture
def registry() -> MemoryLinkRegistry:
    return MemoryLinkRegistry()


@pytest.fixture
def locks() -> MemoryLocks:
    return MemoryLocks()


@pytest.fixture
async def notion(aiohttp_server: AiohttpServer) -> Notion:
    # Old-style links carry the title as a slug, so a long title makes a URL longer than Sentry stores.
    fake = FakeNotion(legacy_urls=True, seed=7)
    database_id, data_source_id = fake.add_database("Bugs")
    server = await aiohttp_server(fake.app())
    return Notion(fake, str(server.make_url("")).rstrip("/"), database_id, data_source_id)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"test-{uuid.uuid4().hex}"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    try:
        await forget_everything(redis, prefix)
    finally:
        await redis.aclose()


@pytest.fixture
def start_app(aiohttp_client: AiohttpClient, notion: Notion, redis_prefix: str) -> StartApp:
    """One replica of the whole service; call it again for another replica sharing Redis."""

    async def start(*, redis_url: str = REDIS_URL, **env: str) -> Client:
        base = {
            "NOTION_API_BASE_URL": notion.url,
            "NOTION_TOKEN": notion.fake.token,
            "NOTION_CONFIG": json.dumps({"database_id": notion.database_id}),
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": redis_prefix,
        }
        return await aiohttp_client(app_for(Container(settings=settings(**base | env))))

    return start
