# Two Notion databases routed by Sentry project: the service against the fake Notion server holding both, from
# Sentry-signed requests and webhooks (and Notion-shaped events run as the worker runs them) to the pages each
# database ends with. No Redis: webhooks are applied at once.
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from cli import check
from container import Container, resolve
from domain.models import Job
from domain.notion_events import job, parse
from domain.sentry_events import trigger
from tests.support.fake_notion import FakeNotion
from tests.support.fake_sentry import FakeSentry
from tests.support.notion_webhooks import comment_job, page_event
from tests.support.sentry import (
    INSTALLATION,
    event_alert,
    group,
    hook_headers,
    issue_link_body,
    select_url,
    ui_headers,
    webhook,
)
from tests.support.stack import Client, StartApp, settings

CREATE, LINK = "/sentry/issue-link/create", "/sentry/issue-link/link"


@dataclass(frozen=True)
class World:
    notion: FakeNotion
    payments: tuple[str, str]  # database id, data source id
    bugs: tuple[str, str]
    env: dict[str, str]

    def pages(self, database: tuple[str, str]) -> list[dict[str, Any]]:
        return self.notion.pages(database[1])


@pytest.fixture
async def world(aiohttp_server: AiohttpServer) -> World:
    notion = FakeNotion(seed=12)
    payments = notion.add_database(
        "Payments tracker",
        properties={
            "Name": {"title": {}},
            "ID": {"unique_id": {"prefix": "PAY"}},
            "Owner": {"people": {}},
            "Sentry": {"url": {}},
            "Stage": {"status": {}},
        },
    )
    bugs = notion.add_database("Bugs")
    server = await aiohttp_server(notion.app())
    config = {
        "databases": [
            {
                "name": "Payments",
                "database_id": payments[0],
                "projects": ["payments", "billing"],
                "column_names": {"assignee": "Owner", "sentry_url": "Sentry", "status": "Stage"},
            },
            {"name": "Bugs", "database_id": bugs[0], "column_names": {"status": "Status"}},
        ],
        "default": "Bugs",
    }
    env = {
        "NOTION_API_BASE_URL": str(server.make_url("")).rstrip("/"),
        "NOTION_TOKEN": notion.token,
        "NOTION_CONFIG": json.dumps(config),
        "NOTION_RATE_LIMIT": "100000",
    }
    return World(notion, payments, bugs, env)


@pytest.fixture
async def client(start_app: StartApp, world: World) -> Client:
    return await start_app(redis_url="", **world.env)


async def post(client: Client, uri: str, fields: dict[str, Any], project: str, issue_id: int = 4242) -> Any:
    body = issue_link_body(fields, issue_id=issue_id, project=project)
    resp = await client.post(uri, data=body, headers=ui_headers(body))
    assert resp.status in (200, 201), await resp.text()
    return await resp.json()


async def options(client: Client, uri: str, query: str, project: str) -> Any:
    resp = await client.get(select_url(uri, query, project_slug=project), headers=ui_headers(b""))
    assert resp.status == 200
    return await resp.json()


async def test_an_entry_is_created_in_its_projects_database_and_sentry_names_that_database(
    client: Client, world: World
) -> None:
    payments = await post(client, CREATE, {"title": "Card declined"}, "billing")
    other = await post(client, CREATE, {"title": "Login fails"}, "web", issue_id=4243)

    assert (payments["project"], payments["identifier"]) == ("Payments", "PAY-1")
    assert (other["project"], other["identifier"]) == ("Bugs", "BUG-1")
    (page,) = world.pages(world.payments)
    assert page["properties"]["Sentry"]["url"] == "https://acme.sentry.io/issues/4242/"
    assert [p["properties"]["Sentry Link"]["url"] for p in world.pages(world.bugs)] == [
        "https://acme.sentry.io/issues/4243/"
    ]


