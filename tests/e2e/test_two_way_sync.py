# Two-way sync from end to end: a person changes an entry in the fake Notion, the fake Notion sends its signed
# webhook to the service's route, a worker runs the queued job on the real Redis queue, and the fake Sentry API
# takes the write; and the other way, a signed Sentry webhook whose write to Notion comes back as Notion's event.
import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from adapters.redis_queue import RedisJobQueue
from container import Container, resolve
from domain.models import Job
from entrypoints.cli.jobs import observed
from tests.support.fake_notion import FakeNotion, NotionWebhooks
from tests.support.fake_notion.webhooks import Delivery, encode, signature
from tests.support.fake_sentry import FakeSentry
from tests.support.notion_webhooks import TOKEN, delivery, events_counted
from tests.support.notion_webhooks import headers as signed
from tests.support.real_redis import REDIS_URL
from tests.support.sentry import description, group, hook_headers, issue_link_body, ui_headers, webhook
from tests.support.stack import Client, Notion, StartApp, serve_notion, serve_sentry, settings

ISSUE = 4242
ISSUE_PATH = rf"/api/0/organizations/acme/issues/{ISSUE}/"
NOTES = ISSUE_PATH + "comments/.*"
T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
WAIT_S = 10.0
SCOPES = ("event:read", "event:write", "event:admin", "member:read")
# The integration itself as the actor of the Sentry webhook its own write causes.
APP_ACTOR = {"type": "application", "id": "2ebf071f-2c1a-4a4c-9d3e-7f1b2d3c4e5f", "name": "Notion Sync"}


@pytest.fixture
async def notion(aiohttp_server: AiohttpServer) -> Notion:
    return await serve_notion(aiohttp_server, seed=23, at=T0)


@pytest.fixture
async def sentry(aiohttp_server: AiohttpServer) -> tuple[FakeSentry, str]:
    return await serve_sentry(aiohttp_server, issue=ISSUE, at=T0, scopes=SCOPES)


@pytest.fixture
def sync_config() -> dict[str, Any]:
    """NOTION_CONFIG's `sync` policy; a test parametrizes it to try another."""
    return {}


def everything(body: dict[str, Any]) -> bool:
    return True


@dataclass
class Worker:
    """A `sentry-notion worker` process: its own container, a consumer of its own on the shared queue."""

    container: Container
    task: asyncio.Task[None]
    stop: asyncio.Event
    ran: list[Job] = field(default_factory=list)


@dataclass
class Sync:
    notion: FakeNotion
    sentry: FakeSentry
    hooks: NotionWebhooks
    client: Client
    queue: RedisJobQueue
    start_worker: Callable[..., Awaitable[Worker]]
    worker: Worker
    page_id: str
    ada: str  # a person in Notion, and a member of the Sentry organization with the same email
    ada_in_sentry: str
    sentry_at: int = field(default_factory=lambda: int(time.time()) - 3600)

    async def settle(self, **deliver: Any) -> list[Delivery]:
        """Notion sends what is pending and the workers run what was queued, until neither side has more to say:
        the service's own writes to Notion come back as events too, and must die out."""
        sent: list[Delivery] = []
        for _ in range(4):
            sent += await self.hooks.deliver(**deliver)
            deliver = {}
            await self.drained()
            if not self.hooks.pending():
                return sent
        raise AssertionError(f"the two sides keep answering each other: {self.hooks.pending()}")

    async def until(self, check: Callable[[], Any], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not check():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.02)

    async def drained(self) -> None:
        deadline = time.monotonic() + WAIT_S
        while (stats := await self.queue.stats()).depth:
            assert time.monotonic() < deadline, "the queue did not drain"
            await asyncio.sleep(0.02)
        assert stats.dead_letters == 0, await self.queue.dead_letters()

    async def sentry_webhook(
        self, resource: str, action: str, data: dict[str, Any], actor: dict[str, Any] | None = None
    ) -> str:
        """Sentry tells the service of a change made by someone in Sentry (or by `actor`); the outcome."""
        self.sentry_at += 1
        body = webhook(action, data, actor)
        resp = await self.client.post(
            "/sentry/webhook", data=body, headers=hook_headers(body, resource, self.sentry_at)
        )
        assert resp.status in (200, 202), await resp.text()
        return str((await resp.json())["outcome"])

    def person_sets(self, by: str | None = None, **properties: Any) -> None:
        self.notion.person_updates_properties(self.page_id, properties, by=by or self.ada)

    async def post(self, body: bytes, headers: dict[str, str]) -> int:
        resp = await self.client.post("/notion/webhook", data=body, headers=headers)
        return resp.status

    def status(self) -> tuple[str, str]:
        option = self.notion.page(self.page_id)["properties"]["Status"]["status"]
        return (option["name"] if option else "", str(self.sentry.issue(ISSUE)["status"]))

    def assignees(self) -> tuple[list[str], str | None]:
        """The people in the entry's Assignee column, and the Sentry user the issue is assigned to."""
        people = [p["id"] for p in self.notion.page(self.page_id)["properties"]["Assignee"]["people"]]
        assigned = self.sentry.issue(ISSUE)["assignedTo"]
        return people, None if assigned is None else str(assigned["id"])

    def notes(self) -> list[str]:
        return self.sentry.notes(ISSUE)[1:]  # after the note that links the entry

    def sentry_writes(self) -> list[Any]:
        return [r.json for r in self.sentry.calls("PUT", ISSUE_PATH)]


