# Notion's webhooks through the whole HTTP app: the signature, the handshake and its token, events queued under their
# id. The queue keeps what it is given; the workers' handlers are this file's, since the sync's land elsewhere.
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient
from structlog.testing import capture_logs

from adapters.memory import MemoryVerificationTokens
from container import Container
from domain.errors import TrackerUnavailable
from domain.models import Job, JobOutcome
from domain.use_cases.run_job import RunJob
from tests.support.fake_notion.webhooks import encode
from tests.support.fakes import FakeJobQueue, FakeWorkspace
from tests.support.notion_payloads import DATA_SOURCE_ID
from tests.support.notion_webhooks import (
    DOC_HANDSHAKE,
    DOC_SIGNATURE,
    DOC_TOKEN,
    OLD_TOKEN,
    TOKEN,
    event,
    events_counted,
    handshake,
    headers,
    sign,
)
from tests.support.real_redis import REDIS_DOWN, REDIS_URL
from tests.support.stack import Client, app_for, settings

WEBHOOK = "/notion/webhook"
CONFIG = json.dumps({"database_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "data_source_id": DATA_SOURCE_ID})
CLI = str(Path(sys.executable).with_name("sentry-notion"))


class Handlers:
    def __init__(self) -> None:
        self.ran: list[Job] = []
        self.fail: Exception | None = None

    async def __call__(self, job: Job) -> JobOutcome:
        if self.fail:
            raise self.fail
        self.ran.append(job)
        return JobOutcome(outcome="applied", changes=("ran",))


class Service:
    def __init__(
        self, client: Client, queue: FakeJobQueue, tokens: MemoryVerificationTokens, handlers: Handlers
    ) -> None:
        self.client, self.queue, self.tokens, self.handlers = client, queue, tokens, handlers
        self.ran = handlers.ran

    async def post(self, body: bytes, **extra: str) -> tuple[int, dict[str, Any]]:
        resp = await self.client.post(WEBHOOK, data=body, headers={"Content-Type": "application/json"} | extra)
        return resp.status, await resp.json()


async def start(aiohttp_client: AiohttpClient, secrets: str | None = f"{TOKEN},{OLD_TOKEN}") -> Service:
    env = {"NOTION_CONFIG": CONFIG} | ({} if secrets is None else {"NOTION_WEBHOOK_SECRET": secrets})
    container = Container(settings=settings(**env))
    queue, tokens, handlers = FakeJobQueue(), MemoryVerificationTokens(), Handlers()
    container.workspace.override(FakeWorkspace())
    container.queue.override(queue)
    container.verification_tokens.override(tokens)
    container.run_job.override(
        RunJob(handlers=dict.fromkeys(("notion.page", "notion.comment", "notion.schema"), handlers))
    )
    app = app_for(container)
    return Service(await aiohttp_client(app), queue, tokens, handlers)


@pytest.fixture
async def service(aiohttp_client: AiohttpClient) -> Service:
    return await start(aiohttp_client)


def test_signatures_are_notions_documented_sample() -> None:
    assert sign(DOC_HANDSHAKE, DOC_TOKEN) == DOC_SIGNATURE
    assert sign(json.dumps(json.loads(DOC_HANDSHAKE)).encode(), DOC_TOKEN) != DOC_SIGNATURE  # re-serialised: spaces


async def test_the_documented_signature_is_accepted(aiohttp_client: AiohttpClient) -> None:
    service = await start(aiohttp_client, secrets=DOC_TOKEN)
    body = encode(event()).replace(b"}", b" }", 1)  # bytes as sent, not as Python would write them

    status, answer = await service.post(
        body, **{"X-Notion-Signature": sign(body, DOC_TOKEN).upper().replace("SHA256=", "sha256=")}
    )

    assert (status, answer) == (200, {"received": True, "outcome": "queued"})
    assert [job.body for job in service.queue.jobs] == [json.loads(body)]


@pytest.mark.parametrize("token", [TOKEN, OLD_TOKEN], ids=["new", "old"])
async def test_either_configured_token_verifies_while_rotating(service: Service, token: str) -> None:
    body = encode(event())
    before = events_counted("page.properties_updated", "queued")

    status, answer = await service.post(body, **headers(body, token))

    assert (status, answer["outcome"]) == (200, "queued")
    assert events_counted("page.properties_updated", "queued") == before + 1


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        sign(encode(event()), "secret_someone_else"),
        sign(encode(event()))[len("sha256=") :],  # no prefix
        "sha1=" + sign(encode(event()))[len("sha256=") :],
        sign(encode(event())) + "00",
        sign(encode(event()))[:-1],
        sign(encode(event())) + ", " + sign(encode(event())),
        "sha256=" + "g" * 64,
        "sha256=ｆ" + "0" * 63,  # a fullwidth letter
    ],
    ids=["missing", "empty", "forged", "no-prefix", "sha1", "long", "short", "two", "not-hex", "fullwidth"],
)
async def test_a_forged_missing_or_malformed_signature_is_refused_and_nothing_queued(
    service: Service, signature: str | None
) -> None:
    body = encode(event(id="1782edd6-a853-4d4a-b02c-9c8c16f28e53"))
    signed = {} if signature is None else {"X-Notion-Signature": signature}

    status, answer = await service.post(body, **signed)

    assert status == 401
    assert "NOTION_WEBHOOK_SECRET" in answer["message"]
    assert (service.queue.jobs, service.ran) == ([], [])


