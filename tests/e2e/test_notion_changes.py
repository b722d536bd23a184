# From a change on the fake Notion page to the fake Sentry API call: Notion-shaped events as job bodies, run by
# the worker's table as `sentry-notion worker` builds it, against the fake Notion and fake Sentry servers and Redis.
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from container import Container, resolve
from domain.models import Job
from domain.notion_events import job, parse
from tests.support.fake_notion import FakeNotion
from tests.support.fake_sentry import FakeSentry
from tests.support.notion_webhooks import page_event
from tests.support.real_redis import REDIS_URL
from tests.support.stack import Notion, serve_notion, serve_sentry, settings

ISSUE = 4242
SENTRY_LINK = f"https://acme.sentry.io/issues/{ISSUE}/"
T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
async def notion(aiohttp_server: AiohttpServer) -> Notion:
    return await serve_notion(aiohttp_server, seed=13, at=T0)


@pytest.fixture
async def sentry(aiohttp_server: AiohttpServer) -> tuple[FakeSentry, str]:
    return await serve_sentry(aiohttp_server, issue=ISSUE, at=T0, scopes=("event:read", "event:write", "member:read"))


@dataclass
class Stack:
    notion: FakeNotion
    sentry: FakeSentry
    page_id: str
    status_id: str
    run: Callable[[Job], Awaitable[object]]
    worker: Container

    async def changed(self, kind: str = "page.properties_updated", *, by: str | None = None, **fields: Any) -> Any:
        """Notion's event for the page, as a job the worker runs; `by` a bot id for an event of a bot."""
        authors = [{"id": by, "type": "bot"}] if by else None
        body = page_event(kind, self.page_id, at=self.notion.clock().timestamp(), authors=authors, **fields)
        made = job(parse(body), json.loads(json.dumps(body)), received_at=0)
        assert made is not None
        return await self.run(made)

    async def set_status(self, name: str) -> Any:
        self.notion.edit(self.page_id, {"Status": {"status": {"name": name}}})
        return await self.changed(updated_properties=[self.status_id])

    def status_writes(self) -> list[Any]:
        return [r.json for r in self.sentry.calls("PUT", rf"/api/0/organizations/acme/issues/{ISSUE}/")]

    def notion_status(self) -> str:
        return str(self.notion.page(self.page_id)["properties"]["Status"]["status"]["name"])


Env = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def stack(
    notion: Notion, sentry: tuple[FakeSentry, str], redis_prefix: str
) -> AsyncIterator[Callable[..., Awaitable[Stack]]]:
    containers: list[Container] = []

    async def start(sync: dict[str, Any] | None = None) -> Stack:
        fake_sentry, sentry_url = sentry
        page = notion.fake.add_page(
            notion.data_source_id, "Checkout is broken", properties={"Sentry Link": {"url": SENTRY_LINK}}
        )
        config = {"database_id": notion.database_id, "column_names": {"status": "Status"}, "sync": sync or {}}
        container = Container(
            settings=settings(
                NOTION_API_BASE_URL=notion.url,
                NOTION_TOKEN=notion.fake.token,
                NOTION_CONFIG=json.dumps(config),
                NOTION_RATE_LIMIT="100000",
                REDIS_URL=REDIS_URL,
                REDIS_PREFIX=redis_prefix,
                SENTRY_API_TOKEN=fake_sentry.token,
                SENTRY_ORG=fake_sentry.organization,
                SENTRY_URL=sentry_url,
            )
        )
        containers.append(container)
        run = await resolve(container.run_job())
        # The refresh that linking queues: the entry and the issue start in step.
        refresh = Job(kind="sentry.issue", key="refresh", action="refresh", body={
            "action": "refresh", "installation": {"uuid": fake_sentry.installation},
            "data": {"issue": {"id": str(ISSUE)}},
        }, received_at=0)  # fmt: skip
        await run(refresh)
        status_id = str(page["properties"]["Status"]["id"])
        return Stack(notion.fake, fake_sentry, str(page["id"]), status_id, run, container)

    yield start
    for container in containers:
        await resolve(container.shutdown_resources())


async def test_done_resolves_and_in_progress_reopens(stack: Env) -> None:
    s = await stack()

    await s.set_status("Done")
    assert s.sentry.issue(ISSUE)["status"] == "resolved"
    await s.set_status("In progress")

    assert s.sentry.issue(ISSUE)["status"] == "unresolved"
    assert s.status_writes() == [{"status": "resolved"}, {"status": "unresolved"}]


async def test_an_option_mapped_in_notion_config_archives(stack: Env) -> None:
    s = await stack({"status_to_sentry": {"In progress": "ignored"}})

    await s.set_status("In progress")

    assert (s.sentry.issue(ISSUE)["status"], s.sentry.issue(ISSUE)["substatus"]) == ("ignored", "archived_forever")