@pytest.fixture
async def sync(
    notion: Notion, sentry: tuple[FakeSentry, str], start_app: StartApp, redis_prefix: str, sync_config: dict[str, Any]
) -> AsyncIterator[Sync]:
    fake_sentry, sentry_url = sentry
    config = {"database_id": notion.database_id, "column_names": {"status": "Status"}, "sync": sync_config}
    env = {
        "NOTION_CONFIG": json.dumps(config),
        "NOTION_RATE_LIMIT": "100000",
        "NOTION_WEBHOOK_SECRET": TOKEN,
        "SENTRY_API_TOKEN": fake_sentry.token,
        "SENTRY_ORG": fake_sentry.organization,
        "SENTRY_URL": sentry_url,
    }
    client = await start_app(**env)
    workers: list[Worker] = []

    async def start_worker(claim_idle_s: float = 30) -> Worker:
        container = Container(
            settings=settings(
                **env,
                NOTION_API_BASE_URL=notion.url,
                NOTION_TOKEN=notion.fake.token,
                REDIS_URL=REDIS_URL,
                REDIS_PREFIX=redis_prefix,
            )
        )
        run = observed(await resolve(container.run_job()))
        # Retries at once, so that a failure shows in a test without waiting for the usual backoff.
        queue = RedisJobQueue(
            await resolve(container.redis()),
            prefix=redis_prefix,
            consumer=f"worker-{uuid.uuid4().hex}",
            backoff_s=(0.05,),
            max_pause_s=0.05,
            claim_idle_s=claim_idle_s,
        )
        stop = asyncio.Event()

        async def handle(job: Job) -> None:
            await run(job)
            worker.ran.append(job)

        worker = Worker(container, asyncio.create_task(queue.work(handle, stop=stop)), stop)
        workers.append(worker)
        return worker

    first = await start_worker()
    ada = notion.fake.add_user("Ada Lovelace", "ada@example.com")
    ada_in_sentry = fake_sentry.add_member("ada@example.com", "Ada")
    hooks = NotionWebhooks(notion.fake, str(client.make_url("/notion/webhook")), verification_token=TOKEN, seed=3)
    assert await hooks.handshake() == 200
    # The entry is linked from Sentry's issue page, as a team does it; the refresh linking queues sets the base.
    body = issue_link_body({"title": "Checkout is broken", "description": description("BACKEND-1A", ISSUE, "x")})
    resp = await client.post("/sentry/issue-link/create", data=body, headers=ui_headers(body))
    assert resp.status == 201, await resp.text()
    (page,) = notion.fake.pages(notion.data_source_id)
    s = Sync(
        notion.fake,
        fake_sentry,
        hooks,
        client,
        RedisJobQueue(await resolve(first.container.redis()), prefix=redis_prefix, consumer="test"),
        start_worker,
        first,
        str(page["id"]),
        ada,
        ada_in_sentry,
    )
    await s.settle()
    assert s.status() == ("Not started", "unresolved")
    assert s.sentry_writes() == []
    (link_note,) = fake_sentry.notes(ISSUE)
    assert link_note.startswith("Linked to Notion BUG-1")
    fake_sentry.requests.clear()
    first.ran.clear()
    try:
        yield s
    finally:
        for worker in workers:
            worker.stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(worker.task, WAIT_S)
            await resolve(worker.container.shutdown_resources())


async def test_done_resolves_the_issue_and_in_progress_reopens_it(sync: Sync) -> None:
    sync.person_sets(Status={"status": {"name": "Done"}})
    (delivery,) = await sync.settle()
    assert delivery.status == 200
    assert sync.status() == ("Done", "resolved")

    sync.person_sets(Status={"status": {"name": "In progress"}})
    await sync.settle()

    assert sync.status() == ("In progress", "unresolved")
    assert sync.sentry_writes() == [{"status": "resolved"}, {"status": "unresolved"}]


@pytest.mark.parametrize("sync_config", [{"status_to_sentry": {"In progress": "ignored"}}])
async def test_an_option_mapped_in_notion_config_archives_the_issue(sync: Sync) -> None:
    sync.person_sets(Status={"status": {"name": "In progress"}})

    await sync.settle()

    issue = sync.sentry.issue(ISSUE)
    assert (issue["status"], issue["substatus"]) == ("ignored", "archived_forever")


