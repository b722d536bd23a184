# ruff: noqa: F811  (pytest fixtures imported from test_webhooks are parameters here)
# Alert rules that create Notion entries: from the signed rule save and the signed event_alert / metric_alert
# webhooks, as Sentry sends them, to the fake Notion's entries and the fake Sentry's external issues; the queue on
# the real Redis, workers beside it as `sentry-notion worker` runs them.

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from container import Container, open_store, resolve
from domain.models import Job
from domain.sentry_events import delivery
from entrypoints.cli.alerts import held_alerts
from tests.e2e.test_webhooks import (  # noqa: F401
    WAIT_S,
    StartWorker,
    env,
    notion,
    start_worker,
    status_of,
)
from tests.support.fake_sentry import FakeSentry
from tests.support.sentry import INSTALLATION, dumps, event_alert, hook_headers, issue_link_body, ui_headers
from tests.support.stack import Client, Notion, StartApp, settings

RULE_ACTION, WEBHOOK = "/sentry/alert-rule-action", "/sentry/webhook"


@dataclass(frozen=True)
class Sentry:
    fake: FakeSentry
    env: dict[str, str]  # the service's settings, with Sentry's API


@pytest.fixture
async def sentry(aiohttp_server: AiohttpServer, env: dict[str, str]) -> Sentry:
    fake = FakeSentry()
    for issue_id in (4242, 4243, 4244):
        fake.add_issue(issue_id, title="ReferenceError: heck is not defined", count=3)
    server = await aiohttp_server(fake.app())
    url = str(server.make_url("")).rstrip("/")
    return Sentry(fake, env | {"SENTRY_API_TOKEN": fake.token, "SENTRY_ORG": fake.organization, "SENTRY_URL": url})


def rule_save(fields: list[dict[str, Any]]) -> bytes:
    # SentryAppAlertRuleActionRequester.body: the fields as a list, then the installation.
    return dumps({"fields": fields, "installationId": INSTALLATION})


def metric_alert(action: str, incident_id: int = 31, settings: list[dict[str, Any]] | None = None) -> bytes:
    # The metric alert handler: the incident serialized snake_case, settings in its triggers' actions.
    action_settings = {"type": "sentry_app", "sentry_app_installation_uuid": INSTALLATION, "settings": settings or []}
    incident = {
        "id": str(incident_id),
        "identifier": str(incident_id - 24),  # the organization's own incident number, in the alert's link
        "title": "High error rate",
        "status": 20 if action != "resolved" else 2,
        "alert_rule": {
            "id": "5",
            "name": "Checkout errors",
            "triggers": [
                {"id": "1", "label": "critical", "actions": [action_settings]},
                {"id": "2", "label": "warning", "actions": [action_settings]},
            ],
        },
    }
    return dumps(
        {
            "action": action,
            "installation": {"uuid": INSTALLATION},
            "data": {
                "metric_alert": incident,
                "description_text": "1000 events in the last 10 minutes",
                "description_title": f"{'Resolved' if action == 'resolved' else 'Critical'}: Checkout errors",
                "web_url": f"https://sentry.io/organizations/acme/alerts/rules/details/5/?alert={incident['identifier']}",
            },
            "actor": {"type": "application", "id": "sentry", "name": "Sentry"},
        }
    )


async def deliver(client: Client, resource: str, body: bytes) -> str:
    resp = await client.post(WEBHOOK, data=body, headers=hook_headers(body, resource, int(time.time())))
    assert resp.status in (200, 202), await resp.text()
    return str((await resp.json())["outcome"])


def entries(notion: Notion) -> list[dict[str, Any]]:
    return notion.fake.pages(notion.data_source_id)


def database(notion: Notion) -> list[dict[str, str]]:
    return [{"name": "database", "value": notion.database_id, "label": "Bugs"}]


# ----- saving the rule -----


async def test_saving_a_rule_with_the_configured_database_is_accepted(
    start_app: StartApp, env: dict[str, str], notion: Notion
) -> None:
    client = await start_app(**env)
    person = notion.fake.add_user("Ada Lovelace", "ada@example.com")
    body = rule_save(
        [*database(notion), {"name": "assignee", "value": person, "label": "Ada"}, {"name": "x", "value": 1}]
    )

    resp = await client.post(RULE_ACTION, data=body, headers=ui_headers(body))

    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"message": "Notion entries will be created in Bugs."}


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ([{"name": "database", "value": "0" * 32}], "is not one this integration is configured for"),
        ([], "Choose the Notion database"),
        ([{"name": "assignee", "value": "3c1b2a90-0000-4000-8000-000000000000"}], "is not a person of the 'Bugs'"),
    ],
)
async def test_a_bad_setting_is_refused_naming_it(
    start_app: StartApp,
    env: dict[str, str],
    notion: Notion,
    fields: list[dict[str, Any]],
    says: str,
) -> None:
    client = await start_app(**env)
    if fields and fields[0]["name"] == "assignee":
        fields = database(notion) + fields
    body = rule_save(fields)

    resp = await client.post(RULE_ACTION, data=body, headers=ui_headers(body))

    assert resp.status == 400
    assert says in (await resp.json())["message"]


