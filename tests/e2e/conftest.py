import functools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient, AiohttpServer
from redis.asyncio import Redis

from container import Container, open_use_cases
from entrypoints.http.app import create_app
from settings import Settings
from tests.fake_notion import FakeNotion
from tests.fakes import FakeIssueTracker
from tests.sentry import SECRET

Client = TestClient[web.Request, web.Application]
StartApp = Callable[..., Awaitable[Client]]
REDIS_URL = "redis://127.0.0.1:6379/15"


def settings(**env: str) -> Settings:
    return Settings.from_env(
        {
            "NOTION_TOKEN": "secret_test",
            "NOTION_CONFIG": '{"database_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}',
            "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET": f"{SECRET},previous-secret",
        }
        | env
    )


def app_for(container: Container) -> web.Application:
    return create_app(functools.partial(open_use_cases, container), client_secrets=container.settings().client_secrets)


@pytest.fixture
def tracker() -> FakeIssueTracker:
    return FakeIssueTracker()


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tracker: FakeIssueTracker) -> Client:
    container = Container(settings=settings())
    container.tracker.override(tracker)
    return await aiohttp_client(app_for(container))


# The whole service as deployed: real adapters, the fake Notion server, real Redis.
@dataclass(frozen=True)
class Notion:
    fake: FakeNotion
    url: str
    database_id: str
    data_source_id: str


@pytest.fixture
async def notion(aiohttp_server: AiohttpServer) -> Notion:
    # Old-style links carry the title as a slug, so a long title makes a URL longer than Sentry stores.
    fake = FakeNotion(legacy_urls=True, seed=7)
    database_id, data_source_id = fake.add_database("Bugs")
    server = await aiohttp_server(fake.app())
    return Notion(fake, str(server.make_url("")).rstrip("/"), database_id, data_source_id)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"e2e-{uuid.uuid4().hex}"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    try:
        await forget_everything(redis, prefix)
    finally:
        await redis.aclose()


@pytest.fixture
def start_app(aiohttp_client: AiohttpClient, notion: Notion, redis_prefix: str) -> StartApp:
    """One replica of the service; call it twice for two replicas sharing Redis."""

    async def start(*, redis_url: str = REDIS_URL) -> Client:
        env = {
            "NOTION_API_BASE_URL": notion.url,
            "NOTION_TOKEN": notion.fake.token,
            "NOTION_CONFIG": json.dumps({"database_id": notion.database_id}),
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": redis_prefix,
        }
        return await aiohttp_client(app_for(Container(settings=settings(**env))))

    return start


async def forget_everything(redis: Redis, prefix: str) -> None:
    keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
