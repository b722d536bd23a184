# The whole service as deployed (real Notion adapter, the fake Notion server, real Redis), ready for faults.

import asyncio
import contextlib
import functools
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.notion.workspace import NotionWorkspace
from domain.use_cases import create_entry
from tests.support.stack import StartApp

# Unclear creates are looked up again after these pauses; shortened so that a recovery costs milliseconds.
RECOVERY_DELAYS_S = (0.0, 0.05, 0.1)


@pytest.fixture
def start_app(start_app: StartApp, monkeypatch: pytest.MonkeyPatch) -> StartApp:
    """The suite's replica: quick lookups after an unclear create, and no throttling of its own."""
    defaults = NotionWorkspace.__init__.__kwdefaults__
    assert defaults is not None
    assert "recovery_delays_s" in defaults
    monkeypatch.setitem(defaults, "recovery_delays_s", RECOVERY_DELAYS_S)
    # The faults come from the fake Notion; the service's own limiter is tested elsewhere.
    return functools.partial(start_app, NOTION_RATE_LIMIT="100000")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A redis-server of our own, to kill and restart in the middle of a test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        assert self._process is None
        self._process = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(5):
            while not await self.answers():
                assert self._process.returncode is None, "redis-server exited at start"
                await asyncio.sleep(0.02)

    async def kill(self) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()  # SIGKILL: no goodbye to the clients
            await self._process.wait()
            self._process = None

    async def answers(self) -> bool:
        redis = Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.2)
        try:
            return bool(await redis.ping())
        except (RedisError, OSError):
            return False
        finally:
            await redis.aclose()

    async def keys(self, pattern: str) -> list[Any]:
        redis = Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.2)
        try:
            return [key async for key in redis.scan_iter(pattern)]
        finally:
            await redis.aclose()


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    server = RedisServer()
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


UNCONFIRMED_TEST_S = 1.5


@pytest.fixture(autouse=True)
def _short_unconfirmed_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two minutes in production; long enough here for the immediate retry, short enough to wait out.
    monkeypatch.setattr(create_entry, "UNCONFIRMED_S", UNCONFIRMED_TEST_S)