async def test_the_signature_covers_the_body_as_sent(service: Service) -> None:
    body = encode(event())
    tampered = body.replace(b'"person"', b'"bot"')

    status, _ = await service.post(tampered, **headers(body))

    assert status == 401
    assert service.queue.jobs == []


async def test_without_a_configured_token_events_are_refused_naming_the_variable(aiohttp_client: AiohttpClient) -> None:
    service = await start(aiohttp_client, secrets=None)
    body = encode(event())

    status, answer = await service.post(body, **headers(body))

    assert status == 401
    assert answer["message"].startswith("Notion webhooks are refused: NOTION_WEBHOOK_SECRET is not set")
    assert service.queue.jobs == []


async def test_the_handshake_is_taken_unsigned_and_kept_pending_never_logged(aiohttp_client: AiohttpClient) -> None:
    service = await start(aiohttp_client, secrets=None)
    before = events_counted("verification", "local")

    with capture_logs() as logs:
        status, answer = await service.post(DOC_HANDSHAKE)

    assert (status, answer) == (200, {"received": True, "outcome": "verification"})
    assert [t.token for t in await service.tokens.pending()] == [DOC_TOKEN]
    (said,) = [entry for entry in logs if entry["event"] == "notion_verification_token_received"]
    assert (said["log_level"], said["kept"]) == ("warning", "local")
    assert "REDIS_URL" in said["next"]
    assert "Resend token" in said["next"]
    assert DOC_TOKEN not in repr(logs)
    assert events_counted("verification", "local") == before + 1
    # Still refused: a handshake activates nothing.
    body = encode(event())
    assert (await service.post(body, **headers(body, DOC_TOKEN)))[0] == 401


async def test_a_later_handshake_never_replaces_the_active_token(service: Service) -> None:
    with capture_logs() as logs:
        assert (await service.post(handshake(TOKEN)))[0] == 200  # Notion resending the configured one
        assert (
            await service.post(handshake("secret_attacker"), **headers(handshake("secret_attacker"), "secret_attacker"))
        )[0] == 200

    assert [t.token for t in await service.tokens.pending()] == ["secret_attacker"]
    assert [entry["kept"] for entry in logs if entry["event"] == "notion_verification_token_received"] == [
        "active",
        "local",
    ]
    forged = encode(event())
    assert (await service.post(forged, **headers(forged, "secret_attacker")))[0] == 401
    assert "secret_attacker" not in repr(logs)


async def test_notions_retry_of_an_event_is_a_duplicate(service: Service) -> None:
    first = event(id="1782edd6-a853-4d4a-b02c-9c8c16f28e53")
    retry = encode(first | {"attempt_number": 2})

    assert (await service.post(encode(first), **headers(encode(first))))[1]["outcome"] == "queued"
    assert (await service.post(retry, **headers(retry)))[1]["outcome"] == "duplicate"
    assert [job.key for job in service.queue.jobs] == [f"notion:{first['id']}"]


