from collections.abc import Iterator

import pytest
import structlog
from pytest_aiohttp import AiohttpClient

from container import Container
from tests.support.fakes import FakeWorkspace
from tests.support.stack import Client, app_for, settings


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tracker: FakeWorkspace) -> Client:
    container = Container(settings=settings())
    container.workspace.override(tracker)
    return await aiohttp_client(app_for(container))


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield  # `check` configures logging, as a command does: later tests get structlog's defaults back
    structlog.reset_defaults()