async def test_a_database_unshared_since_is_refused_when_the_rule_is_saved(
    start_app: StartApp,
    env: dict[str, str],
    notion: Notion,
) -> None:
    client = await start_app(**env)
    notion.fake.share(notion.database_id, False)
    body = rule_save(database(notion))

    resp = await client.post(RULE_ACTION, data=body, headers=ui_headers(body))

    assert resp.status == 400
    assert "Share the database with the integration" in (await resp.json())["message"]


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b'{"fields": {"database": "x"}, "installationId": "i"}', b'{"fields": [{"value": 1}]}', b"{"],
)
async def test_a_malformed_rule_save_is_a_400(start_app: StartApp, env: dict[str, str], body: bytes) -> None:
    client = await start_app(**env)
    resp = await client.post(RULE_ACTION, data=body, headers=ui_headers(body))
    assert resp.status == 400
    assert (await resp.json())["message"]


async def test_an_unsigned_rule_save_is_refused(start_app: StartApp, env: dict[str, str], notion: Notion) -> None:
    client = await start_app(**env)
    body = rule_save(database(notion))
    resp = await client.post(RULE_ACTION, data=body, headers=ui_headers(body, "another-secret"))
    assert resp.status == 401


async def test_the_database_select_offers_the_configured_database(
    start_app: StartApp, env: dict[str, str], notion: Notion
) -> None:
    client = await start_app(**env)
    resp = await client.get(f"/sentry/options/databases?installationId={INSTALLATION}", headers=ui_headers(b""))
    assert await resp.json() == [{"label": "Bugs", "value": notion.database_id}]


# ----- the rule fires -----


async def test_an_alert_creates_one_entry_shown_in_sentrys_sidebar(
    start_app: StartApp,
    sentry: Sentry,
    notion: Notion,
    start_worker: StartWorker,
) -> None:
    client = await start_app(**sentry.env)
    worker = await start_worker(sentry.env)

    assert await deliver(client, "event_alert", event_alert(4242, database(notion))) == "queued"
    await worker.wait(1)

    (entry,) = entries(notion)
    properties = entry["properties"]
    assert properties["Sentry Link"]["url"] == "https://sentry.io/organizations/acme/issues/4242/"
    text = notion.fake.page_text(entry["id"])
    assert "by the alert rule “Notify Notion”" in text
    assert "at render (app/checkout.js:12)" in text
    external = sentry.fake.external_issue(4242)
    assert external is not None
    assert external["displayName"] == "Bugs#BUG-1"
    assert external["webUrl"] == entry["url"]


async def test_repeated_alerts_for_one_issue_make_one_entry_and_refresh_it(
    start_app: StartApp,
    sentry: Sentry,
    notion: Notion,
    start_worker: StartWorker,
) -> None:
    client = await start_app(**sentry.env)
    settings_ = [*database(notion), {"name": "comment_on_repeat", "value": "yes"}]
    assert await deliver(client, "event_alert", event_alert(4242, settings_)) == "queued"
    await start_worker(sentry.env)
    await eventually(lambda: len(entries(notion)) == 1)
    sentry.fake.add_issue(4242, title="ReferenceError: heck is not defined", count=99)

    for _ in range(3):
        assert await deliver(client, "event_alert", event_alert(4242, settings_)) in ("queued", "duplicate")
    await eventually(lambda: any("fired again" in str(c) for c in notion.fake.comments))

    (entry,) = entries(notion)
    await eventually(lambda: notion.fake.page(entry["id"])["properties"]["Events"]["number"] == 99)
    assert len([c for c in notion.fake.comments if "fired again" in str(c)]) == 1  # one an hour at most
    assert len(notion.fake.calls("POST", "/v1/pages")) == 1


async def test_concurrent_alerts_on_two_replicas_make_one_entry(
    sentry: Sentry,
    notion: Notion,
    start_app: StartApp,
) -> None:
    replicas = [Container(settings=settings(**sentry.env)) for _ in range(2)]
    try:
        runs = [await resolve(c.run_job()) for c in replicas]
        jobs = [_job(event_alert(4242, database(notion))) for _ in range(6)]
        done = await asyncio.gather(*(runs[i % 2](job) for i, job in enumerate(jobs)))
    finally:
        for c in replicas:
            await resolve(c.shutdown_resources())

    assert len(entries(notion)) == 1
    assert sorted(d.outcome for d in done).count("applied") >= 1
    assert len(notion.fake.calls("POST", "/v1/pages")) == 1


