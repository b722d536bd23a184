# The fake Notion's webhooks against a tiny receiver: the handshake, signatures over the raw bytes, the event
# envelope, aggregation, authorship, and Notion's delivery habits (retries, reordering, duplicates, delays).
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from multidict import CIMultiDictProxy
from pytest_aiohttp import AiohttpServer

from tests.support.fake_notion import FakeNotion, NotionWebhooks
from tests.support.fake_notion.webhooks import encode, signature

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]
T0 = datetime(2026, 5, 4, 9, 30, 15, 123456, tzinfo=UTC)
TOKEN = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"
ENVELOPE = [
    "id",
    "timestamp",
    "workspace_id",
    "workspace_name",
    "subscription_id",
    "integration_id",
    "type",
    "authors",
    "attempt_number",
    "api_version",
    "entity",
    "data",
]


@dataclass
class Received:
    body: bytes
    headers: CIMultiDictProxy[str]

    @property
    def event(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    got: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer with, in turn; then 200


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Workspace:
    fake: FakeNotion
    client: Client
    data_source_id: str
    page_id: str
    ada: str
    grace: str
    hooks: NotionWebhooks
    clock: Clock

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.client.request(method, path, json=body, headers=self.fake.headers()) as resp:
            return resp.status, await resp.json()

    async def schema_id(self, name: str) -> str:
        _, ds = await self.call("GET", f"/v1/data_sources/{self.data_source_id}")
        return str(ds["properties"][name]["id"])


@pytest.fixture
async def receiver(aiohttp_server: AiohttpServer) -> Receiver:
    got: list[Received] = []
    answers: list[int] = []

    async def webhook(request: web.Request) -> web.Response:
        got.append(Received(await request.read(), request.headers))
        return web.Response(status=answers.pop(0) if answers else 200)

    app = web.Application()
    app.router.add_post("/notion/webhook", webhook)
    server = await aiohttp_server(app)
    return Receiver(str(server.make_url("/notion/webhook")), got, answers)


@pytest.fixture
async def ws(aiohttp_client: MakeClient, receiver: Receiver) -> Workspace:
    clock = Clock()
    fake = FakeNotion(seed=7)
    fake.clock = clock
    _, data_source_id = fake.add_database("Bugs")
    page_id = fake.add_page(data_source_id, "Checkout crash")["id"]
    ada = fake.add_user("Ada Lovelace", "ada@example.org")
    grace = fake.add_user("Grace Hopper", "grace@example.org")
    hooks = NotionWebhooks(fake, receiver.url, verification_token=TOKEN)
    return Workspace(fake, await aiohttp_client(fake.app()), data_source_id, page_id, ada, grace, hooks, clock)


async def test_signature_matches_notions_documented_sample(receiver: Receiver) -> None:
    body = b'{"verification_token":"secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}'
    expected = "sha256=461e8cbcba8a75c3edd866f0e71280f5a85cbf21eff040ebd10fe266df38a735"

    assert signature(body, TOKEN) == expected
    # Python's default separators add spaces, and the bytes no longer match.
    assert signature(json.dumps({"verification_token": TOKEN}).encode(), TOKEN) != expected

    hooks = NotionWebhooks(FakeNotion(seed=7), receiver.url, verification_token=TOKEN)
    assert await hooks.handshake() == 200
    assert await hooks.handshake(signed=False) == 200

    signed, unsigned = receiver.got
    assert signed.body == unsigned.body == body
    assert signed.headers["X-Notion-Signature"] == expected
    assert signed.headers["Content-Type"] == "application/json"
    assert "X-Notion-Signature" not in unsigned.headers


async def test_ui_changes_of_one_page_merge_into_one_event_of_property_ids(ws: Workspace, receiver: Receiver) -> None:
    ws.fake.person_updates_properties(ws.page_id, {"Status": {"status": {"name": "Done"}}}, by=ws.ada)
    ws.clock.now += timedelta(seconds=20)
    ws.fake.person_updates_properties(ws.page_id, {"Assignee": {"people": [{"id": ws.ada}]}}, by=ws.grace)
    ws.fake.person_updates_properties(ws.page_id, {"Status": {"status": {"name": "In progress"}}}, by=ws.ada)

    [delivery] = await ws.hooks.deliver()

    [got] = receiver.got
    event = got.event
    assert list(event) == ENVELOPE
    assert got.body == encode(event) == delivery.body
    assert got.headers["X-Notion-Signature"] == signature(got.body, TOKEN)
    assert event["type"] == "page.properties_updated"
    assert event["timestamp"] == "2026-05-04T09:30:35.123Z"
    assert event["attempt_number"] == 1
    assert event["api_version"] == "2026-03-11"
    assert (event["workspace_id"], event["workspace_name"]) == (ws.fake.workspace_id, "Acme")
    assert (event["subscription_id"], event["integration_id"]) == (ws.hooks.subscription_id, ws.hooks.integration_id)
    assert event["authors"] == [{"id": ws.ada, "type": "person"}, {"id": ws.grace, "type": "person"}]
    assert event["entity"] == {"id": ws.page_id, "type": "page"}
    database_id = ws.fake.page(ws.page_id)["parent"]["database_id"]
    # Property ids exactly as the schema spells them (URL-encoded), no names and no values.
    assert event["data"] == {
        "parent": {"id": database_id, "type": "database", "data_source_id": ws.data_source_id},
        "updated_properties": [await ws.schema_id("Status"), await ws.schema_id("Assignee")],
    }
    _, page = await ws.call("GET", f"/v1/pages/{ws.page_id}")
    assert page["last_edited_by"] == {"object": "user", "id": ws.ada}
    assert page["last_edited_time"] == "2026-05-04T09:30:35.123Z"
    assert page["properties"]["Assignee"]["people"][0]["person"] == {"email": "ada@example.org"}


async def test_changes_further_apart_than_the_window_are_separate_events(ws: Workspace) -> None:
    ws.fake.person_updates_properties(ws.page_id, {"Status": {"status": {"name": "Done"}}}, by=ws.ada)
    ws.clock.now += ws.hooks.window + timedelta(seconds=1)
    ws.fake.person_updates_properties(
        ws.page_id, {"Sentry Link": {"url": "https://acme.sentry.io/issues/1/"}}, by=ws.ada
    )

    first, second = ws.hooks.pending()

    assert first["id"] != second["id"]
    assert first["data"]["updated_properties"] == [await ws.schema_id("Status")]
    assert second["data"]["updated_properties"] == [await ws.schema_id("Sentry Link")]


async def test_api_writes_are_authored_by_the_integrations_bot(ws: Workspace) -> None:
    _, me = await ws.call("GET", "/v1/users/me")
    status, page = await ws.call(
        "PATCH", f"/v1/pages/{ws.page_id}", {"properties": {"Status": {"status": {"name": "Done"}}}}
    )
    # Writing the value the page already has changes nothing, so Notion has nothing to tell.
    await ws.call("PATCH", f"/v1/pages/{ws.page_id}", {"properties": {"Status": {"status": {"name": "Done"}}}})
    _, created = await ws.call("POST", "/v1/pages", {"parent": {"data_source_id": ws.data_source_id}, "properties": {}})
    await ws.call(
        "PATCH",
        f"/v1/blocks/{ws.page_id}/children",
        {"children": [{"paragraph": {"rich_text": [{"text": {"content": "from Sentry"}}]}}]},
    )

    assert status == 200
    assert page["last_edited_by"] == {"object": "user", "id": me["id"]}
    events = ws.hooks.pending()
    assert [e["type"] for e in events] == ["page.properties_updated", "page.created", "page.content_updated"]
    assert all(e["authors"] == [{"id": me["id"], "type": "bot"}] for e in events)
    assert events[1]["entity"] == {"id": created["id"], "type": "page"}
    [block] = ws.fake.blocks(ws.page_id)
    assert events[2]["data"]["updated_blocks"] == [{"id": block["id"], "type": "block"}]


async def test_trash_and_creation_in_quick_succession_tell_only_the_final_state(ws: Workspace) -> None:
    ws.fake.person_trashes_page(ws.page_id, by=ws.ada)
    ws.fake.person_restores_page(ws.page_id, by=ws.ada)
    new = ws.fake.person_creates_page(ws.data_source_id, "Flaky test", by=ws.grace)
    ws.fake.person_trashes_page(new["id"], by=ws.grace)
    assert ws.hooks.pending() == []

    ws.fake.person_trashes_page(ws.page_id, by=ws.grace)
    [deleted] = ws.hooks.pending()
    await ws.hooks.deliver()
    ws.fake.person_restores_page(ws.page_id, by=ws.ada)
    [undeleted] = ws.hooks.pending()

    # Ada's trash-and-restore is still in the window, so she is an author of the merged event too.
    assert deleted["type"] == "page.deleted"
    assert deleted["authors"] == [{"id": ws.ada, "type": "person"}, {"id": ws.grace, "type": "person"}]
    assert undeleted["type"] == "page.undeleted"
    assert undeleted["id"] != deleted["id"]
    _, page = await ws.call("GET", f"/v1/pages/{ws.page_id}")
    assert page["in_trash"] is False


async def test_comment_events_are_never_merged_and_carry_no_text(ws: Workspace) -> None:
    comment = ws.fake.person_comments(ws.page_id, "Seen again in 1.4.2", by=ws.ada)
    ws.fake.person_edits_comment(comment["id"], "Seen again in 1.4.3", by=ws.ada)
    _, got = await ws.call("GET", f"/v1/comments/{comment['id']}")
    ws.fake.person_deletes_comment(comment["id"], by=ws.ada)
    status, gone = await ws.call("GET", f"/v1/comments/{comment['id']}")
    _, ours = await ws.call("POST", "/v1/comments", {"parent": {"page_id": ws.page_id}, "markdown": "From Sentry"})

    events = ws.hooks.pending()
    assert [e["type"] for e in events] == ["comment.created", "comment.updated", "comment.deleted", "comment.created"]
    assert len({e["id"] for e in events}) == 4
    for event, comment_id in zip(events, [comment["id"]] * 3 + [ours["id"]], strict=True):
        assert event["entity"] == {"id": comment_id, "type": "comment"}
        assert event["data"] == {"page_id": ws.page_id, "parent": {"id": ws.page_id, "type": "page"}}
    assert events[0]["authors"] == [{"id": ws.ada, "type": "person"}]
    assert events[3]["authors"] == [{"id": ws.fake.bot_id, "type": "bot"}]
    assert got["created_by"] == {"object": "user", "id": ws.ada}
    assert got["display_name"] == {"type": "user", "resolved_name": "Ada Lovelace"}
    assert got["rich_text"][0]["plain_text"] == "Seen again in 1.4.3"
    assert (status, gone["code"]) == (404, "object_not_found")


async def test_resolved_discussions_leave_the_comment_list(ws: Workspace) -> None:
    open_thread = ws.fake.person_comments(ws.page_id, "Still failing", by=ws.ada)
    done = ws.fake.person_comments(ws.page_id, "Fixed?", by=ws.grace)
    reply = ws.fake.person_comments(ws.page_id, "Yes", by=ws.ada, discussion_id=done["discussion_id"])
    ws.fake.person_resolves_discussion(done["discussion_id"])

    _, listed = await ws.call("GET", f"/v1/comments?block_id={ws.page_id}")

    assert reply["parent"] == done["parent"]
    assert [c["id"] for c in listed["results"]] == [open_thread["id"]]
    assert len(ws.hooks.pending()) == 3


async def test_status_group_changes_are_schema_updates(ws: Workspace) -> None:
    ws.fake.person_groups_status_option(ws.data_source_id, "Status", "Won't fix", "Complete", by=ws.ada)
    ws.fake.person_groups_status_option(ws.data_source_id, "Status", "In progress", "Complete", by=ws.grace)

    [event] = ws.hooks.pending()
    _, ds = await ws.call("GET", f"/v1/data_sources/{ws.data_source_id}")

    status = ds["properties"]["Status"]
    assert event["type"] == "data_source.schema_updated"
    assert event["entity"] == {"id": ws.data_source_id, "type": "data_source"}
    assert event["data"]["updated_properties"] == [{"id": status["id"], "name": "Status", "action": "updated"}]
    assert len(event["authors"]) == 2
    names = {o["id"]: o["name"] for o in status["status"]["options"]}
    complete = next(g for g in status["status"]["groups"] if g["name"] == "Complete")
    assert [names[i] for i in complete["option_ids"]] == ["Done", "Won't fix", "In progress"]


async def test_what_the_integration_cannot_see_sends_nothing(aiohttp_client: MakeClient, receiver: Receiver) -> None:
    fake = FakeNotion(seed=7, read_comments=False)
    database_id, data_source_id = fake.add_database("Bugs")
    page_id = fake.add_page(data_source_id, "bug")["id"]
    ada = fake.add_user("Ada", "ada@example.org")
    everything = NotionWebhooks(fake, receiver.url, verification_token=TOKEN)
    only_trash = NotionWebhooks(fake, receiver.url, verification_token=TOKEN, types={"page.deleted"})

    fake.person_comments(page_id, "no comment capability", by=ada)
    fake.person_updates_properties(page_id, {"Status": {"status": {"name": "Done"}}}, by=ada)
    fake.share(database_id, False)
    fake.person_trashes_page(page_id, by=ada)

    assert [e["type"] for e in everything.pending()] == ["page.properties_updated"]
    assert only_trash.pending() == []


async def test_failures_are_retried_with_the_same_id_up_to_eight_attempts(ws: Workspace, receiver: Receiver) -> None:
    ws.fake.person_comments(ws.page_id, "first", by=ws.ada)
    receiver.answers += [503, 500]

    deliveries = await ws.hooks.drain()

    assert [d.status for d in deliveries] == [503, 500, 200]
    assert len({d.payload["id"] for d in deliveries}) == 1
    assert [d.payload["attempt_number"] for d in deliveries] == [1, 2, 3]
    assert all(r.headers["X-Notion-Signature"] == signature(r.body, TOKEN) for r in receiver.got)

    ws.fake.person_comments(ws.page_id, "second", by=ws.ada)
    receiver.answers += [503] * 8
    deliveries = await ws.hooks.drain()

    assert [d.payload["attempt_number"] for d in deliveries] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [e["id"] for e in ws.hooks.lost] == [deliveries[0].payload["id"]]


async def test_a_receiver_that_is_down_counts_as_a_failed_attempt(ws: Workspace, receiver: Receiver) -> None:
    ws.hooks.url = receiver.url.replace("/notion/webhook", "/nowhere")
    ws.fake.person_comments(ws.page_id, "hello", by=ws.ada)
    [missed] = await ws.hooks.deliver()
    ws.hooks.url = "http://127.0.0.1:9/notion/webhook"
    [refused] = await ws.hooks.deliver()
    ws.hooks.url = receiver.url
    [delivered] = await ws.hooks.deliver()

    assert (missed.status, refused.status, delivered.status) == (404, None, 200)
    assert [d.payload["attempt_number"] for d in (missed, refused, delivered)] == [1, 2, 3]


async def test_deliveries_can_be_shuffled_duplicated_and_held_back(ws: Workspace, receiver: Receiver) -> None:
    for n in range(6):
        ws.fake.person_comments(ws.page_id, f"comment {n}", by=ws.ada)
    occurred = [e["id"] for e in ws.hooks.pending()]

    shuffled = await ws.hooks.deliver(shuffle=True)

    assert sorted(d.payload["id"] for d in shuffled) == sorted(occurred)
    assert [d.payload["id"] for d in shuffled] != occurred

    held = ws.fake.person_comments(ws.page_id, "held", by=ws.ada)
    ws.clock.now += timedelta(seconds=1)
    ws.fake.person_comments(ws.page_id, "duplicated", by=ws.ada)
    receiver.got.clear()

    await ws.hooks.deliver(hold=lambda e: e["entity"]["id"] == held["id"], duplicate=lambda e: True)
    await ws.hooks.deliver()

    duplicate, again, late = receiver.got
    assert duplicate.body == again.body
    assert late.event["entity"]["id"] == held["id"]
    # The earlier change arrives last; only its timestamp tells it happened first.
    assert late.event["timestamp"] < duplicate.event["timestamp"]
    assert late.event["attempt_number"] == 1


async def test_authors_resolve_to_people_with_email_only_with_the_capability(aiohttp_client: MakeClient) -> None:
    for emails in (True, False):
        fake = FakeNotion(seed=7, user_emails=emails)
        _, data_source_id = fake.add_database("Bugs")
        ada = fake.add_user("Ada Lovelace", "ada@example.org")
        page_id = fake.add_page(data_source_id, "bug", properties={"Assignee": {"people": [{"id": ada}]}})["id"]
        client = await aiohttp_client(fake.app())

        async with client.get(f"/v1/users/{ada}", headers=fake.headers()) as resp:
            user = await resp.json()
        async with client.get(f"/v1/pages/{page_id}", headers=fake.headers()) as resp:
            page = await resp.json()

        person = {"email": "ada@example.org"} if emails else {}
        assert (user["name"], user["type"], user["person"]) == ("Ada Lovelace", "person", person)
        assert page["properties"]["Assignee"]["people"][0]["person"] == person