async def test_the_form_can_choose_another_database_and_lists_the_projects_first(client: Client, world: World) -> None:
    listed = await options(client, "/sentry/options/databases", "", "payments")
    created = await post(client, CREATE, {"title": "Card declined", "database": world.bugs[0]}, "payments")
    unknown = issue_link_body({"title": "x", "database": "Marketing"}, issue_id=4243, project="payments")
    refused = await client.post(CREATE, data=unknown, headers=ui_headers(unknown))

    assert listed == [
        {"label": "Payments", "value": world.payments[0], "default": True},
        {"label": "Bugs", "value": world.bugs[0]},
    ]
    assert (created["project"], created["identifier"]) == ("Bugs", "BUG-1")
    assert world.pages(world.payments) == []
    assert refused.status == 400
    assert "'Marketing' is not one this integration is configured for" in (await refused.json())["message"]


async def test_an_issue_linked_in_one_database_gets_no_second_entry_in_another(client: Client, world: World) -> None:
    first = await post(client, CREATE, {"title": "Card declined"}, "payments")
    again = await post(client, CREATE, {"title": "Card declined", "database": "Bugs"}, "payments")

    assert first == again == {"webUrl": first["webUrl"], "project": "Payments", "identifier": "PAY-1"}
    assert world.pages(world.bugs) == []
    assert len(world.pages(world.payments)) == 1


async def test_search_shows_the_projects_database_first_then_the_others_labelled(client: Client, world: World) -> None:
    bug = world.notion.add_page(world.bugs[1], "Checkout slow")
    pay = world.notion.add_page(world.payments[1], "Checkout declines cards")

    found = await options(client, "/sentry/options/issues", "checkout", "payments")

    assert found == [
        {"label": "PAY-1 · Checkout declines cards", "value": pay["id"]},
        {"label": "Bugs: BUG-1 · Checkout slow", "value": bug["id"]},
    ]


async def test_a_link_to_an_entry_of_another_database_links_it(client: Client, world: World) -> None:
    bug = world.notion.add_page(world.bugs[1], "Checkout slow")

    linked = await post(client, LINK, {"issue": bug["url"]}, "payments")

    assert (linked["project"], linked["identifier"]) == ("Bugs", "BUG-1")
    assert world.notion.page(bug["id"])["properties"]["Sentry Link"]["url"] == "https://acme.sentry.io/issues/4242/"


async def test_a_sentry_webhook_reaches_the_entry_whichever_database_holds_it(client: Client, world: World) -> None:
    await post(client, CREATE, {"title": "Card declined"}, "payments")
    body = webhook("resolved", {"issue": group(4242, status="resolved")})

    resp = await client.post("/sentry/webhook", data=body, headers=hook_headers(body, "issue", int(time.time())))

    assert (await resp.json())["outcome"] == "applied"
    (page,) = world.pages(world.payments)
    assert page["properties"]["Stage"]["status"]["name"] == "Done"


@pytest.fixture
async def worker(aiohttp_server: AiohttpServer, world: World) -> AsyncIterator[tuple[Container, FakeSentry]]:
    sentry = FakeSentry(scopes=("event:read", "event:write", "member:read"))
    sentry.add_issue(4242, status="unresolved", substatus="ongoing")
    server = await aiohttp_server(sentry.app())
    api = {"SENTRY_API_TOKEN": sentry.token, "SENTRY_ORG": sentry.organization}
    container = Container(settings=settings(**world.env, **api, SENTRY_URL=str(server.make_url("")).rstrip("/")))
    yield container, sentry
    await resolve(container.shutdown_resources())