async def test_an_incident_resolved_while_its_entry_is_being_created_ends_complete(
    sentry: Sentry,
    notion: Notion,
    start_app: StartApp,
) -> None:
    # Two replicas: the resolved runs whole while the critical waits on its search for an entry, so neither sees
    # the other's entry before the critical creates it.
    query = ".*/query"
    notion.fake.fail_next("POST", query, 200, delay=0.5)
    replicas = [Container(settings=settings(**sentry.env)) for _ in range(2)]
    try:
        critical, resolved = [await resolve(c.run_job()) for c in replicas]
        creating = asyncio.create_task(
            critical(_job(metric_alert("critical", settings=database(notion)), "metric_alert"))
        )
        await eventually(lambda: len(notion.fake.calls("POST", query)) == 1)
        done = await resolved(_job(metric_alert("resolved", settings=database(notion)), "metric_alert"))
        created = await creating
    finally:
        for c in replicas:
            await resolve(c.shutdown_resources())

    (entry,) = entries(notion)
    assert status_of(notion.fake, entry["id"]) == "Done"
    assert (created.entry, created.changes[-1]) == (entry["id"], "status → Done")
    assert (done.outcome, done.reason) == ("skipped", "no entry was created for this incident")


async def test_an_issue_linked_from_the_form_gets_no_second_entry(
    start_app: StartApp,
    sentry: Sentry,
    notion: Notion,
    start_worker: StartWorker,
) -> None:
    client = await start_app(**sentry.env)
    body = issue_link_body({"title": "Checkout is broken"}, web_url="https://acme.sentry.io/issues/4242/")
    assert (await client.post("/sentry/issue-link/create", data=body, headers=ui_headers(body))).status == 201
    worker = await start_worker(sentry.env)
    await worker.wait(1)  # the refresh the create queued

    assert await deliver(client, "event_alert", event_alert(4242, database(notion))) == "queued"
    await worker.wait(2)

    (entry,) = entries(notion)
    assert entry["properties"]["Sentry Link"]["url"] == "https://acme.sentry.io/issues/4242/"
    assert worker.handled[-1].kind == "sentry.event_alert"