async def test_an_option_moved_into_the_complete_group_resolves_once_notion_tells_of_the_schema(sync: Sync) -> None:
    data_source_id = sync.notion.page(sync.page_id)["parent"]["data_source_id"]
    sources = r"/v1/data_sources/[^/]+"
    before = len(sync.notion.calls("GET", sources))
    sync.notion.person_groups_status_option(data_source_id, "Status", "Shipped", "Complete", by=sync.ada)
    (schema,) = await sync.settle()
    assert schema.payload["type"] == "data_source.schema_updated"
    assert len(sync.notion.calls("GET", sources)) == before + 1  # the columns are read again at once

    sync.person_sets(Status={"status": {"name": "Shipped"}})
    await sync.settle()

    assert sync.status() == ("Shipped", "resolved")
    assert len(sync.notion.calls("GET", sources)) == before + 1


@pytest.mark.parametrize("sync_config", [{"status_options": {"archived": "In progress", "ignored": None}}])
async def test_archiving_in_sentry_takes_the_option_notion_config_names_for_archived(sync: Sync) -> None:
    archived = group(ISSUE, status="ignored", substatus="archived_until_escalating")
    sync.sentry.set_status(ISSUE, "ignored", "archived_until_escalating")

    await sync.sentry_webhook("issue", "archived", {"issue": archived})
    await sync.settle()

    assert sync.status() == ("In progress", "ignored")
    assert sync.sentry_writes() == []


async def test_a_move_between_open_options_leaves_an_archived_issue_archived(sync: Sync) -> None:
    sync.sentry.set_status(ISSUE, "ignored", "archived_forever")
    await sync.sentry_webhook("issue", "archived", {"issue": group(ISSUE, status="ignored")})
    await sync.settle()
    assert sync.status() == ("Not started", "ignored")  # archiving leaves the entry alone by default

    sync.person_sets(Status={"status": {"name": "In progress"}})
    await sync.settle()
    assert sync.status() == ("In progress", "ignored")
    assert sync.sentry_writes() == []
    sync.person_sets(Status={"status": {"name": "Done"}})
    await sync.settle()

    assert sync.status() == ("Done", "resolved")
    assert sync.sentry_writes() == [{"status": "resolved"}]


async def test_trash_and_restore_tell_sentry_once_each_and_a_change_waits_for_the_restore(sync: Sync) -> None:
    sync.person_sets(Status={"status": {"name": "Done"}})
    await sync.hooks.deliver(hold=everything)  # the status change's event, closed and kept back
    sync.notion.person_trashes_page(sync.page_id, by=sync.ada)
    await sync.hooks.deliver(hold=lambda body: body["type"] != "page.deleted")
    await sync.drained()
    (late,) = await sync.settle()  # the status change arrives after the trash: the entry is no longer followed
    assert late.payload["type"] == "page.properties_updated"
    assert sync.status() == ("Done", "unresolved")

    sync.notion.person_restores_page(sync.page_id, by=sync.ada)
    (restored,) = await sync.settle()

    assert restored.payload["type"] == "page.undeleted"
    gone, back = sync.notes()
    assert gone.startswith("The linked Notion entry BUG-1 was moved to trash in Notion;")
    assert back == "The linked Notion entry BUG-1 is back from the trash and kept in step again."
    assert sync.status() == ("Done", "resolved")


async def test_an_entry_no_longer_shared_tells_sentry_once_and_sharing_it_again_resumes(sync: Sync) -> None:
    database_id = sync.notion.page(sync.page_id)["parent"]["database_id"]
    # Two changes, each its own event, still on their way when the database stops being shared.
    sync.person_sets(Status={"status": {"name": "Done"}})
    await sync.hooks.deliver(hold=everything)
    sync.person_sets(Assignee={"people": [{"id": sync.ada}]})
    await sync.hooks.deliver(hold=everything)
    sync.notion.share(database_id, shared=False)

    late = await sync.settle()

    assert [d.status for d in late] == [200, 200]
    (gone,) = sync.notes()
    assert gone.startswith("The linked Notion entry BUG-1 is no longer shared with the Notion integration")
    assert sync.sentry_writes() == []

    sync.notion.share(database_id)
    sync.person_sets(Status={"status": {"name": "In progress"}})
    sync.person_sets(Status={"status": {"name": "Done"}})
    await sync.settle()

    assert sync.status() == ("Done", "resolved")
    assert sync.notes() == [gone]


async def test_an_entry_unshared_without_any_event_is_told_by_sentrys_next_changes_once(sync: Sync) -> None:
    database_id = sync.notion.page(sync.page_id)["parent"]["database_id"]
    sync.notion.share(database_id, shared=False)  # Notion sends no event of it
    comment = {"comment_id": 77, "issue_id": ISSUE, "project_slug": "backend", "comment": "Seen after deploy"}
    comment |= {"timestamp": "2026-05-04T12:00:01.000000Z"}

    sync.sentry.set_status(ISSUE, "resolved")
    await sync.sentry_webhook("issue", "resolved", {"issue": group(ISSUE, status="resolved")})
    await sync.settle()
    (gone,) = sync.notes()
    assert gone.startswith("The linked Notion entry BUG-1 is no longer shared with the Notion integration")
    await sync.sentry_webhook("comment", "created", comment)
    await sync.settle()  # no job ends among the dead letters

    assert sync.notes() == [gone]
    assert sync.notion.comments == []

    sync.notion.share(database_id)
    await sync.sentry_webhook("issue", "resolved", {"issue": group(ISSUE, status="resolved")})
    await sync.sentry_webhook("comment", "created", comment | {"comment_id": 78})
    await sync.settle()

    assert sync.status() == ("Done", "resolved")
    assert len(sync.notion.comments) == 1
    assert sync.notes() == [gone]


