# Bodies are read before their signature can be checked: what an unsigned sender can make the service hold.
import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from pytest_aiohttp import AiohttpClient

from container import Container
from entrypoints.http.app import MAX_BODY_BYTES, BodyBudget
from tests.support.fakes import FakeWorkspace
from tests.support.sentry import group, hook_headers, select_url, sign, webhook
from tests.support.stack import Client, app_for, settings

WEBHOOK, CREATE = "/sentry/webhook", "/sentry/issue-link/create"
LARGE = 900_000


async def start(aiohttp_client: AiohttpClient, tracker: FakeWorkspace, budget: BodyBudget) -> Client:
    container = Container(settings=settings())
    container.workspace.override(tracker)
    return await aiohttp_client(app_for(container, body_budget=budget))


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    message: str


# A raw connection, since aiohttp's client reads no answer before it has sent the whole body: this is the slow or
# hostile sender that declares a body and then sends it late, or never.
class Upload:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def begin(cls, client: Client, size: int, first: bytes = b"", *, signed: bool = True) -> "Upload":
        # `signed`: with a signature header, as a forger would send; its value is checked once the body is read.
        assert client.port is not None
        upload = cls(*await asyncio.open_connection(client.host, client.port))
        head = f"POST {CREATE} HTTP/1.1\r\nHost: sentry-notion\r\nContent-Type: application/json\r\n"
        if signed:
            head += f"Sentry-App-Signature: {'0' * 64}\r\n"
        await upload.send(f"{head}Content-Length: {size}\r\n\r\n".encode() + first)
        return upload

    async def send(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def answer(self) -> Answer:
        status_line, *lines = (await self._reader.readuntil(b"\r\n\r\n")).decode().strip().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines)
        body = json.loads(await self._reader.readexactly(int(headers["Content-Length"])))
        assert isinstance(body["message"], str)
        return Answer(int(status_line.split()[1]), headers, body["message"])

    def close(self) -> None:
        self._writer.close()


async def test_a_declared_length_over_the_limit_is_a_413_before_any_body_is_sent(
    aiohttp_client: AiohttpClient, tracker: FakeWorkspace
) -> None:
    budget = BodyBudget()
    client = await start(aiohttp_client, tracker, budget)
    upload = await Upload.begin(client, 50_000_000)

    answer = await upload.answer()
    upload.close()

    assert answer.status == 413
    assert str(MAX_BODY_BYTES) in answer.message
    assert (budget.peak, tracker.calls) == (0, [])


async def test_a_body_without_any_signature_header_is_refused_unread(
    aiohttp_client: AiohttpClient, tracker: FakeWorkspace
) -> None:
    budget = BodyBudget()
    client = await start(aiohttp_client, tracker, budget)
    upload = await Upload.begin(client, LARGE, b"{", signed=False)

    answer = await upload.answer()
    upload.close()

    assert (answer.status, answer.headers.get("Connection")) == (401, "close")
    assert (budget.peak, tracker.calls) == (0, [])


async def test_forged_uploads_cannot_fill_memory_and_sentry_still_gets_through(
    aiohttp_client: AiohttpClient, tracker: FakeWorkspace
) -> None:
    budget = BodyBudget(total_bytes=2 * MAX_BODY_BYTES)
    client = await start(aiohttp_client, tracker, budget)
    uploads = [await Upload.begin(client, LARGE, b"{") for _ in range(6)]
    answers = {asyncio.ensure_future(upload.answer()): upload for upload in uploads}

    # Two of them fit in what large bodies may take; the rest are turned away while those two still arrive.
    pending, turned_away = set(answers), list[Answer]()
    while len(turned_away) < 4:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        turned_away += [task.result() for task in done]
    assert [a.status for a in turned_away] == [503] * 4
    assert all(a.headers["Retry-After"] == "1" and "try again" in a.message for a in turned_away)
    assert budget.held == 2 * LARGE

    # Sentry's signed requests still get through: a webhook's small body, and GETs that have none.
    body = webhook("resolved", group())
    hook = await client.post(WEBHOOK, data=body, headers=hook_headers(body, "issue", int(time.time())))
    options = await client.get(select_url("/sentry/options/assignees"), headers={"Sentry-App-Signature": sign(b"")})
    assert (hook.status, options.status) == (200, 200)

    for task in pending:
        await answers[task].send(b" " * (LARGE - 1))
    finished = [await task for task in pending]
    for upload in uploads:
        upload.close()
    assert [a.status for a in finished] == [401, 401]
    assert budget.peak <= budget.total_bytes
    assert budget.held == 0
    assert tracker.calls == ["list_assignees"]


async def test_a_body_that_stops_arriving_is_a_408_and_gives_back_its_share(
    aiohttp_client: AiohttpClient, tracker: FakeWorkspace
) -> None:
    budget = BodyBudget(read_timeout_s=0.3)
    client = await start(aiohttp_client, tracker, budget)
    upload = await Upload.begin(client, LARGE, b"{")

    answer = await upload.answer()
    upload.close()

    assert answer.status == 408
    assert "did not arrive" in answer.message
    assert (budget.peak, budget.held, tracker.calls) == (LARGE, 0, [])


@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 4 * MAX_BODY_BYTES])
async def test_a_chunked_body_growing_over_the_limit_is_a_413(
    aiohttp_client: AiohttpClient, tracker: FakeWorkspace, size: int
) -> None:
    budget = BodyBudget()
    client = await start(aiohttp_client, tracker, budget)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(0, size, 65536):
            yield b" " * 65536

    forged = {"Content-Type": "application/json", "Sentry-App-Signature": "0" * 64}
    resp = await client.post(CREATE, data=chunks(), headers=forged)

    assert resp.status == 413
    assert (await resp.json())["message"]
    assert (budget.peak, budget.held) == (MAX_BODY_BYTES, 0)
