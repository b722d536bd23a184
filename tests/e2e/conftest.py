import functools
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from container import Container, open_use_cases
from entrypoints.http.app import create_app
from settings import Settings
from tests.fakes import FakeIssueTracker
from tests.sentry import SECRET

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


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
async def client(aiohttp_client: AiohttpClient, tracker: FakeIssueTracker) -> TestClient[web.Request, web.Application]:
    container = Container(settings=settings())
    container.tracker.override(tracker)
    return await aiohttp_client(app_for(container))