async def test_an_assignee_chosen_in_the_create_form_is_assigned_in_sentry(sync: Sync) -> None:
    issue_id = ISSUE + 1
    sync.sentry.add_issue(issue_id)
    fields = {"title": "Login fails", "description": description("BACKEND-1B", issue_id, "x"), "assignee": sync.ada}
    body = issue_link_body(fields, issue_id=issue_id)
    resp = await sync.client.post("/sentry/issue-link/create", data=body, headers=ui_headers(body))
    assert resp.status == 201, await resp.text()

    await sync.settle()  # the refresh the create queued

    assert sync.sentry.issue(issue_id)["assignedTo"]["id"] == sync.ada_in_sentry


async def test_the_assignee_follows_by_email_and_clearing_unassigns(sync: Sync) -> None:
    grace = sync.notion.add_user("Grace Hopper", "grace@example.com")  # no Sentry member has her email
    sync.sentry.add_member("grace@example.com", pending=True)  # an invitation is no member yet

    sync.person_sets(Assignee={"people": [{"id": grace}]})
    await sync.settle()
    assert sync.sentry.issue(ISSUE)["assignedTo"] is None
    sync.person_sets(Assignee={"people": [{"id": sync.ada}]})
    await sync.settle()
    assert sync.sentry.issue(ISSUE)["assignedTo"]["id"] == sync.ada_in_sentry
    sync.person_sets(Assignee={"people": []})
    await sync.settle()

    assert sync.sentry.issue(ISSUE)["assignedTo"] is None
    assert sync.sentry_writes() == [{"assignedTo": f"user:{sync.ada_in_sentry}"}, {"assignedTo": ""}]
    assert len(sync.sentry.calls("GET", "/api/0/organizations/acme/members/")) == 1  # the members are kept


async def test_clearing_the_assignee_leaves_a_user_a_person_assigned_again_in_sentry(sync: Sync) -> None:
    sync.notion.add_user("Grace Hopper", "grace@example.com")
    grace_in_sentry = sync.sentry.add_member("grace@example.com", "Grace")
    sync.person_sets(Assignee={"people": [{"id": sync.ada}]})
    await sync.settle()
    assert sync.assignees() == ([sync.ada], sync.ada_in_sentry)  # assigned by the sync
    await sentry_assigns(sync, grace_in_sentry)
    await sentry_assigns(sync, sync.ada_in_sentry)  # by a person in Sentry, this time
    assert sync.assignees() == ([sync.ada], sync.ada_in_sentry)

    sync.person_sets(Assignee={"people": []})
    await sync.settle()

    assert sync.assignees() == ([], sync.ada_in_sentry)
    assert sync.sentry_writes() == [{"assignedTo": f"user:{sync.ada_in_sentry}"}]


@pytest.mark.parametrize("in_sentry", ["unassigned", "reassigned"])
async def test_an_assignee_changed_in_sentry_is_not_undone_by_another_edit_in_notion(
    sync: Sync, in_sentry: str
) -> None:
    grace = sync.notion.add_user("Grace Hopper", "grace@example.com")
    grace_in_sentry = sync.sentry.add_member("grace@example.com", "Grace")
    sync.person_sets(Assignee={"people": [{"id": sync.ada}]})
    await sync.settle()
    if in_sentry == "unassigned":
        sync.sentry.assign(ISSUE, None)
        # Sentry's webhook of it: the entry keeps Ada, as nobody is not carried to Notion.
        await sync.sentry_webhook("issue", "unassigned", {"issue": group(ISSUE)})
        await sync.drained()
        expected: tuple[list[str], str | None] = ([sync.ada], None)
    else:
        sync.sentry.assign(ISSUE, grace_in_sentry)  # Sentry's webhook of it is still on its way
        expected = ([grace], grace_in_sentry)

    sync.person_sets(Status={"status": {"name": "Done"}})
    await sync.settle()

    assert sync.sentry_writes() == [{"assignedTo": f"user:{sync.ada_in_sentry}"}, {"status": "resolved"}]
    assert sync.assignees() == expected


async def test_a_comment_becomes_a_note_and_follows_its_edit_and_deletion(sync: Sync) -> None:
    comment = sync.notion.person_comments(sync.page_id, "Reproduced on staging", by=sync.ada)
    await sync.settle()
    assert sync.notes() == ["Ada Lovelace in Notion: Reproduced on staging"]

    sync.notion.person_edits_comment(comment["id"], "Reproduced on production too", by=sync.ada)
    await sync.settle()
    assert sync.notes() == ["Ada Lovelace in Notion: Reproduced on production too"]

    sync.notion.person_deletes_comment(comment["id"], by=sync.ada)
    await sync.settle()

    assert sync.notes() == []
    assert [r.method for r in sync.sentry.calls("*", NOTES)] == ["POST", "PUT", "DELETE"]