async def test_a_notion_event_of_the_second_database_reaches_sentry_and_unconfigured_ones_are_skipped(
    world: World, worker: tuple[Container, FakeSentry]
) -> None:
    container, sentry = worker
    page = world.notion.add_page(
        world.payments[1], "Card declined", properties={"Sentry": {"url": "https://acme.sentry.io/issues/4242/"}}
    )
    run = await resolve(container.run_job())
    # The refresh that linking queues, found in the database that holds the entry: both sides start in step.
    refresh = trigger(INSTALLATION, "4242", "refresh", received_at=0)
    assert (await run(refresh)).entry == page["id"]
    ada = world.notion.add_user("Ada Lovelace", "ada@example.com")
    world.notion.person_updates_properties(str(page["id"]), {"Stage": {"status": {"name": "Done"}}}, by=ada)

    def changed(data_source_id: str) -> Job:
        body = page_event(
            "page.properties_updated",
            str(page["id"]),
            at=time.time(),
            data_source_id=data_source_id,
            updated_properties=[str(page["properties"]["Stage"]["id"])],
        )
        made = job(parse(body), body, received_at=0)
        assert made is not None
        return made

    elsewhere = await run(changed("98024f3c-b1d3-4aec-a301-f01e0dacf023"))
    applied = await run(changed(world.payments[1]))

    assert (elsewhere.outcome, elsewhere.reason) == ("skipped", "a data source none of the configured databases has")
    assert applied.changes == ("Sentry status → resolved",)
    assert sentry.issue(4242)["status"] == "resolved"


async def test_a_notion_comment_on_the_second_databases_entry_reaches_its_issue(
    world: World, worker: tuple[Container, FakeSentry]
) -> None:
    container, sentry = worker
    page = world.notion.add_page(
        world.payments[1], "Card declined", properties={"Sentry": {"url": "https://acme.sentry.io/issues/4242/"}}
    )
    ada = world.notion.add_user("Ada Lovelace", "ada@example.com")
    comment = world.notion.person_comments(str(page["id"]), "Declines come from one bank", by=ada)
    run = await resolve(container.run_job())

    # A comment event names its page only: Bugs, the default, is asked first and has no such entry.
    done = await run(comment_job("comment.created", str(comment["id"]), str(page["id"]), author_id=ada))

    assert done.outcome == "applied"
    assert sentry.notes(4242) == ["Ada Lovelace in Notion: Declines come from one bank"]


@pytest.mark.usefixtures("restore_logging")
async def test_check_reports_each_database(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SENTRY_NOTION_INTEGRATION_CLIENT_SECRET", "s3cr3t")
    monkeypatch.delenv("REDIS_URL", raising=False)
    world.notion.share(world.payments[0], shared=False)

    assert await check() == 1

    out = capsys.readouterr().out
    assert "✗ Payments · Notion database:" in out
    assert "✓ Bugs · Notion database: 'Bugs' is shared with the integration" in out
    assert "✓ Bugs · Column 'ID': unique_id, prefix 'BUG'" in out
    assert "✓ Payments · Status sync Sentry → Notion: on (column 'Stage')" in out
    assert "✓ Bugs · Status sync Sentry → Notion: on (column 'Status')" in out


async def test_an_alert_naming_another_database_refreshes_the_issues_entry_instead_of_adding_one(
    client: Client, world: World
) -> None:
    await post(client, CREATE, {"title": "Card declined"}, "payments")
    body = event_alert(4242, [{"name": "database", "value": world.bugs[0], "label": "Bugs"}])

    resp = await client.post("/sentry/webhook", data=body, headers=hook_headers(body, "event_alert", int(time.time())))

    answer = await resp.json()
    assert (answer["outcome"], answer["reason"]) == ("unchanged", "the issue already has its entry")
    assert answer["entry"] == world.pages(world.payments)[0]["id"]
    assert world.pages(world.bugs) == []


async def test_an_alert_over_its_cap_still_refreshes_the_issues_entry_in_another_database(
    start_app: StartApp, world: World
) -> None:
    client = await start_app(redis_url="", ALERT_CREATE_LIMIT="1", **world.env)
    await post(client, CREATE, {"title": "Card declined"}, "payments")
    bugs = [{"name": "database", "value": world.bugs[0], "label": "Bugs"}]
    for issue_id in (4243, 4242):  # the first takes the rule's one entry this hour
        body = event_alert(issue_id, bugs)
        resp = await client.post(
            "/sentry/webhook", data=body, headers=hook_headers(body, "event_alert", int(time.time()))
        )
        answer = await resp.json()

    assert (answer["outcome"], answer["reason"]) == ("unchanged", "the issue already has its entry")
    assert answer["entry"] == world.pages(world.payments)[0]["id"]
    assert len(world.pages(world.bugs)) == 1
