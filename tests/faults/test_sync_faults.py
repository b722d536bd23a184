# ruff: noqa: F811  (pytest fixtures imported from test_two_way_sync are parameters here)
"""Faults on the Notion -> Sentry direction (issue 11): Notion's signed events, sent by the fake Notion to the
service's route, while Sentry's API fails or Redis is gone.
"""

import json
from dataclasses import dataclass

import pytest

from tests.e2e.test_two_way_sync import (  # noqa: F401
    ISSUE,
    ISSUE_PATH,
    Sync,
    notion,
    sentry,
    sync,
    sync_config,
)
from tests.support.fake_notion import NotionWebhooks
from tests.support.fake_sentry import FakeSentry
from tests.support.notion_webhooks import TOKEN
from tests.support.real_redis import REDIS_DOWN
from tests.support.sentry import description, issue_link_body, ui_headers
from tests.support.stack import Client, Notion, StartApp

MAX_ATTEMPTS = 5  # the queue's default, which the sync's workers keep


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_notion_event_while_sentry_fails_waits_without_spending_attempts_and_is_applied_once(
    sync: Sync, status: int
) -> None:
    # More failures than the job has attempts, each try included (the adapter tries an idempotent write thrice).
    refusals = 3 * (MAX_ATTEMPTS + 1)
    sync.sentry.fail_next("PUT", ISSUE_PATH, status, times=refusals)
    sync.person_sets(Status={"status": {"name": "Done"}})

    await sync.settle()  # asserts the queue drained with no dead letter

    assert sync.status() == ("Done", "resolved")
    writes = sync.sentry.calls("PUT", ISSUE_PATH)
    assert len(writes) == refusals + 1
    assert {str(w.json) for w in writes} == {str({"status": "resolved"})}  # the same write each time
    assert [j.kind for j in sync.worker.ran] == ["notion.page"]  # the job ran to its end once


@dataclass
class Unqueued:
    """The service with Redis down, an entry linked to issue 4242, and Notion's webhooks subscribed to it."""

    client: Client
    hooks: NotionWebhooks
    sentry: FakeSentry
    notion: Notion
    page_id: str
    ada: str

    def person_sets_done(self) -> None:
        self.notion.fake.person_updates_properties(self.page_id, {"Status": {"status": {"name": "Done"}}}, by=self.ada)


@pytest.fixture
async def unqueued(start_app: StartApp, notion: Notion, sentry: tuple[FakeSentry, str]) -> Unqueued:
    fake_sentry, sentry_url = sentry
    config = {"database_id": notion.database_id, "column_names": {"status": "Status"}}
    client = await start_app(
        redis_url=REDIS_DOWN,
        NOTION_CONFIG=json.dumps(config),
        NOTION_RATE_LIMIT="100000",
        NOTION_WEBHOOK_SECRET=TOKEN,
        SENTRY_API_TOKEN=fake_sentry.token,
        SENTRY_ORG=fake_sentry.organization,
        SENTRY_URL=sentry_url,
    )
    body = issue_link_body({"title": "Checkout is broken", "description": description("BACKEND-1A", ISSUE, "x")})
    assert (await client.post("/sentry/issue-link/create", data=body, headers=ui_headers(body))).status == 201
    (page,) = notion.fake.pages(notion.data_source_id)
    ada = notion.fake.add_user("Ada Lovelace", "ada@example.com")
    hooks = NotionWebhooks(notion.fake, str(client.make_url("/notion/webhook")), verification_token=TOKEN, seed=5)
    assert await hooks.handshake() == 200
    await hooks.deliver()  # what creating the entry caused
    fake_sentry.requests.clear()
    return Unqueued(client, hooks, fake_sentry, notion, str(page["id"]), ada)


async def test_a_notion_event_with_redis_down_is_applied_at_once(unqueued: Unqueued) -> None:
    unqueued.person_sets_done()

    (delivery,) = await unqueued.hooks.deliver()

    # Nothing to queue it on: the route applies it within Notion's wait.
    assert delivery.status == 200
    assert unqueued.sentry.issue(ISSUE)["status"] == "resolved"
    assert [r.json for r in unqueued.sentry.calls("PUT", ISSUE_PATH)] == [{"status": "resolved"}]


async def test_a_notion_event_neither_queued_nor_applied_is_refused_for_notion_to_send_again(
    unqueued: Unqueued,
) -> None:
    # Sentry answers later than the route may wait: the event can be neither queued nor applied in time.
    unqueued.sentry.fail_next("PUT", ISSUE_PATH, 503, times=2, delay=2)
    unqueued.person_sets_done()

    (refused,) = await unqueued.hooks.deliver()
    resp = await unqueued.client.post("/notion/webhook", data=refused.body, headers=refused.headers)

    assert refused.status == 503
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "60"
    assert "send it again later" in (await resp.json())["message"]
    assert unqueued.hooks.pending(), "Notion keeps the event to send it again"
    (again,) = await unqueued.hooks.deliver()  # Notion's retry, Sentry answering again
    assert again.status == 200
    assert unqueued.sentry.issue(ISSUE)["status"] == "resolved"