async def test_comment_events_out_of_order_and_the_services_own_comments(sync: Sync) -> None:
    comment = sync.notion.person_comments(sync.page_id, "First words", by=sync.ada)
    await sync.hooks.deliver(hold=everything)
    sync.notion.person_edits_comment(comment["id"], "Second thoughts", by=sync.ada)
    own = sync.notion.person_comments(sync.page_id, "Jane Doe (Sentry): seen again", by=sync.notion.bot_id)
    created = sync.hooks.pending()[0]
    (edited, own_created) = await sync.hooks.deliver(hold=lambda body: body["id"] == created["id"])
    assert (edited.payload["type"], own_created.payload["authors"][0]["type"]) == ("comment.updated", "bot")
    await sync.drained()
    # An event about the bot's comment that names someone else: the comment's own author decides.
    forged_author = delivery(
        "comment.created",
        {"id": own["id"], "type": "comment"},
        {"page_id": sync.page_id, "parent": {"id": sync.page_id, "type": "page"}},
        authors=[{"id": sync.ada, "type": "person"}],
    )
    raw = encode(forged_author)
    assert await sync.post(raw, signed(raw)) == 200

    (late,) = await sync.settle()  # the edit's event came before the create's

    assert late.payload["type"] == "comment.created"
    assert sync.notes() == ["Ada Lovelace in Notion: Second thoughts"]
    assert len(sync.sentry.calls("POST", NOTES)) == 1


async def test_a_note_sentry_saved_before_failing_is_posted_once(sync: Sync) -> None:
    sync.sentry.fail_next("POST", NOTES, 503, commit=True)
    comment = sync.notion.person_comments(sync.page_id, "Reproduced", by=sync.ada)

    await sync.hooks.deliver()
    await sync.until(lambda: len(sync.sentry.calls("POST", NOTES)) == 2, "the job did not run again")
    await sync.settle()

    assert sync.notes() == ["Ada Lovelace in Notion: Reproduced"]
    sync.notion.person_deletes_comment(comment["id"], by=sync.ada)
    await sync.settle()  # the rerun learnt the note's id
    assert sync.notes() == []


async def test_the_note_coming_back_as_a_sentry_webhook_is_not_sent_to_notion(sync: Sync) -> None:
    sync.notion.person_comments(sync.page_id, "Reproduced", by=sync.ada)
    await sync.settle()
    (note_id,) = sync.sentry.note_ids(ISSUE)[1:]

    # Sentry tells every webhook subscriber of the note, with the integration as the actor.
    data = {"comment_id": int(note_id), "issue_id": ISSUE, "project_slug": "backend"}
    data |= {"timestamp": "2026-05-04T12:00:01.000000Z", "comment": "Ada Lovelace in Notion: Reproduced"}
    assert await sync.sentry_webhook("comment", "created", data, APP_ACTOR) == "ignored"
    await sync.settle()

    assert len(sync.notion.comments) == 1
    assert sync.notion.calls("POST", "/v1/comments") == []


async def test_the_services_own_writes_to_notion_come_back_and_go_no_further(sync: Sync) -> None:
    sync.sentry.set_status(ISSUE, "resolved")
    await sync.sentry_webhook("issue", "resolved", {"issue": group(ISSUE, status="resolved")})
    await sync.drained()
    assert sync.status() == ("Done", "resolved")
    comment = {"comment_id": 77, "issue_id": ISSUE, "project_slug": "backend", "comment": "Seen after deploy"}
    comment |= {"timestamp": "2026-05-04T12:00:01.000000Z"}
    await sync.sentry_webhook("comment", "created", comment)
    await sync.drained()
    assert len(sync.notion.comments) == 1

    echoes = await sync.settle()

    # Notion told of the status and the comment the service wrote, as changes of its bot; Sentry hears nothing.
    assert sorted(d.payload["type"] for d in echoes) == ["comment.created", "page.properties_updated"]
    assert all(d.payload["authors"] == [{"id": sync.notion.bot_id, "type": "bot"}] for d in echoes)
    assert all(d.status == 200 for d in echoes)
    assert sync.sentry_writes() == []
    assert sync.sentry.calls("*", NOTES) == []


