# The service as deployed, for tests: real adapters, the fake Notion server, real Redis.
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpServer
from redis.asyncio import Redis

from container import Container, open_use_cases
from entrypoints.http.app import BodyBudget, create_app
from settings import Settings
from tests.support.fake_notion import FakeNotion
from tests.support.fake_sentry import FakeSentry
from tests.support.sentry import SECRET

Client = TestClient[web.Request, web.Application]
StartApp = Callable[..., Awaitable[Client]]


def settings(**env: str) -> Settings:
    return Settings.from_env(
        {
            "NOTION_TOKEN": "secret_test",
            "NOTION_CONFIG": '{"database_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}',
            "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET": f"{SECRET},previous-secret",
        }
        | env
    )


def app_for(container: Container, body_budget: BodyBudget | None = None) -> web.Application:
    return create_app(
        functools.partial(open_use_cases, container),
        client_secrets=container.settings().client_secrets,
        notion_secrets=container.settings().notion_webhook_secrets,
        body_budget=body_budget,
    )


@dataclass(frozen=True)
class Notion:
    fake: FakeNotion
    url: str
    database_id: str
    data_source_id: str


async def serve_notion(aiohttp_server: AiohttpServer, *, seed: int, at: datetime) -> Notion:
    """The fake Notion with a "Bugs" database, its clock stopped at `at`."""
    fake = FakeNotion(seed=seed)
    database_id, data_source_id = fake.add_database("Bugs")
    fake.clock = lambda: at
    server = await aiohttp_server(fake.app())
    return Notion(fake, str(server.make_url("")).rstrip("/"), database_id, data_source_id)


async def serve_sentry(
    aiohttp_server: AiohttpServer, *, issue: int, at: datetime, scopes: tuple[str, ...]
) -> tuple[FakeSentry, str]:
    """The fake Sentry with one unresolved issue, its clock stopped at `at`; and its URL."""
    fake = FakeSentry(scopes=scopes)
    fake.clock = lambda: at
    fake.add_issue(issue, status="unresolved", substatus="ongoing")
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


async def forget_everything(redis: Redis, prefix: str) -> None:
    keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