@pytest.mark.parametrize(
    ("body", "label"),
    [
        (event("page.content_updated"), "other"),
        (event("file_upload.completed"), "other"),
        (
            event("page.properties_updated", data_source_id="98024f3c-b1d3-4aec-a301-f01e0dacf023"),
            "page.properties_updated",
        ),
    ],
    ids=["content", "unknown-type", "other-data-source"],
)
async def test_events_the_sync_does_not_act_on_are_acknowledged_and_dropped(
    service: Service, body: dict[str, Any], label: str
) -> None:
    raw = encode(body)
    before = events_counted(label, "ignored")

    assert await service.post(raw, **headers(raw)) == (200, {"received": True, "outcome": "ignored"})
    assert service.queue.jobs == []
    assert events_counted(label, "ignored") == before + 1


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        encode({"type": "page.created"}),
        encode(event() | {"timestamp": "2026-03-20"}),
        encode({"verification_token": 7}),
    ],
)
async def test_a_signed_body_notion_would_not_send_is_a_400_and_nothing_queued(service: Service, body: bytes) -> None:
    status, answer = await service.post(body, **headers(body))

    assert status == 400
    assert answer["message"].startswith("The Notion")
    assert service.queue.jobs == []


async def test_without_the_queue_an_event_is_applied_at_once_or_refused_for_notion_to_resend(service: Service) -> None:
    service.queue.down = True
    body = encode(event())

    assert (await service.post(body, **headers(body)))[1]["outcome"] == "applied"
    assert [job.action for job in service.ran] == ["page.properties_updated"]
    service.handlers.fail = TrackerUnavailable("Notion is unavailable (HTTP 503); try again shortly.")
    resp = await service.client.post(WEBHOOK, data=body, headers=headers(body))
    assert (resp.status, resp.headers["Retry-After"]) == (503, "60")
    assert "send it again later" in (await resp.json())["message"]


async def test_a_body_over_the_limit_is_refused_before_it_is_read(service: Service) -> None:
    resp = await service.client.post(
        WEBHOOK, data=b"{" + b" " * 2 * 1024 * 1024 + b"}", headers={"Content-Type": "application/json"}
    )

    assert resp.status == 413
    assert "larger than" in (await resp.json())["message"]


async def test_unknown_paths_and_methods_stay_404_and_405(service: Service) -> None:
    assert (await service.client.get(WEBHOOK)).status == 405
    assert (await service.client.post("/notion/other", data=handshake())).status == 404
    assert (await service.client.post("/notion/webhook/", data=handshake())).status == 404
    assert await service.tokens.pending() == []


# ---------------------------------------------------------------------------------------------------------------
# `sentry-notion notion-webhook token`: the token of a handshake one replica took, read from Redis


ENV = {
    "NOTION_TOKEN": "secret_test",
    "NOTION_CONFIG": CONFIG,
    "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET": "s3cr3t",
    "NOTION_API_BASE_URL": "http://127.0.0.1:9",
}


async def command(env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        CLI,
        "notion-webhook",
        "token",
        env={"PATH": os.environ["PATH"]} | ENV | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode or 0, out.decode(), err.decode()


async def test_the_command_prints_the_token_a_replica_kept_on_redis(
    aiohttp_client: AiohttpClient, redis_prefix: str
) -> None:
    env = {"REDIS_URL": REDIS_URL, "REDIS_PREFIX": redis_prefix}
    client = await aiohttp_client(app_for(Container(settings=settings(**env))))
    with capture_logs() as logs:
        resp = await client.post(WEBHOOK, data=DOC_HANDSHAKE, headers={"Content-Type": "application/json"})
    assert resp.status == 200
    (said,) = [entry for entry in logs if entry["event"] == "notion_verification_token_received"]
    assert said["kept"] == "pending"
    assert "sentry-notion notion-webhook token" in said["next"]

    code, out, _ = await command(env)

    assert code == 0
    assert out.splitlines()[0].startswith(f"{DOC_TOKEN}  received 20")
    assert "Verify" in out
    assert "NOTION_WEBHOOK_SECRET" in out


async def test_the_command_says_so_when_there_is_no_token_yet(redis_prefix: str) -> None:
    code, out, _ = await command({"REDIS_URL": REDIS_URL, "REDIS_PREFIX": redis_prefix})

    assert code == 0
    assert out.startswith("No token from Notion's handshake")


@pytest.mark.parametrize("redis", [{}, {"REDIS_URL": REDIS_DOWN}], ids=["not-configured", "unreachable"])
async def test_the_command_needs_redis_and_says_so_in_one_line(redis: dict[str, str]) -> None:
    code, out, err = await command(redis)

    assert code == 1
    assert out == ""
    assert len([line for line in err.splitlines() if line.startswith("sentry-notion:")]) == 1
    assert "Redis" in err