@pytest.mark.parametrize(
    ("sync_config", "notion_later", "notion_wins"),
    [
        # The default policy (README, "Both sides at once"): the later change by each system's own clock wins.
        ({}, True, True),
        ({}, False, False),
        # NOTION_CONFIG's status_winner: that side wins, however late the other's change.
        ({"status_winner": "notion"}, False, True),
        ({"status_winner": "sentry"}, True, False),
        # Reading each entry before the write: "latest" also for a Notion change whose event is still on its way.
        ({"read_before_write": True}, True, True),
    ],
    ids=["latest-notion-later", "latest-sentry-later", "notion-wins", "sentry-wins", "latest-read-first"],
)
@pytest.mark.parametrize("notion_first", [True, False], ids=["notion-event-first", "sentry-event-first"])
async def test_both_sides_changed_at_once_the_policy_decides_whichever_is_heard_first(
    sync: Sync, sync_config: dict[str, Any], notion_later: bool, notion_wins: bool, notion_first: bool
) -> None:
    notion_at, sentry_at = T0 + timedelta(seconds=5), T0 + timedelta(seconds=9)
    if notion_later:
        notion_at, sentry_at = sentry_at, notion_at
    sync.notion.clock, sync.sentry.clock = (lambda: notion_at), (lambda: sentry_at)
    sync.person_sets(Status={"status": {"name": "In progress"}})  # the team picks it up in Notion…
    sync.sentry.set_status(ISSUE, "resolved")  # …while someone resolves it in Sentry
    hooks = sync.hooks.pending()
    assert len(hooks) == 1

    for step in ("notion", "sentry") if notion_first else ("sentry", "notion"):
        if step == "notion":
            await sync.hooks.deliver()
        else:
            await sync.sentry_webhook("issue", "resolved", {"issue": group(ISSUE, status="resolved")})
        await sync.drained()
    await sync.settle()

    if not notion_first and not sync_config:
        # Under "latest", Sentry's change is weighed against the entry as last seen while Notion has not sent its
        # event: the later change in Notion is not known yet, and loses (README, "When both sides change").
        notion_wins = False
    assert sync.status() == (("In progress", "unresolved") if notion_wins else ("Done", "resolved"))


async def test_one_aggregated_event_carries_two_peoples_changes(sync: Sync) -> None:
    grace = sync.notion.add_user("Grace Hopper", "grace@example.com")
    sync.person_sets(Status={"status": {"name": "Done"}})
    sync.person_sets(by=grace, Assignee={"people": [{"id": sync.ada}]})

    (delivery,) = await sync.settle()

    assert delivery.payload["type"] == "page.properties_updated"
    assert [a["id"] for a in delivery.payload["authors"]] == [sync.ada, grace]
    assert len(delivery.payload["data"]["updated_properties"]) == 2
    assert sync.status() == ("Done", "resolved")
    assert sync.sentry.issue(ISSUE)["assignedTo"]["id"] == sync.ada_in_sentry


@pytest.mark.parametrize("delivery", ["in-order", "shuffled-and-twice", "first-held-late"])
async def test_out_of_order_repeated_and_late_events_end_the_same_each_change_applied_once(
    sync: Sync, delivery: str
) -> None:
    # Four changes, each its own event: Notion closes an entity's event when it sends it, so each is held back
    # (closed, unsent) before the next change.
    sync.person_sets(Status={"status": {"name": "Done"}})
    await sync.hooks.deliver(hold=everything)
    comment = sync.notion.person_comments(sync.page_id, "Reproduced", by=sync.ada)
    sync.person_sets(Assignee={"people": [{"id": sync.ada}]})
    await sync.hooks.deliver(hold=everything)
    sync.notion.person_edits_comment(comment["id"], "Reproduced twice", by=sync.ada)
    events = sync.hooks.pending()
    assert len(events) == 4

    if delivery == "shuffled-and-twice":
        sent = await sync.settle(shuffle=True, duplicate=everything)
        assert len(sent) == 8
        assert [d.payload["type"] for d in sent] != [e["type"] for e in events]  # seed 3 does reorder them
    elif delivery == "first-held-late":
        await sync.hooks.deliver(hold=lambda body: body["id"] == events[0]["id"])
        await sync.drained()
        (late,) = await sync.settle()
        assert late.payload["id"] == events[0]["id"]
    else:
        await sync.settle()

    assert sync.status() == ("Done", "resolved")
    assert sync.sentry.issue(ISSUE)["assignedTo"]["id"] == sync.ada_in_sentry
    assert sync.notes() == ["Ada Lovelace in Notion: Reproduced twice"]
    assert sync.sentry_writes() == [{"status": "resolved"}, {"assignedTo": f"user:{sync.ada_in_sentry}"}]
    assert [r.method for r in sync.sentry.calls("*", NOTES)] == ["POST"]
    assert len(sync.worker.ran) == 4


@pytest.mark.parametrize("forgery", ["unsigned", "other-key", "tampered"])
async def test_a_forged_event_is_refused_and_nothing_is_queued(sync: Sync, forgery: str) -> None:
    sync.person_sets(Status={"status": {"name": "Done"}})
    (body,) = sync.hooks.pending()
    raw = encode(body)
    headers = {"Content-Type": "application/json"}
    if forgery == "other-key":
        headers["X-Notion-Signature"] = signature(raw, "secret_forger")
    elif forgery == "tampered":
        headers["X-Notion-Signature"] = signature(raw, TOKEN)
        raw = encode(body | {"id": str(uuid.uuid4())})

    assert await sync.post(raw, headers) == 401
    await sync.drained()

    assert sync.worker.ran == []
    assert sync.sentry.requests == []
    assert sync.status() == ("Done", "unresolved")