async def test_the_services_own_changes_and_equal_states_write_nothing(stack: Env) -> None:
    s = await stack()
    s.notion.edit(s.page_id, {"Status": {"status": {"name": "Done"}}})

    await s.changed(by=s.notion.bot_id, updated_properties=[s.status_id])  # authored by our bot: skipped
    assert s.status_writes() == []
    await s.changed(updated_properties=[s.status_id])
    await s.changed(updated_properties=[s.status_id])  # repeated: Sentry has it already

    assert s.status_writes() == [{"status": "resolved"}]


async def test_the_assignee_follows_by_email_and_is_cleared_when_this_sync_set_it(stack: Env) -> None:
    s = await stack()
    ada = s.notion.add_user("Ada Lovelace", "ada@example.com")
    grace = s.notion.add_user("Grace Hopper", "grace@example.com")
    ada_in_sentry = s.sentry.add_member("ada@example.com", "Ada")
    s.sentry.add_member("invited@example.com", pending=True)
    people = "/api/0/organizations/acme/members/"

    s.notion.edit(s.page_id, {"Assignee": {"people": [{"id": grace}]}})
    await s.changed()  # no Sentry member with Grace's email: nothing written
    assert s.sentry.issue(ISSUE)["assignedTo"] is None
    s.notion.edit(s.page_id, {"Assignee": {"people": [{"id": ada}]}})
    await s.changed()
    assert s.sentry.issue(ISSUE)["assignedTo"]["id"] == ada_in_sentry
    s.notion.edit(s.page_id, {"Assignee": {"people": []}})
    await s.changed()

    assert s.sentry.issue(ISSUE)["assignedTo"] is None
    assert [r.json for r in s.sentry.calls("PUT")] == [{"assignedTo": f"user:{ada_in_sentry}"}, {"assignedTo": ""}]
    assert len(s.sentry.calls("GET", people)) == 1  # the members are kept


async def test_trash_and_restore_tell_sentry_once_each(stack: Env) -> None:
    s = await stack()

    s.notion.edit(s.page_id, in_trash=True)
    await s.changed("page.deleted")
    await s.changed("page.deleted")
    s.notion.edit(s.page_id, in_trash=False)
    await s.changed("page.undeleted")

    gone, back = s.sentry.notes(ISSUE)
    assert gone.startswith("The linked Notion entry BUG-1 was moved to trash in Notion;")
    assert back == "The linked Notion entry BUG-1 is back from the trash and kept in step again."


@pytest.mark.parametrize(
    ("winner", "sentry_later", "end"),
    [
        ("latest", False, ("In progress", "unresolved")),
        ("latest", True, ("Done", "resolved")),
        ("notion", True, ("In progress", "unresolved")),
        ("sentry", False, ("Done", "resolved")),
    ],
)
@pytest.mark.parametrize("notion_first", [True, False], ids=["notion-event-first", "sentry-event-first"])
async def test_both_sides_changed_at_once(
    stack: Env, winner: str, sentry_later: bool, end: tuple[str, str], notion_first: bool
) -> None:
    s = await stack({"status_winner": winner})
    notion_at, sentry_at = (T0 + timedelta(seconds=5), T0 + timedelta(seconds=9))
    if not sentry_later:
        notion_at, sentry_at = sentry_at, notion_at
    s.notion.clock, s.sentry.clock = (lambda: notion_at), (lambda: sentry_at)
    s.notion.edit(s.page_id, {"Status": {"status": {"name": "In progress"}}})
    s.sentry.set_status(ISSUE, "resolved")  # someone resolves it in Sentry's UI meanwhile
    sentry_event = Job(kind="sentry.issue", key="resolved", action="resolved", body={
        "action": "resolved", "installation": {"uuid": s.sentry.installation},
        "data": {"issue": {"id": str(ISSUE)}},
    }, received_at=0)  # fmt: skip

    for step in ("notion", "sentry") if notion_first else ("sentry", "notion"):
        if step == "notion":
            await s.changed(updated_properties=[s.status_id])
        else:
            await s.run(sentry_event)

    assert (s.notion_status(), s.sentry.issue(ISSUE)["status"]) == end


async def test_a_schema_event_rereads_the_status_groups(stack: Env) -> None:
    s = await stack()
    sources = r"/v1/data_sources/[^/]+"
    before = len(s.notion.calls("GET", sources))
    body = page_event("data_source.schema_updated", s.page_id, at=T0.timestamp())
    body["entity"] = {"id": "153104cd-477e-80eb-ae76-e1c2a32c7b35", "type": "data_source"}
    made = job(parse(body), body, received_at=0)
    assert made is not None

    await s.run(made)
    await s.set_status("Done")

    assert len(s.notion.calls("GET", sources)) == before + 1
