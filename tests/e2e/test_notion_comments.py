# From Notion's comment events to notes on the Sentry issue: the jobs the receiving route queues for Notion-shaped
# events, run by a worker on the real Redis queue, against the fake Notion server and the fake Sentry API.

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from adapters.redis_queue import RedisJobQueue
from container import Container, resolve
from tests.support.fake_notion import FakeNotion
from tests.support.fake_sentry import FakeSentry
from tests.support.notion_webhooks import comment_job
from tests.support.real_redis import REDIS_URL
from tests.support.sentry import hook_headers, webhook
from tests.support.stack import StartApp, settings

ISSUE = 4242
NOTES = rf"/api/0/organizations/acme/issues/{ISSUE}/comments/"
APP_ACTOR = {"type": "application", "id": "2ebf071f-2c1a-4a4c-9d3e-7f1b2d3c4e5f", "name": "Notion Sync"}
WAIT_S = 5.0


@dataclass(frozen=True)
class World:
    notion: FakeNotion
    sentry: FakeSentry
    env: dict[str, str]
    page_id: str
    ada: str
    queue: RedisJobQueue

    async def event(self, type: str, comment_id: str, *, author: str | None = None, bot: bool = False) -> None:
        """Notion sends the event; the job the receiving route queues for it goes on the queue."""
        job = comment_job(
            type, comment_id, self.page_id, author_id=author or self.ada, author_type="bot" if bot else "person"
        )
        assert job.kind == "notion.comment"
        assert await self.queue.enqueue(job)


@pytest.fixture
async def world(aiohttp_server: AiohttpServer, redis_prefix: str) -> AsyncIterator[World]:
    notion = FakeNotion(seed=5)
    database_id, data_source_id = notion.add_database("Bugs")
    link = {"Sentry Link": {"url": f"https://acme.sentry.io/issues/{ISSUE}/"}}
    page = notion.add_page(data_source_id, "Checkout crashes", properties=link)
    sentry = FakeSentry(scopes=("event:read", "event:write", "event:admin"))
    sentry.add_issue(ISSUE)
    notion_server, sentry_server = await aiohttp_server(notion.app()), await aiohttp_server(sentry.app())
    env = {
        "NOTION_API_BASE_URL": str(notion_server.make_url("")).rstrip("/"),
        "NOTION_TOKEN": notion.token,
        "NOTION_CONFIG": json.dumps({"database_id": database_id}),
        "NOTION_RATE_LIMIT": "100000",
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": redis_prefix,
        "SENTRY_API_TOKEN": sentry.token,
        "SENTRY_ORG": sentry.organization,
        "SENTRY_URL": str(sentry_server.make_url("")).rstrip("/"),
    }
    container = Container(settings=settings(**env))
    redis = await resolve(container.redis())
    # A worker of its own that takes a failed job again at once, so a retry needs no waiting.
    queue = RedisJobQueue(
        redis, prefix=redis_prefix, consumer=f"worker-{uuid.uuid4().hex}", backoff_s=(0.05,), max_pause_s=0.05
    )
    stop = asyncio.Event()
    work = asyncio.create_task(queue.work(await resolve(container.run_job()), stop=stop))
    ada = notion.add_user("Ada Lovelace", "ada@example.org")
    try:
        yield World(notion, sentry, env, str(page["id"]), ada, queue)
    finally:
        stop.set()
        await asyncio.wait_for(work, WAIT_S)
        await resolve(container.shutdown_resources())


async def until(check: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def drained(queue: RedisJobQueue) -> None:
    deadline = time.monotonic() + WAIT_S
    while (stats := await queue.stats()).depth:
        assert time.monotonic() < deadline, "the queue did not drain"
        await asyncio.sleep(0.02)
    assert stats.dead_letters == 0


async def test_a_notion_comment_becomes_a_sentry_note_and_follows_edits_and_deletion(world: World) -> None:
    comment = world.notion.person_comments(world.page_id, "Reproduced on staging", by=world.ada)
    await world.event("comment.created", comment["id"])
    await until(lambda: world.sentry.notes(ISSUE), "no note")
    assert world.sentry.notes(ISSUE) == ["Ada Lovelace in Notion: Reproduced on staging"]

    world.notion.person_edits_comment(comment["id"], "Reproduced on production too", by=world.ada)
    await world.event("comment.updated", comment["id"])
    await until(lambda: "too" in world.sentry.notes(ISSUE)[0], "the note was not edited")

    world.notion.person_deletes_comment(comment["id"], by=world.ada)
    await world.event("comment.deleted", comment["id"])
    await until(lambda: not world.sentry.notes(ISSUE), "the note was not deleted")
    assert len(world.sentry.calls("POST", NOTES)) == 1


async def test_events_out_of_order_and_the_bots_own_comments(world: World) -> None:
    comment = world.notion.person_comments(world.page_id, "First words", by=world.ada)
    world.notion.person_edits_comment(comment["id"], "Second thoughts", by=world.ada)
    own = world.notion.person_comments(world.page_id, "Jane Doe (Sentry): seen again", by=world.notion.bot_id)

    await world.event("comment.updated", comment["id"])  # the edit's event comes before the create's
    await world.event("comment.created", comment["id"])
    await world.event("comment.created", own["id"], author=world.notion.bot_id, bot=True)
    await world.event("comment.created", own["id"])  # even when an event names someone else
    await drained(world.queue)

    assert world.sentry.notes(ISSUE) == ["Ada Lovelace in Notion: Second thoughts"]
    assert len(world.sentry.calls("POST", NOTES)) == 1


async def test_a_note_sentry_saved_before_failing_is_posted_once(world: World) -> None:
    world.sentry.fail_next("POST", NOTES, 503, commit=True)
    comment = world.notion.person_comments(world.page_id, "Reproduced", by=world.ada)

    await world.event("comment.created", comment["id"])
    await until(lambda: len(world.sentry.calls("POST", NOTES)) == 2, "the job did not run again")
    await drained(world.queue)

    assert world.sentry.notes(ISSUE) == ["Ada Lovelace in Notion: Reproduced"]
    world.notion.person_deletes_comment(comment["id"], by=world.ada)
    await world.event("comment.deleted", comment["id"])  # the rerun learnt the note's id
    await until(lambda: not world.sentry.notes(ISSUE), "the note was not deleted")


async def test_the_note_coming_back_as_a_sentry_webhook_is_not_sent_to_notion(
    world: World, start_app: StartApp
) -> None:
    comment = world.notion.person_comments(world.page_id, "Reproduced", by=world.ada)
    await world.event("comment.created", comment["id"])
    await until(lambda: world.sentry.notes(ISSUE), "no note")
    (note_id,) = world.sentry.note_ids(ISSUE)

    # Sentry tells every webhook subscriber of the note, with the integration as the actor.
    client = await start_app(**world.env)
    data = {
        "comment_id": int(note_id),
        "issue_id": ISSUE,
        "project_slug": "backend",
        "timestamp": "2026-11-27T01:02:03.118160Z",
        "comment": "Ada Lovelace in Notion: Reproduced",
    }
    body = webhook("created", data, APP_ACTOR)
    resp = await client.post("/sentry/webhook", data=body, headers=hook_headers(body, "comment", int(time.time())))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["outcome"] == "ignored"
    await drained(world.queue)

    assert [c["id"] for c in world.notion.comments] == [comment["id"]]
    assert world.notion.calls("POST", "/v1/comments") == []