async def test_events_of_another_subscription_are_refused(sync: Sync) -> None:
    # Another integration's subscription pointed at this URL signs with its own token.
    other = NotionWebhooks(sync.notion, sync.hooks.url, verification_token="secret_another_subscription", seed=9)
    sync.person_sets(Status={"status": {"name": "Done"}})

    refused = await other.deliver()
    await sync.drained()

    assert [d.status for d in refused] == [401]
    assert sync.worker.ran == []
    assert sync.sentry.requests == []
    await sync.settle()  # the configured subscription's copy of the same change is applied
    assert sync.status() == ("Done", "resolved")


async def test_a_signed_event_of_another_workspace_is_acknowledged_and_never_applied(sync: Sync) -> None:
    # The integration installed in a second workspace: the same subscription, signed with the same token, tells
    # of that workspace's changes. This one names the entry's page, so applying it would resolve the issue.
    elsewhere = NotionWebhooks(
        sync.notion, sync.hooks.url, verification_token=TOKEN, workspace_id=str(uuid.uuid4()), seed=9
    )
    sync.person_sets(Status={"status": {"name": "Done"}})
    counted = events_counted("page.properties_updated", "other_workspace")

    acknowledged = await elsewhere.deliver()
    await sync.drained()

    assert [d.status for d in acknowledged] == [200]  # answered, so that Notion does not send it again
    assert events_counted("page.properties_updated", "other_workspace") == counted + 1
    assert sync.worker.ran == []
    assert sync.sentry.requests == []
    assert sync.status() == ("Done", "unresolved")


async def test_a_second_handshake_leaves_the_active_token_in_force(sync: Sync) -> None:
    attacker = NotionWebhooks(sync.notion, sync.hooks.url, verification_token="secret_attacker", seed=5)

    assert await attacker.handshake() == 200

    tokens = await resolve(sync.worker.container.verification_tokens())
    assert [t.token for t in await tokens.pending()] == ["secret_attacker"]  # for an operator to judge, no more
    sync.person_sets(Status={"status": {"name": "Done"}})
    assert [d.status for d in await attacker.deliver()] == [401]
    assert [d.status for d in await sync.settle()] == [200]
    assert sync.status() == ("Done", "resolved")
    assert len(sync.worker.ran) == 1


@pytest.mark.parametrize("write", ["status", "note"])
async def test_a_job_whose_worker_died_mid_write_is_taken_over_and_applied_once(sync: Sync, write: str) -> None:
    # Sentry takes the write but answers late; the worker is killed waiting for the answer.
    method, path = ("PUT", ISSUE_PATH) if write == "status" else ("POST", NOTES)
    sync.sentry.fail_next(method, path, 0, delay=3)
    if write == "status":
        sync.person_sets(Status={"status": {"name": "Done"}})
    else:
        sync.notion.person_comments(sync.page_id, "Reproduced", by=sync.ada)
    await sync.hooks.deliver()
    await sync.until(lambda: sync.sentry.calls(method, path), "the worker never wrote to Sentry")
    sync.worker.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sync.worker.task

    second = await sync.start_worker(claim_idle_s=0.5)
    await sync.settle()

    assert len(second.ran) == 1
    assert sync.worker.ran == []
    if write == "status":
        assert sync.status() == ("Done", "resolved")
        assert sync.sentry_writes() == [{"status": "resolved"}]
    else:
        assert sync.notes() == ["Ada Lovelace in Notion: Reproduced"]


def notion_calls(sync: Sync, since: int) -> list[str]:
    """The Notion calls made after the `since`-th, as "PATCH page"; the page is the entry's."""
    return [f"{r.method} {'page' if r.path.endswith(sync.page_id) else r.path}" for r in sync.notion.requests[since:]]


async def sentry_changes(sync: Sync, status: str) -> list[str]:
    """Someone sets the issue's status in Sentry; the Notion calls it took to apply, its echo included."""
    since = len(sync.notion.requests)
    sync.sentry.set_status(ISSUE, status)
    await sync.sentry_webhook("issue", status, {"issue": group(ISSUE, status=status)})
    await sync.drained()  # before Notion sends what it holds
    await sync.settle()
    return notion_calls(sync, since)


async def test_a_sentry_status_change_costs_one_notion_call_once_the_entry_is_seen(sync: Sync) -> None:
    # The refresh after linking saw the entry; each write's answer is what is seen next, and its echo is the bot's.
    assert await sentry_changes(sync, "resolved") == ["PATCH page"]
    assert sync.status() == ("Done", "resolved")
    assert await sentry_changes(sync, "unresolved") == ["PATCH page"]
    assert sync.status() == ("Not started", "unresolved")


async def test_a_change_in_notion_is_read_when_its_event_arrives_and_not_again(sync: Sync) -> None:
    sync.person_sets(Status={"status": {"name": "Done"}})
    since = len(sync.notion.requests)
    await sync.settle()
    assert notion_calls(sync, since) == ["GET page"]
    assert sync.status() == ("Done", "resolved")

    assert await sentry_changes(sync, "unresolved") == ["PATCH page"]  # from Done, as that read showed it
    assert sync.status() == ("Not started", "unresolved")


