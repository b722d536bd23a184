"""Fuzzing POST /notion/webhook with hypothesis, over the real app with a queue that keeps what it is given.

The promises under test:
- bad input never gets a 5xx, and every 4xx is JSON with a "message";
- nothing is queued without a valid signature: an unsigned body is a 401, or a handshake whose token is only
  kept pending;
- a signed body is queued only as the job of a parsed event of a type the sync acts on, keyed on its id.
"""

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpClient
from structlog.testing import capture_logs

from adapters.memory import MemoryVerificationTokens
from container import Container
from domain import notion_events
from domain.errors import InvalidWebhook
from domain.use_cases.run_job import RunJob
from tests.fuzz.test_fuzz import (
    FEW,
    FUZZ,
    HEADER_TEXT,
    PRINTABLE_ASCII,
    arbitrary_bodies,
    arbitrary_headers,
    assert_still_up,
    encode,
    huge,
    json_values,
    problem_message,
)
from tests.support.fakes import FakeJobQueue, FakeWorkspace
from tests.support.notion_webhooks import OLD_TOKEN, TOKEN, dumps, event, handshake, sign
from tests.support.stack import Client, app_for, settings

WEBHOOK = "/notion/webhook"
TOKENS = (TOKEN, OLD_TOKEN)


class Notion:
    def __init__(self, client: Client, queue: FakeJobQueue, tokens: MemoryVerificationTokens) -> None:
        self.client, self.queue, self.tokens = client, queue, tokens


@pytest.fixture
async def notion(aiohttp_client: AiohttpClient) -> AsyncIterator[Notion]:
    container = Container(settings=settings(NOTION_WEBHOOK_SECRET=",".join(TOKENS)))
    queue, tokens = FakeJobQueue(), MemoryVerificationTokens()
    container.workspace.override(FakeWorkspace())
    container.queue.override(queue)
    container.verification_tokens.override(tokens)
    container.run_job.override(RunJob(handlers={}))  # nothing is applied here: what is queued is the promise
    client = await aiohttp_client(app_for(container))
    yield Notion(client, queue, tokens)
    await assert_still_up(client)


def valid(signature: str, body: bytes) -> bool:
    return signature.strip().lower() in {sign(body, t) for t in TOKENS}


def is_handshake(body: bytes) -> bool:
    try:
        return notion_events.verification_token(notion_events.decode(body)) is not None
    except InvalidWebhook:
        return False


bad_signatures = st.one_of(
    st.just(""),
    st.text(PRINTABLE_ASCII, max_size=80),
    st.text("0123456789abcdefABCDEF", min_size=64, max_size=64).map(lambda h: "sha256=" + h),
    st.text("0123456789abcdef", min_size=63, max_size=65).map(lambda h: "sha256=" + h),
    st.text(HEADER_TEXT, min_size=1, max_size=80),
    huge(PRINTABLE_ASCII, 1000, 7000),
    st.builds(sign, st.binary(max_size=40), st.sampled_from(("secret_other", "", TOKEN))),
)
event_bodies = st.builds(
    lambda type, id: dumps(event(type, id=id)),
    st.sampled_from(("page.properties_updated", "comment.created", "data_source.schema_updated", "page.moved")),
    st.uuids().map(str),
)
hostile_bodies = st.one_of(
    arbitrary_bodies,
    event_bodies,
    json_values.map(lambda v: encode(v, "utf8")),  # lone surrogates too, as bytes no JSON decoder takes
    st.text(HEADER_TEXT, max_size=300).map(handshake),
    st.builds(lambda t, v: encode({"verification_token": t, "type": v}, "utf8"), st.text(max_size=40), json_values),
)


async def check_queue(notion: Notion, before: int, resp: aiohttp.ClientResponse, body: bytes) -> None:
    new = notion.queue.jobs[before:]
    assert resp.status < 500, (resp.status, await resp.text())
    if resp.status >= 400:
        await problem_message(resp)
        assert new == []
        return
    answer = await resp.json()
    if answer["outcome"] != "queued":
        assert new == []
        return
    (job,) = new
    parsed = notion_events.parse(json.loads(body))
    assert (job.kind, job.key) == (notion_events.KINDS[parsed.type], f"notion:{parsed.id}")


@FUZZ
@given(body=hostile_bodies, signature=st.none() | bad_signatures, extra=arbitrary_headers)
async def test_unsigned_or_badly_signed_bodies_are_refused_or_only_kept_as_a_handshake(
    notion: Notion, body: bytes, signature: str | None, extra: dict[str, str]
) -> None:
    assume(signature is None or not valid(signature, body))
    signed = {} if signature is None else {"X-Notion-Signature": signature}

    with capture_logs():
        resp = await notion.client.post(WEBHOOK, data=body, headers=extra | signed)

    assert notion.queue.jobs == []
    if is_handshake(body):
        assert (resp.status, await resp.json()) == (200, {"received": True, "outcome": "verification"})
        token = notion_events.verification_token(notion_events.decode(body))
        assert token in {t.token for t in await notion.tokens.pending()}
    else:
        assert resp.status == 401, (resp.status, await resp.text())
        await problem_message(resp)


@FUZZ
@given(body=hostile_bodies, token=st.sampled_from(TOKENS), content_type=st.sampled_from(("application/json", "")))
async def test_signed_arbitrary_bodies_never_get_a_5xx_and_queue_only_events(
    notion: Notion, body: bytes, token: str, content_type: str
) -> None:
    before = len(notion.queue.jobs)

    with capture_logs():
        resp = await notion.client.post(
            WEBHOOK, data=body, headers={"Content-Type": content_type, "X-Notion-Signature": sign(body, token)}
        )

    await check_queue(notion, before, resp, body)


ENVELOPE_PATHS: list[tuple[str, ...]] = [
    ("id",),
    ("type",),
    ("timestamp",),
    ("authors",),
    ("entity",),
    ("entity", "id"),
    ("entity", "type"),
    ("data",),
    ("data", "parent"),
    ("data", "parent", "data_source_id"),
    ("data", "updated_properties"),
    ("data", "page_id"),
    ("workspace_id",),
    ("verification_token",),
]


def mutate(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    *parents, last = path
    node = body
    for key in parents:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[last] = value
    return body


@FEW
@given(
    type=st.sampled_from((*notion_events.KINDS, "page.content_updated", "")),
    path=st.sampled_from(ENVELOPE_PATHS),
    value=json_values,
)
async def test_signed_mutated_events_never_get_a_5xx_and_queue_only_what_parses(
    notion: Notion, type: str, path: tuple[str, ...], value: Any
) -> None:
    body = encode(mutate(event(type), path, value), "utf8")
    before = len(notion.queue.jobs)

    with capture_logs():
        resp = await notion.client.post(WEBHOOK, data=body, headers={"X-Notion-Signature": sign(body)})

    await check_queue(notion, before, resp, body)
