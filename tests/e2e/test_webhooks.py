# From signed Sentry webhooks to the Notion entry: the whole service against the fake Notion server, the job queue on
# the real Redis and a worker running beside it, as `sentry-notion worker` runs it.

import asyncio
import contextlib
import functools
import io
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientResponse
from prometheus_client.parser import text_string_to_metric_families
from pytest_aiohttp import AiohttpClient, AiohttpServer
from structlog.testing import capture_logs

from adapters.redis_queue import RedisJobQueue
from container import Container, open_cli_use_cases, resolve
from domain.models import Job
from domain.use_cases.apply_issue_event import UP_TO_DATE
from entrypoints.cli.jobs import observed
from entrypoints.cli.queue import replay_lost
from entrypoints.cli.reconcile import reconcile
from entrypoints.cli.serve import serve_app
from tests.support.fake_notion import FakeNotion
from tests.support.fake_sentry import FakeSentry
from tests.support.real_redis import REDIS_DOWN, REDIS_URL
from tests.support.sentry import SECRET, description, group, hook_headers, issue_link_body, ui_headers, webhook
from tests.support.stack import Client, Notion, StartApp, settings

WEBHOOK, CREATE = "/sentry/webhook", "/sentry/issue-link/create"
ISSUE, OTHER_ISSUE = 4242, 9999
PAGES = r"/v1/pages/[^/]+"
APP_ACTOR = {"type": "application", "id": "2ebf071f-2c1a-4a4c-9d3e-7f1b2d3c4e5f", "name": "Notion Sync"}
COLUMNS = {
    "status": "Status",
    "level": "Level",
    "events": "Events",
    "users": "Users",
    "first_seen": "First seen",
    "last_seen": "Last seen",
}
WAIT_S = 5.0
APPLIED = ("sentry_notion_jobs_total", (("kind", "sentry.issue"), ("outcome", "applied")))


@pytest.fixture
async def notion(aiohttp_server: AiohttpServer) -> Notion:
    # The shared database plus a column for each issue detail the service keeps fresh.
    fake = FakeNotion(seed=11)
    database_id, data_source_id = fake.add_database(
        "Bugs",
        properties={
            "Name": {"title": {}},
            "ID": {"unique_id": {"prefix": "BUG"}},
            "Assignee": {"people": {}},
            "Sentry Link": {"url": {}},
            "Status": {"status": {}},
            "Level": {"select": {}},
            "Events": {"number": {}},
            "Users": {"number": {}},
            "First seen": {"date": {}},
            "Last seen": {"date": {}},
        },
    )
    server = await aiohttp_server(fake.app())
    return Notion(fake, str(server.make_url("")).rstrip("/"), database_id, data_source_id)


@pytest.fixture
def env(notion: Notion, redis_prefix: str) -> dict[str, str]:
    return {
        "NOTION_API_BASE_URL": notion.url,
        "NOTION_TOKEN": notion.fake.token,
        "NOTION_CONFIG": json.dumps({"database_id": notion.database_id, "column_names": COLUMNS}),
        "NOTION_RATE_LIMIT": "100000",
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": redis_prefix,
    }


@pytest.fixture
async def client(start_app: StartApp, env: dict[str, str]) -> Client:
    return await start_app(**env)


@dataclass
class Worker:
    """A worker process: its own container on the same settings, running the queue in a task."""

    container: Container
    queue: RedisJobQueue
    task: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    handled: list[Job] = field(default_factory=list)
    failed: list[tuple[Job, str]] = field(default_factory=list)

    async def wait(self, count: int) -> None:
        """Until `count` jobs have run to their end, successfully or not."""
        deadline = time.monotonic() + WAIT_S
        while len(self.handled) + len(self.failed) < count:
            assert time.monotonic() < deadline, f"{count} job(s) expected; ran {self.handled} failed {self.failed}"
            await asyncio.sleep(0.02)


StartWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture
async def start_worker(env: dict[str, str], redis_prefix: str) -> AsyncIterator[StartWorker]:
    started: list[Worker] = []

    async def start(with_env: dict[str, str] | None = None, **queue_options: Any) -> Worker:
        container = Container(settings=settings(**env | (with_env or {})))
        apply = observed(await resolve(container.run_job()))
        queue = await resolve(container.queue())
        if queue_options:  # another process: its own consumer name and queue settings
            redis = await resolve(container.redis())
            queue = RedisJobQueue(redis, prefix=redis_prefix, consumer=f"worker-{uuid.uuid4().hex}", **queue_options)
        worker = Worker(container, queue)

        async def handle(job: Job) -> None:
            try:
                await apply(job)
            except Exception as exc:
                worker.failed.append((job, f"{type(exc).__name__}: {exc}"))
                raise
            worker.handled.append(job)

        worker.task = asyncio.create_task(queue.work(handle, stop=worker.stop))
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop.set()
        if worker.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(worker.task, WAIT_S)
        await resolve(worker.container.shutdown_resources())


