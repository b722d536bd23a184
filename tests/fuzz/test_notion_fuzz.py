"""Fuzzing POST /notion/webhook with hypothesis, over the real app with a queue that keeps what it is given.

The promises under test:
- bad input never gets a 5xx, and every 4xx is JSON with a "message";
- nothing is queued without a valid signature: an unsigned body is a 401, or a handshake whose token is only
  kept pending;
- a signed body is queued only as the job of a parsed event of a type the sync acts on, keyed on its id.
"""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpClient, AiohttpServer
from structlog.testing import capture_logs

from adapters.memory import MemoryVerificationTokens
from container import Container, resolve
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
from tests.support.fake_notion import FakeNotion
from tests.support.fake_notion.webhooks import encode as compact
from tests.support.fake_sentry import FakeSentry
from tests.support.fakes import FakeJobQueue, FakeWorkspace
from tests.support.notion_webhooks import OLD_TOKEN, TOKEN, event, handshake, sign
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
    lambda type, id: compact(event(type, id=id)),
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


async def check_queue(queue: FakeJobQueue, before: int, resp: aiohttp.ClientResponse, body: bytes) -> None:
    new = queue.jobs[before:]
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

    await check_queue(notion.queue, before, resp, body)


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

    await check_queue(notion.queue, before, resp, body)


# ---------------------------------------------------------------------------------------------------------------
# What the route queued, run by the worker's real handlers against the fake Notion and fake Sentry servers. The
# entry and its issue already agree and the page's only comment is the service's own: no event, however hostile,
# has anything to write.

WRITES = ("POST", "PUT", "PATCH", "DELETE")
# Ids that lead elsewhere when pasted into a path or query, or that Notion would never send.
NASTY_IDS = st.sampled_from(
    (
        "../../v1/users/me",
        "..%2F..%2Fv1%2Fcomments",
        "x?filter_properties=title",
        "x#y",
        " ",
        "00000000-0000-0000-0000-000000000000",
        "0" * 32,
        "%00",
        "a/b",
        "\u202e",
    )
)


@dataclass
class Worker:
    client: Client
    queue: FakeJobQueue
    run: RunJob
    notion: FakeNotion
    sentry: FakeSentry
    page_id: str
    other_page_id: str
    data_source_id: str
    comment_id: str

    def writes(self) -> list[str]:
        to_notion = [f"Notion {r.method} {r.path}" for r in self.notion.requests if r.method in WRITES]
        to_sentry = [f"Sentry {r.method} {r.path}" for r in self.sentry.requests if r.method in WRITES]
        # Querying a data source is a POST that reads.
        return [w for w in to_notion + to_sentry if not w.endswith("/query")]


@pytest.fixture
async def worker(aiohttp_client: AiohttpClient, aiohttp_server: AiohttpServer) -> AsyncIterator[Worker]:
    fake_notion, fake_sentry = FakeNotion(seed=31), FakeSentry(scopes=("event:read", "event:write", "member:read"))
    database_id, data_source_id = fake_notion.add_database("Bugs")
    _, elsewhere = fake_notion.add_database("Elsewhere")
    link = {"Sentry Link": {"url": "https://acme.sentry.io/issues/4242/"}}
    page = fake_notion.add_page(data_source_id, "Checkout is broken", properties=link)
    other = fake_notion.add_page(elsewhere, "Not an entry", properties=link)
    comment = fake_notion.person_comments(str(page["id"]), "Jane Doe (Sentry): seen", by=fake_notion.bot_id)
    fake_sentry.add_issue(4242)
    notion_url = str((await aiohttp_server(fake_notion.app())).make_url("")).rstrip("/")
    sentry_url = str((await aiohttp_server(fake_sentry.app())).make_url("")).rstrip("/")
    container = Container(
        settings=settings(
            NOTION_API_BASE_URL=notion_url,
            NOTION_TOKEN=fake_notion.token,
            NOTION_CONFIG=json.dumps({"database_id": database_id, "column_names": {"status": "Status"}}),
            NOTION_RATE_LIMIT="100000",
            NOTION_WEBHOOK_SECRET=TOKEN,
            SENTRY_API_TOKEN=fake_sentry.token,
            SENTRY_ORG=fake_sentry.organization,
            SENTRY_URL=sentry_url,
        )
    )
    queue = FakeJobQueue()
    container.queue.override(queue)
    client = await aiohttp_client(app_for(container))
    yield Worker(
        client,
        queue,
        await resolve(container.run_job()),
        fake_notion,
        fake_sentry,
        str(page["id"]),
        str(other["id"]),
        data_source_id,
        str(comment["id"]),
    )
    await assert_still_up(client)
    await resolve(container.shutdown_resources())


def about(worker: Worker, body: dict[str, Any], page_id: str) -> dict[str, Any]:
    """The event as the fake workspace would send it about `page_id` (or its comment)."""
    body["workspace_id"] = worker.notion.workspace_id
    if body["entity"]["type"] == "comment":
        body["entity"]["id"] = worker.comment_id
        body["data"] = {"page_id": page_id, "parent": {"id": page_id, "type": "page"}}
    elif body["entity"]["type"] == "page":
        body["entity"]["id"] = page_id
        body["data"]["parent"]["data_source_id"] = worker.data_source_id
    return body


@FUZZ
@given(
    type=st.sampled_from(tuple(notion_events.KINDS)),
    which=st.sampled_from(("entry", "other")),
    path=st.sampled_from(ENVELOPE_PATHS),
    value=json_values | NASTY_IDS,
)
async def test_signed_hostile_events_reaching_the_worker_are_skipped_and_write_nothing(
    worker: Worker, type: str, which: str, path: tuple[str, ...], value: Any
) -> None:
    page_id = worker.page_id if which == "entry" else worker.other_page_id
    body = encode(mutate(about(worker, event(type), page_id), path, value), "utf8")
    before = len(worker.queue.jobs)

    with capture_logs():
        resp = await worker.client.post(WEBHOOK, data=body, headers={"X-Notion-Signature": sign(body)})
        await check_queue(worker.queue, before, resp, body)
        outcomes = [await worker.run(job) for job in worker.queue.jobs[before:]]

    # A schema event only has the columns read again before the next entry is synced.
    harmless = {"skipped", "unchanged"} | ({"applied"} if type.endswith("schema_updated") else set())
    assert all(done.outcome in harmless for done in outcomes), outcomes
    assert worker.writes() == []