async def test_alerts_over_the_hourly_cap_are_held_and_listed(
    start_app: StartApp,
    sentry: Sentry,
    notion: Notion,
    start_worker: StartWorker,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capped = sentry.env | {"ALERT_CREATE_LIMIT": "1"}
    client = await start_app(**capped)
    worker = await start_worker(capped)

    for issue_id in (4242, 4243, 4244):
        assert await deliver(client, "event_alert", event_alert(issue_id, database(notion))) == "queued"
    await worker.wait(3)

    assert len(entries(notion)) == 1
    container = Container(settings=settings(**capped))
    async with open_store(container) as store:
        assert await held_alerts(store.alerts) == 0
    out = capsys.readouterr().out
    assert "4243  rule 42 “Notify Notion”" in out
    assert "4244  rule 42" in out
    assert "2 alert(s) held" in out


async def test_an_alert_for_an_issue_whose_entry_was_trashed_creates_a_new_one(
    start_app: StartApp,
    sentry: Sentry,
    notion: Notion,
    start_worker: StartWorker,
) -> None:
    client = await start_app(**sentry.env)
    worker = await start_worker(sentry.env)
    assert await deliver(client, "event_alert", event_alert(4242, database(notion))) == "queued"
    await worker.wait(1)
    (first,) = entries(notion)
    notion.fake.person_trashes_page(first["id"], by=notion.fake.add_user("Ada Lovelace"))

    assert await deliver(client, "event_alert", event_alert(4242, database(notion))) == "queued"
    await eventually(lambda: (sentry.fake.external_issue(4242) or {}).get("displayName") == "Bugs#BUG-2")

    # As the create form would: the trashed entry is no longer the issue's, the new one is, and the sidebar shows it.
    (second,) = entries(notion)
    assert second["id"] != first["id"]
    external = sentry.fake.external_issue(4242)
    assert external is not None
    assert (external["webUrl"], external["displayName"]) == (second["url"], "Bugs#BUG-2")


async def test_two_rules_firing_for_one_issue_are_two_jobs_each_under_its_own_cap(
    start_app: StartApp,
    sentry: Sentry,
    notion: Notion,
    start_worker: StartWorker,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capped = sentry.env | {"ALERT_CREATE_LIMIT": "1"}
    client = await start_app(**capped)
    other_rule = {"id": 43, "title": "Page the on-call"}
    assert await deliver(client, "event_alert", event_alert(4242, database(notion))) == "queued"
    assert await deliver(client, "event_alert", event_alert(4243, database(notion))) == "queued"
    # Queued while the first rule's job for 4243 waits: its own job, not merged into the capped one.
    assert await deliver(client, "event_alert", event_alert(4243, database(notion), rule=other_rule)) == "queued"

    worker = await start_worker(capped)
    await worker.wait(3)

    links = sorted(p["properties"]["Sentry Link"]["url"] for p in entries(notion))
    assert [link.rsplit("/", 2)[-2] for link in links] == ["4242", "4243"]
    async with open_store(Container(settings=settings(**capped))) as store:
        assert await held_alerts(store.alerts) == 0
    assert "1 alert(s) held" in capsys.readouterr().out  # rule 42's for 4243, created by rule 43


@pytest.mark.parametrize("limit", [1, 20], ids=["capped", "under-the-cap"])
async def test_an_alert_for_an_issue_linked_by_hand_in_notion_refreshes_it_and_holds_nothing(
    start_app: StartApp,
    sentry: Sentry,
    notion: Notion,
    start_worker: StartWorker,
    capsys: pytest.CaptureFixture[str],
    limit: int,
) -> None:
    # Linked in Notion by a person, so only a search finds it, and with the link the form sends, which is not
    # the alert's: the cap is no reason to skip that search, nor is the other shape of the link.
    by_hand = notion.fake.add_page(
        notion.data_source_id,
        "Linked by hand",
        properties={"Sentry Link": {"url": "https://acme.sentry.io/issues/4243/"}},
    )
    capped = sentry.env | {"ALERT_CREATE_LIMIT": str(limit)}
    client = await start_app(**capped)
    worker = await start_worker(capped)

    for issue_id in (4242, 4243):
        assert await deliver(client, "event_alert", event_alert(issue_id, database(notion))) == "queued"
    await worker.wait(2)

    assert len(entries(notion)) == 2
    assert notion.fake.page(by_hand["id"])["properties"]["Events"]["number"] == 3  # refreshed from Sentry
    async with open_store(Container(settings=settings(**capped))) as store:
        assert await held_alerts(store.alerts) == 0
    assert "0 alert(s) held" in capsys.readouterr().out


async def test_a_metric_alert_makes_one_incident_entry_completed_when_resolved(
    start_app: StartApp,
    env: dict[str, str],
    notion: Notion,
    start_worker: StartWorker,
) -> None:
    client = await start_app(**env)
    worker = await start_worker()

    assert await deliver(client, "metric_alert", metric_alert("critical", settings=database(notion))) == "queued"
    await worker.wait(1)
    assert await deliver(client, "metric_alert", metric_alert("warning", settings=database(notion))) == "queued"
    await worker.wait(2)
    (entry,) = entries(notion)
    assert status_of(notion.fake, entry["id"]) == "Not started"
    assert "1000 events in the last 10 minutes" in notion.fake.page_text(entry["id"])

    assert await deliver(client, "metric_alert", metric_alert("resolved", settings=database(notion))) == "queued"
    await worker.wait(3)

    assert status_of(notion.fake, entry["id"]) == "Done"
    assert len(entries(notion)) == 1


async def test_a_metric_alert_whose_incident_entry_was_trashed_creates_a_new_one(
    start_app: StartApp,
    env: dict[str, str],
    notion: Notion,
    start_worker: StartWorker,
) -> None:
    client = await start_app(**env)
    worker = await start_worker()
    assert await deliver(client, "metric_alert", metric_alert("critical", settings=database(notion))) == "queued"
    await worker.wait(1)
    (first,) = entries(notion)
    notion.fake.person_trashes_page(first["id"], by=notion.fake.add_user("Ada Lovelace"))

    assert await deliver(client, "metric_alert", metric_alert("warning", settings=database(notion))) == "queued"
    await worker.wait(2)

    (second,) = entries(notion)
    assert second["id"] != first["id"]


async def test_an_alert_for_an_unshared_database_fails_into_the_dead_letters(
    start_app: StartApp,
    env: dict[str, str],
    notion: Notion,
    start_worker: StartWorker,
) -> None:
    client = await start_app(**env)
    notion.fake.share(notion.database_id, False)
    worker = await start_worker(max_attempts=1)

    assert await deliver(client, "event_alert", event_alert(4242, database(notion))) == "queued"
    await worker.wait(1)

    (letter,) = await worker.queue.dead_letters()
    assert letter.job.kind == "sentry.event_alert"
    assert "Share the database with the integration" in letter.error
    assert entries(notion) == []


async def eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the workers did not get there"
        await asyncio.sleep(0.02)


def _job(body: bytes, resource: str = "event_alert") -> Job:
    return delivery(resource, str(int(time.time())), body, received_at=time.time(), triggers=True)