@pytest.fixture
async def worker(start_worker: StartWorker) -> Worker:
    return await start_worker()


@pytest.fixture
async def page_id(client: Client, notion: Notion) -> str:
    """An entry created from Sentry issue 4242, so the service knows the link."""
    page_id = await create(client, notion)
    assert status_of(notion.fake, page_id) == "Not started"
    return page_id


async def create(client: Client, notion: Notion) -> str:
    stack = "TypeError: x is undefined\n  at render (src/checkout.js:12:5)"
    body = issue_link_body(
        {"title": "TypeError: x is undefined", "description": description("BACKEND-1A", ISSUE, stack)}
    )
    resp = await client.post(CREATE, data=body, headers=ui_headers(body))
    assert resp.status == 201, await resp.text()
    (page,) = notion.fake.pages(notion.data_source_id)
    return str(page["id"])


class Clock:
    """Sentry-Hook-Timestamp values: whole seconds, each later than the last unless asked otherwise."""

    def __init__(self) -> None:
        self.now = int(time.time()) - 3600  # Sentry's clock need not agree with ours

    def tick(self) -> int:
        self.now += 1
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def deliver(
    client: Client,
    resource: str,
    action: str,
    data: dict[str, Any],
    timestamp: int,
    actor: dict[str, Any] | None = None,
    secret: str | None = None,
) -> ClientResponse:
    body = webhook(action, data, actor)
    return await client.post(WEBHOOK, data=body, headers=hook_headers(body, resource, timestamp, secret or SECRET))


async def outcome(resp: ClientResponse) -> str:
    assert resp.status in (200, 202), await resp.text()
    answer = await resp.json()
    assert answer["received"] is True
    assert resp.status == (202 if answer["outcome"] == "queued" else 200)
    return str(answer["outcome"])


async def issue_event(
    client: Client, action: str, timestamp: int, actor: dict[str, Any] | None = None, **fields: Any
) -> str:
    extra = {k: fields.pop(k) for k in ("assignee", "resolution_type") if k in fields}
    return await outcome(
        await deliver(client, "issue", action, extra | {"issue": group(ISSUE, **fields)}, timestamp, actor)
    )


async def barrier(client: Client, worker: Worker, clock: Clock, count: int) -> None:
    """Sends an event about an unlinked issue and waits until it and all `count - 1` jobs before it have run.

    One worker runs jobs in the order they came, so once this one ran, nothing queued earlier is still waiting.
    """
    data = {"issue": group(OTHER_ISSUE, count=str(count))}  # a body of its own, or it would be a duplicate
    assert await outcome(await deliver(client, "issue", "unresolved", data, clock.tick())) == "queued"
    await worker.wait(count)
    assert worker.handled[-1].body["data"]["issue"]["id"] == str(OTHER_ISSUE)


def status_of(fake: FakeNotion, page_id: str) -> str | None:
    status = fake.page(page_id)["properties"]["Status"]["status"]
    return None if status is None else str(status["name"])


def patches(fake: FakeNotion) -> list[dict[str, Any]]:
    return [r.json["properties"] for r in fake.calls("PATCH", PAGES)]


def comment_text(comment: dict[str, Any]) -> str:
    return "".join(item["plain_text"] for item in comment["rich_text"])


def comment_data(comment_id: int, text: str) -> dict[str, Any]:
    return {
        "comment_id": comment_id,
        "issue_id": ISSUE,
        "project_slug": "backend",
        "timestamp": "2026-11-27T01:02:03.118160Z",
        "comment": text,
    }