async def test_a_change_whose_event_is_on_its_way_is_read_when_the_entry_looks_unchanged(sync: Sync) -> None:
    sync.person_sets(Status={"status": {"name": "Done"}})
    await sync.hooks.deliver(hold=everything)  # Notion is still gathering the page's changes
    since = len(sync.notion.requests)

    # A Sentry event that changes nothing the entry as last seen shows: that is only believed once read.
    await sync.sentry_webhook("issue", "assigned", {"issue": group(ISSUE)})
    await sync.drained()

    assert notion_calls(sync, since) == ["GET page"]
    assert sync.status() == ("Done", "resolved")
    await sync.settle()
    assert await sentry_changes(sync, "unresolved") == ["PATCH page"]


@pytest.mark.parametrize("by", ["a person", "another integration"])
async def test_an_event_received_makes_a_sentry_change_queued_before_it_read_the_entry(sync: Sync, by: str) -> None:
    # Another integration writes through the API as its own bot: only the service's own bot leaves the entry seen.
    author = sync.ada if by == "a person" else sync.notion.add_user("Triage Bot", bot=True)
    sync.worker.stop.set()
    await asyncio.wait_for(sync.worker.task, WAIT_S)
    sync.notion.clock, sync.sentry.clock = (lambda: T0 + timedelta(seconds=9)), (lambda: T0 + timedelta(seconds=5))
    sync.sentry.set_status(ISSUE, "resolved")
    await sync.sentry_webhook("issue", "resolved", {"issue": group(ISSUE, status="resolved")})
    sync.person_sets(by=author, Status={"status": {"name": "In progress"}})  # later, by Notion's clock
    await sync.hooks.deliver()  # queued after Sentry's webhook, and told before that runs
    since = len(sync.notion.requests)

    await sync.start_worker()
    await sync.settle()

    assert sync.status() == ("In progress", "unresolved")  # the later change won, as "latest" says
    assert notion_calls(sync, since) == ["GET page", "GET page"]  # each job read the entry
    sync.sentry.clock = lambda: T0 + timedelta(seconds=20)
    assert await sentry_changes(sync, "resolved") == ["PATCH page"]


async def test_a_write_notion_refuses_forgets_the_entry_and_the_retry_reads_it(sync: Sync) -> None:
    sync.notion.fail_next("PATCH", r"/v1/pages/.*", 409)

    assert await sentry_changes(sync, "resolved") == ["PATCH page", "GET page", "PATCH page"]
    assert sync.status() == ("Done", "resolved")


async def test_an_entry_trashed_since_it_was_seen_is_read_once_its_write_is_refused(sync: Sync) -> None:
    sync.notion.person_trashes_page(sync.page_id, by=sync.ada)
    await sync.hooks.deliver(hold=everything)

    calls = await sentry_changes(sync, "resolved")

    assert calls[:2] == ["PATCH page", "GET page"]  # then the trash's event: a note on the issue, no write
    assert "PATCH page" not in calls[2:]
    assert sync.notion.page(sync.page_id)["in_trash"]


async def sentry_assigns(sync: Sync, user: str) -> list[str]:
    """Someone assigns the issue in Sentry; the Notion calls it took to apply, its echo included."""
    since = len(sync.notion.requests)
    sync.sentry.assign(ISSUE, user)
    await sync.sentry_webhook("issue", "assigned", {"issue": group(ISSUE)})
    await sync.drained()
    await sync.settle()
    return notion_calls(sync, since)


async def test_a_sentry_assignee_change_costs_one_notion_call_once_the_entry_is_seen(sync: Sync) -> None:
    grace = sync.notion.add_user("Grace Hopper", "grace@example.com")
    grace_in_sentry = sync.sentry.add_member("grace@example.com", "Grace")

    assert await sentry_assigns(sync, sync.ada_in_sentry) == ["GET /v1/users", "PATCH page"]  # the people, once
    assert await sentry_assigns(sync, grace_in_sentry) == ["PATCH page"]
    assert sync.assignees() == ([grace], grace_in_sentry)
    assert await sentry_changes(sync, "resolved") == ["PATCH page"]  # the assignee both agree on moved too
    assert sync.assignees() == ([grace], grace_in_sentry)


async def test_an_assignee_still_to_carry_to_sentry_is_read_first_and_assigned_once(sync: Sync) -> None:
    # The token may not list members when the person is set: the assignee waits, and the entry as read is seen.
    sync.sentry.fail_next("GET", r"/api/0/organizations/acme/members/", 403)
    sync.person_sets(Assignee={"people": [{"id": sync.ada}]})
    await sync.settle()
    assert sync.assignees() == ([sync.ada], None)

    assert await sentry_changes(sync, "resolved") == ["GET page", "PATCH page"]

    assert sync.sentry_writes() == [{"assignedTo": f"user:{sync.ada_in_sentry}"}]
    assert sync.assignees() == ([sync.ada], sync.ada_in_sentry)
    assert sync.status() == ("Done", "resolved")