async def test_resolved_moves_the_entry_to_the_first_complete_option(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    assert await issue_event(client, "resolved", clock.tick(), status="resolved", resolution_type="now") == "queued"

    await worker.wait(1)

    assert status_of(notion.fake, page_id) == "Done"
    assert worker.failed == []


async def test_a_regression_reopens_the_entry(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    await issue_event(client, "resolved", clock.tick(), status="resolved")
    await worker.wait(1)
    assert status_of(notion.fake, page_id) == "Done"

    await issue_event(client, "unresolved", clock.tick(), status="unresolved", substatus="regressed")
    await worker.wait(2)

    assert status_of(notion.fake, page_id) == "Not started"  # the first option of the To-do group
    assert worker.failed == []


async def test_an_older_event_delivered_late_does_not_undo_a_newer_one(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    regressed_at = clock.tick()
    await issue_event(client, "resolved", clock.tick(), status="resolved")
    await worker.wait(1)

    assert await issue_event(client, "unresolved", regressed_at, substatus="regressed") == "queued"
    await worker.wait(2)

    assert status_of(notion.fake, page_id) == "Done"
    assert len(patches(notion.fake)) == 1
    assert worker.failed == []


async def test_the_same_event_delivered_twice_is_one_job_applied_once(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    body = webhook("created", comment_data(1234, "Seen again after deploy"))
    at = clock.tick()
    first, second = hook_headers(body, "comment", at), hook_headers(body, "comment", at)
    assert first["Request-ID"] != second["Request-ID"]

    answers = [await outcome(await client.post(WEBHOOK, data=body, headers=h)) for h in (first, second)]
    await barrier(client, worker, clock, 2)

    assert answers == ["queued", "duplicate"]
    assert [(job.kind, job.action) for job in worker.handled] == [
        ("sentry.comment", "created"),
        ("sentry.issue", "unresolved"),
    ]
    assert [comment_text(c) for c in notion.fake.comments] == ["Seen again after deploy"]
    assert len(notion.fake.calls("POST", "/v1/comments")) == 1


async def test_changes_made_through_an_integration_token_are_ignored(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    ada = notion.fake.add_user("Ada Lovelace", "ada@example.com")
    assignee = {"type": "user", "name": "Ada", "id": 77, "email": "ada@example.com"}
    before = notion.fake.page(page_id)

    answers = [
        await issue_event(client, "assigned", clock.tick(), actor=APP_ACTOR, assignee=assignee),
        await issue_event(client, "resolved", clock.tick(), actor=APP_ACTOR, status="resolved"),
        await outcome(await deliver(client, "comment", "created", comment_data(1, "via API"), clock.tick(), APP_ACTOR)),
    ]
    await barrier(client, worker, clock, 1)

    assert answers == ["ignored"] * 3
    assert notion.fake.page(page_id) == before
    assert (patches(notion.fake), notion.fake.comments) == ([], [])

    # Sentry itself acting (no user, e.g. ownership rules assigning) is not an integration: that change is applied.
    sentry = {"type": "application", "id": "sentry", "name": "Sentry"}
    assert await issue_event(client, "assigned", clock.tick(), actor=sentry, assignee=assignee) == "queued"
    await worker.wait(2)
    assert [p["id"] for p in notion.fake.page(page_id)["properties"]["Assignee"]["people"]] == [ada]


async def test_assigning_a_sentry_user_assigns_the_notion_person_with_that_email(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    ada = notion.fake.add_user("Ada Lovelace", "ada@example.com")
    notion.fake.add_user("Grace Hopper", "grace@example.com")
    assignee = {"type": "user", "name": "Ada", "id": 77, "email": "ADA@example.com"}

    assert await issue_event(client, "assigned", clock.tick(), assignee=assignee) == "queued"
    await worker.wait(1)

    people = notion.fake.page(page_id)["properties"]["Assignee"]["people"]
    assert [p["id"] for p in people] == [ada]
    assert worker.failed == []


async def test_assigning_a_team_is_skipped(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    notion.fake.add_user("Ada Lovelace", "ada@example.com")
    team = {"type": "team", "name": "backend", "id": 5}

    assert await issue_event(client, "assigned", clock.tick(), assignee=team) == "queued"
    await worker.wait(1)

    assert notion.fake.page(page_id)["properties"]["Assignee"]["people"] == []
    assert all("Assignee" not in properties for properties in patches(notion.fake))
    assert worker.failed == []


async def test_a_sentry_comment_becomes_a_notion_comment_by_its_author(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    actor = {"type": "user", "id": 12, "name": "Lin Chen"}

    resp = await deliver(
        client, "comment", "created", comment_data(1234, "Seen again after deploy"), clock.tick(), actor
    )
    assert await outcome(resp) == "queued"
    await worker.wait(1)

    (comment,) = notion.fake.comments
    assert comment["parent"] == {"type": "page_id", "page_id": page_id}
    assert comment_text(comment) == "Seen again after deploy"
    assert comment["display_name"]["type"] == "custom"
    assert "Lin Chen" in comment["display_name"]["resolved_name"]
    assert worker.failed == []


async def test_an_edited_sentry_comment_edits_the_notion_comment(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    await outcome(await deliver(client, "comment", "created", comment_data(1234, "Seen once"), clock.tick()))
    await worker.wait(1)

    await outcome(await deliver(client, "comment", "updated", comment_data(1234, "Seen twice"), clock.tick()))
    await worker.wait(2)

    assert worker.failed == []
    (comment,) = notion.fake.comments
    assert comment_text(comment) == "Seen twice"


async def test_a_deleted_sentry_comment_is_deleted_in_notion(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    await outcome(await deliver(client, "comment", "created", comment_data(1234, "Wrong issue"), clock.tick()))
    await outcome(await deliver(client, "comment", "created", comment_data(1235, "Stays"), clock.tick()))
    await worker.wait(2)
    assert len(notion.fake.comments) == 2

    await outcome(await deliver(client, "comment", "deleted", comment_data(1234, "Wrong issue"), clock.tick()))
    await worker.wait(3)

    assert [comment_text(c) for c in notion.fake.comments] == ["Stays"]
    assert worker.failed == []


async def test_issue_details_land_in_their_columns_and_a_redelivery_writes_nothing(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    fields: dict[str, Any] = {"status": "resolved", "level": "fatal", "count": "1234", "userCount": 56}
    await issue_event(client, "resolved", clock.tick(), **fields)
    await worker.wait(1)

    properties = notion.fake.page(page_id)["properties"]
    assert properties["Level"]["select"]["name"] == "fatal"
    assert (properties["Events"]["number"], properties["Users"]["number"]) == (1234, 56)
    assert properties["First seen"]["date"]["start"].startswith("2026-11-20T10:00:00.123")
    assert properties["Last seen"]["date"]["start"].startswith("2026-11-27T01:00:00")
    assert status_of(notion.fake, page_id) == "Done"
    assert len(patches(notion.fake)) == 1

    # Sentry builds a retried webhook anew, with a new timestamp but the same signed body: a duplicate.
    assert await issue_event(client, "resolved", clock.tick(), **fields) == "duplicate"
    await barrier(client, worker, clock, 2)

    assert len(patches(notion.fake)) == 1
    assert worker.failed == []


async def test_unknown_resources_and_actions_are_acknowledged_and_change_nothing(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    before = notion.fake.page(page_id)
    deliveries: list[tuple[str, str, dict[str, Any]]] = [
        ("installation", "created", {"installation": {"uuid": "a8e5d37a", "status": "installed", "code": "f3c71b49"}}),
        ("event_alert", "triggered", {"event": {"event_id": "9c1f", "issue_id": str(ISSUE)}, "triggered_rule": "x"}),
        ("metric_alert", "critical", {"metric_alert": {"id": "7"}, "description_title": "p95 above 2 s"}),
        ("seer", "root_cause_completed", {"run_id": 3, "group_id": ISSUE}),
        ("comment", "pinned", comment_data(1234, "Pinned")),
    ]

    answers = [await outcome(await deliver(client, *d, timestamp=clock.tick())) for d in deliveries]
    # Whatever was queued runs, and changes nothing.
    await barrier(client, worker, clock, answers.count("queued") + 1)

    assert set(answers) <= {"queued", "ignored"}
    assert worker.failed == []
    assert notion.fake.page(page_id) == before
    assert patches(notion.fake) == []
    assert notion.fake.comments == []


async def test_a_bad_signature_is_refused_and_nothing_is_queued(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    notion.fake.add_user("Ada Lovelace", "ada@example.com")
    data = {"assignee": {"type": "user", "name": "Ada", "id": 77, "email": "ada@example.com"}, "issue": group(ISSUE)}

    resp = await deliver(client, "issue", "assigned", data, clock.tick(), secret="not-the-client-secret")
    await barrier(client, worker, clock, 1)

    assert resp.status == 401
    assert [job.body["data"]["issue"]["id"] for job in worker.handled] == [str(OTHER_ISSUE)]
    assert notion.fake.page(page_id)["properties"]["Assignee"]["people"] == []


async def kill_during_notion_write(first: Worker, notion: Notion, path: str) -> None:
    """Waits until the worker's write reached Notion, then kills the worker before Notion answers."""
    deadline = time.monotonic() + WAIT_S
    while not notion.fake.calls("*", path):
        assert time.monotonic() < deadline, "the worker never wrote to Notion"
        await asyncio.sleep(0.02)
    assert first.task is not None
    first.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first.task
    assert (first.handled, first.failed) == ([], [])


async def test_a_job_whose_worker_died_runs_again_and_is_applied_once(
    client: Client, notion: Notion, page_id: str, start_worker: StartWorker, clock: Clock
) -> None:
    first = await start_worker()
    # Notion saves the change but answers late; the worker dies waiting for the answer.
    notion.fake.fail_next("PATCH", PAGES, 0, delay=2)
    assert await issue_event(client, "resolved", clock.tick(), status="resolved") == "queued"
    await kill_during_notion_write(first, notion, PAGES)

    second = await start_worker(claim_idle_s=0.5)
    await second.wait(1)

    assert [job.body["action"] for job in second.handled] == ["resolved"]
    assert second.failed == []
    assert status_of(notion.fake, page_id) == "Done"
    assert len(patches(notion.fake)) == 1


async def test_a_comment_whose_worker_died_is_posted_once(
    client: Client, notion: Notion, page_id: str, start_worker: StartWorker, clock: Clock
) -> None:
    first = await start_worker()
    notion.fake.fail_next("POST", "/v1/comments", 0, delay=2)
    await outcome(await deliver(client, "comment", "created", comment_data(1234, "Seen again"), clock.tick()))
    await kill_during_notion_write(first, notion, "/v1/comments")

    second = await start_worker(claim_idle_s=0.5)
    await second.wait(1)

    assert second.failed == []
    assert [comment_text(c) for c in notion.fake.comments] == ["Seen again"]


async def test_with_redis_down_a_webhook_is_applied_inline(
    start_app: StartApp, env: dict[str, str], notion: Notion, clock: Clock
) -> None:
    client = await start_app(**env | {"REDIS_URL": REDIS_DOWN})
    page_id = await create(client, notion)

    started = time.perf_counter()
    answer = await issue_event(client, "resolved", clock.tick(), status="resolved")
    elapsed = time.perf_counter() - started

    assert answer == "applied"
    assert elapsed < 1.0  # inside Sentry's one-second budget
    assert status_of(notion.fake, page_id) == "Done"


async def test_a_webhook_lost_while_redis_was_down_is_repaired_by_reconcile(
    aiohttp_server: AiohttpServer,
    start_app: StartApp,
    env: dict[str, str],
    notion: Notion,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sentry = FakeSentry()
    sentry_server = await aiohttp_server(sentry.app())
    down = env | {"REDIS_URL": REDIS_DOWN}
    client = await start_app(**down)
    page_id = await create(client, notion)
    notion.fake.fail_next("GET", PAGES, 0, delay=1.5)  # Notion slower than Sentry's one-second budget

    assert await issue_event(client, "resolved", int(time.time()), status="resolved") == "lost"
    assert status_of(notion.fake, page_id) == "Not started"

    sentry.add_issue(ISSUE, status="resolved", substatus=None, count=99, user_count=3)
    container = Container(
        settings=settings(
            **down,
            SENTRY_API_TOKEN=sentry.token,
            SENTRY_ORG=sentry.organization,
            SENTRY_URL=str(sentry_server.make_url("")).rstrip("/"),
        )
    )
    async with open_cli_use_cases(container) as use_cases:
        assert await reconcile(use_cases) == 0

    assert status_of(notion.fake, page_id) == "Done"
    assert notion.fake.page(page_id)["properties"]["Events"]["number"] == 99
    out = capsys.readouterr().out
    assert "✓ BUG-1 · TypeError: x is undefined: status → Done" in out
    assert "1 linked entries, 1 repaired, 0 not checked." in out


async def test_a_lost_webhook_is_queued_again_from_the_log(
    start_app: StartApp,
    env: dict[str, str],
    notion: Notion,
    start_worker: StartWorker,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = await start_app(**env | {"REDIS_URL": REDIS_DOWN})
    page_id = await create(client, notion)
    notion.fake.fail_next("GET", PAGES, 0, delay=1.5)
    with capture_logs() as logs:
        assert await issue_event(client, "resolved", int(time.time()) - 10, status="resolved") == "lost"
    (lost,) = [entry for entry in logs if entry["event"] == "webhook_lost"]
    log_file = io.StringIO("not json\n" + json.dumps({"event": "webhook_lost", "job": lost["job"]}) + "\n")

    async with open_cli_use_cases(Container(settings=settings(**env))) as use_cases:
        assert await replay_lost(use_cases.queue, log_file) == 0
    assert "1 lost webhook(s) queued again" in capsys.readouterr().out
    worker = await start_worker()
    await worker.wait(1)

    assert status_of(notion.fake, page_id) == "Done"


async def test_a_new_entry_gets_its_columns_and_the_issue_a_note(
    aiohttp_server: AiohttpServer, start_app: StartApp, env: dict[str, str], notion: Notion
) -> None:
    sentry = FakeSentry()
    sentry.add_issue(ISSUE, status="resolved", substatus=None, count=12, user_count=4)
    sentry_server = await aiohttp_server(sentry.app())
    with_sentry = env | {
        "SENTRY_API_TOKEN": sentry.token,
        "SENTRY_ORG": sentry.organization,
        "SENTRY_URL": str(sentry_server.make_url("")).rstrip("/"),
    }
    client = await start_app(**with_sentry)
    page_id = await create(client, notion)
    container = Container(settings=settings(**with_sentry))
    queue, apply = await resolve(container.queue()), await resolve(container.run_job())
    stop = asyncio.Event()
    work = asyncio.create_task(queue.work(apply, stop=stop))
    try:
        deadline = time.monotonic() + WAIT_S
        while status_of(notion.fake, page_id) != "Done":
            assert time.monotonic() < deadline, "the refresh job did not run"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(work, WAIT_S)
        await resolve(container.shutdown_resources())

    properties = notion.fake.page(page_id)["properties"]
    assert (properties["Events"]["number"], properties["Users"]["number"]) == (12, 4)
    (note,) = sentry.notes(str(ISSUE))
    assert note.startswith("Linked to Notion BUG-1: ")
    assert "Level: error · Events: 12 · Users: 4" in notion.fake.page_text(page_id)


# ----- order of events, whatever Sentry's clock says (timestamps exactly as Sentry sends them) -----


@dataclass(frozen=True)
class SentryApi:
    fake: FakeSentry
    issue: dict[str, Any]  # issue 4242 as the fake keeps it: edit it to change what Sentry's API answers
    env: dict[str, str]


@pytest.fixture
async def sentry_api(aiohttp_server: AiohttpServer, env: dict[str, str]) -> SentryApi:
    fake = FakeSentry()
    issue = fake.add_issue(ISSUE, status="unresolved", substatus="ongoing")
    server = await aiohttp_server(fake.app())
    return SentryApi(
        fake,
        issue,
        env
        | {
            "SENTRY_API_TOKEN": fake.token,
            "SENTRY_ORG": fake.organization,
            "SENTRY_URL": str(server.make_url("")).rstrip("/"),
        },
    )


async def link_new_entry(client: Client, notion: Notion) -> str:
    page = notion.fake.add_page(notion.data_source_id, "Checkout is broken")
    body = issue_link_body({"issue": page["id"]})
    resp = await client.post("/sentry/issue-link/link", data=body, headers=ui_headers(body))
    assert resp.status == 200, await resp.text()
    return str(page["id"])


async def settled(notion: Notion, page_id: str, status: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while status_of(notion.fake, page_id) != status:
        assert time.monotonic() < deadline, f"the entry stayed {status_of(notion.fake, page_id)}, not {status}"
        await asyncio.sleep(0.02)


async def test_a_resolve_in_the_second_of_the_create_is_applied(
    start_app: StartApp, sentry_api: SentryApi, notion: Notion, start_worker: StartWorker
) -> None:
    client = await start_app(**sentry_api.env)
    await start_worker(sentry_api.env)
    page_id = await create(client, notion)

    sentry_api.issue.update(status="resolved", substatus=None)
    assert await issue_event(client, "resolved", int(time.time()), status="resolved") == "queued"

    await settled(notion, page_id, "Done")


@pytest.mark.parametrize("skew_s", [-30, 30])
async def test_with_sentrys_api_link_resolve_and_regression_end_as_sentry_shows_now(
    start_app: StartApp, sentry_api: SentryApi, notion: Notion, start_worker: StartWorker, skew_s: int
) -> None:
    client = await start_app(**sentry_api.env)
    page_id = await link_new_entry(client, notion)
    sentry_time = int(time.time()) + skew_s
    issue = sentry_api.issue

    issue.update(status="resolved", substatus=None)
    await issue_event(client, "resolved", sentry_time + 1, status="resolved")
    issue.update(status="unresolved", substatus="regressed")
    await issue_event(client, "unresolved", sentry_time + 2, substatus="regressed")
    worker = await start_worker(sentry_api.env)

    # The refresh queued by the link and both events waited together: one job, one read of the issue.
    await barrier(client, worker, Clock(), 2)
    assert status_of(notion.fake, page_id) == "Not started"
    assert len(sentry_api.fake.calls("GET", rf"/api/0/organizations/[^/]+/issues/{ISSUE}/")) == 1


@pytest.mark.parametrize("skew_s", [-30, 30])
async def test_without_sentrys_api_link_resolve_and_regression_follow_sentrys_timestamps(
    client: Client, notion: Notion, worker: Worker, skew_s: int
) -> None:
    page_id = await link_new_entry(client, notion)
    sentry_time = int(time.time()) + skew_s

    await issue_event(client, "resolved", sentry_time, status="resolved")
    await issue_event(client, "unresolved", sentry_time + 1, substatus="regressed")
    await issue_event(client, "resolved", sentry_time + 1, status="resolved", count="43")  # the same second
    await barrier(client, worker, Clock(), 4)

    assert status_of(notion.fake, page_id) == "Done"


async def test_without_sentrys_api_a_captured_resolve_sent_again_later_changes_nothing(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    await issue_event(client, "resolved", clock.tick(), status="resolved")
    await issue_event(client, "unresolved", clock.tick(), substatus="regressed")
    await barrier(client, worker, clock, 3)
    assert status_of(notion.fake, page_id) == "Not started"

    assert await issue_event(client, "resolved", clock.tick() + 600, status="resolved") == "duplicate"
    await barrier(client, worker, clock, 4)
    assert status_of(notion.fake, page_id) == "Not started"

    # Resolved again for real: Sentry's group has moved on (a new event was counted), so the body is new.
    assert await issue_event(client, "resolved", clock.tick(), status="resolved", count="43") == "queued"
    await barrier(client, worker, clock, 6)
    assert status_of(notion.fake, page_id) == "Done"


async def queue_gauges(client: Client) -> dict[str, float]:
    found = samples(await (await client.get("/metrics")).text())
    return {name: value for (name, _), value in found.items() if name.startswith("sentry_notion_queue_")}


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The queue and job samples, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name.startswith(("sentry_notion_queue_", "sentry_notion_job"))
    }


async def test_serve_applies_queued_webhooks_without_a_separate_worker(
    aiohttp_client: AiohttpClient, env: dict[str, str], notion: Notion, clock: Clock
) -> None:
    container = Container(settings=settings(**env))
    secrets = container.settings().client_secrets
    client = await aiohttp_client(
        serve_app(functools.partial(open_cli_use_cases, container), client_secrets=secrets, worker=True)
    )
    page_id = await create(client, notion)
    # The counters belong to the process, which other tests share: compare with what they held before.
    applied = samples(await (await client.get("/metrics")).text()).get(APPLIED, 0)

    assert await issue_event(client, "resolved", clock.tick(), status="resolved", resolution_type="now") == "queued"

    deadline = time.monotonic() + WAIT_S
    while samples(await (await client.get("/metrics")).text()).get(APPLIED, 0) == applied:
        assert time.monotonic() < deadline, "serve's own worker did not apply the queued webhook"
        await asyncio.sleep(0.02)
    assert status_of(notion.fake, page_id) == "Done"
    gauges = await queue_gauges(client)
    assert gauges["sentry_notion_queue_workers"] == 1  # this process's worker, seen through Redis
    assert gauges["sentry_notion_queue_dead_letters"] == 0


async def test_metrics_show_a_job_waiting_while_no_worker_runs(client: Client, clock: Clock) -> None:
    assert await outcome(await deliver(client, "issue", "unresolved", {"issue": group(OTHER_ISSUE)}, clock.tick())) == (
        "queued"
    )

    gauges = await queue_gauges(client)

    assert gauges["sentry_notion_queue_up"] == 1
    assert gauges["sentry_notion_queue_depth"] == 1
    assert gauges["sentry_notion_queue_oldest_job_age_seconds"] >= 0
    assert gauges["sentry_notion_queue_workers"] == 0
    assert gauges["sentry_notion_queue_dead_letters"] == 0


def job_calls(fake: FakeNotion, since: int) -> list[tuple[str, str]]:
    # Everything Notion received since `since` but the readiness probe the app starts with.
    return [(r.method, r.path) for r in fake.requests[since:] if r.path != "/v1/users/me"]


async def test_the_worker_logs_each_job_with_what_it_did_and_what_it_cost(
    client: Client, notion: Notion, page_id: str, worker: Worker, clock: Clock
) -> None:
    before = len(notion.fake.requests)
    with capture_logs() as logs:
        assert await issue_event(client, "resolved", clock.tick(), status="resolved") == "queued"
        await worker.wait(1)
        applied_calls = job_calls(notion.fake, before)
        # A plain reopen leaves a Done entry alone; then an issue nobody linked.
        await issue_event(client, "unresolved", clock.tick(), status="unresolved", substatus="ongoing")
        await barrier(client, worker, clock, 3)

    jobs = [entry for entry in logs if entry["event"].startswith("job_")]
    assert [(j["event"], j["log_level"], j["kind"], j["action"]) for j in jobs] == [
        ("job_applied", "info", "sentry.issue", "resolved"),
        ("job_unchanged", "info", "sentry.issue", "unresolved"),
        ("job_skipped", "info", "sentry.issue", "unresolved"),
    ]
    applied, unchanged, skipped = jobs
    assert applied["entry"] == unchanged["entry"] == page_id
    assert applied["changes"][0] == "status → Done"
    # Each request the job sent, as the fake Notion recorded it: read the entry, write the status.
    assert applied_calls == [("GET", f"/v1/pages/{page_id}"), ("PATCH", f"/v1/pages/{page_id}")]
    assert applied["notion_requests"] == len(applied_calls)
    assert "changes" not in unchanged
    assert unchanged["reason"] == UP_TO_DATE
    assert unchanged["notion_requests"] == 1
    assert skipped["reason"] == "no Notion entry is linked to this issue"
    assert "entry" not in skipped
    assert all(isinstance(j["duration_ms"], float) for j in jobs)


@pytest.mark.parametrize("redis", ["", REDIS_DOWN], ids=["no-redis", "redis-down"])
async def test_a_webhook_applied_at_once_is_answered_with_what_it_did(
    start_app: StartApp, env: dict[str, str], notion: Notion, clock: Clock, redis: str
) -> None:
    client = await start_app(**env | {"REDIS_URL": redis})
    page_id = await create(client, notion)
    resolved = {"issue": group(ISSUE, status="resolved")}
    reopened = {"issue": group(ISSUE, status="unresolved", substatus="ongoing")}

    answers = [
        await (await deliver(client, "issue", "resolved", resolved, clock.tick())).json(),
        await (await deliver(client, "issue", "unresolved", reopened, clock.tick())).json(),
        await (await deliver(client, "issue", "resolved", {"issue": group(OTHER_ISSUE)}, clock.tick())).json(),
    ]

    changes = [answer.pop("changes", []) for answer in answers]
    assert (changes[0][0], changes[1:]) == ("status → Done", [[], []])
    assert answers == [
        {"received": True, "outcome": "applied", "entry": page_id},
        {"received": True, "outcome": "unchanged", "entry": page_id, "reason": UP_TO_DATE},
        {"received": True, "outcome": "skipped", "reason": "no Notion entry is linked to this issue"},
    ]


async def test_the_worker_command_serves_its_job_and_queue_metrics(
    client: Client, notion: Notion, page_id: str, env: dict[str, str], clock: Clock
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(Path(sys.executable).with_name("sentry-notion")), "worker", "--metrics-port", str(port)]
    process = await asyncio.create_subprocess_exec(
        *command,
        env={"PATH": os.environ["PATH"], "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET": SECRET} | env,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert await issue_event(client, "resolved", clock.tick(), status="resolved") == "queued"
        found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 3 * WAIT_S  # the process starts first
            # The job is counted before the queue forgets it: wait until both show.
            while found.get(APPLIED) != 1 or found.get(("sentry_notion_queue_depth", ())) != 0:
                assert time.monotonic() < deadline, f"the worker did not report the job: {found}"
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                        exposition = await resp.text()
                        found = samples(exposition)
                await asyncio.sleep(0.05)
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200
    finally:
        process.terminate()
        stdout, _ = await asyncio.wait_for(process.communicate(), 15)

    assert process.returncode == 0
    assert status_of(notion.fake, page_id) == "Done"
    sentry_issue = (("kind", "sentry.issue"), ("outcome", "applied"))
    assert found[("sentry_notion_job_duration_seconds_count", sentry_issue)] == 1
    assert found[APPLIED[0], (("kind", "sentry.comment"), ("outcome", "failed"))] == 0  # there before any failure
    assert found["sentry_notion_queue_depth", ()] == 0
    assert found["sentry_notion_queue_workers", ()] == 1
    assert "_created" not in exposition
    lines = [json.loads(line) for line in stdout.decode().splitlines()]
    started = next(line for line in lines if line["event"] == "worker_started")
    assert started["metrics_port"] == port
    (job,) = [line for line in lines if line["event"] == "job_applied"]
    assert (job["entry"], job["notion_requests"]) == (page_id, 2)
