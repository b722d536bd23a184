# ruff: noqa: F811  (pytest fixtures imported from test_outage are parameters here)
"""Faults around alert rules (issue 11): the signed rule save and the event_alert / metric_alert webhooks against
the fake Notion server and a real Redis, while Notion refuses, Redis is gone, or Sentry's alerts come out of order.
"""

import asyncio
import time
from typing import Any

import pytest

from entrypoints.http import routes
from tests.e2e.test_alerts import RULE_ACTION, WEBHOOK, database, entries, metric_alert, rule_save
from tests.faults.test_outage import OUTAGE_S, CompressedClock, Worker, worker  # noqa: F401
from tests.support.real_redis import REDIS_DOWN
from tests.support.sentry import event_alert, hook_headers, ui_headers
from tests.support.stack import Client, Notion, StartApp

ISSUE = 4242
WAIT_S = 20.0


def alerted_url(issue: int) -> str:
    # The entry's Sentry link: the issue of the event the rule fired on (its web_url, without the event).
    return f"https://sentry.io/organizations/acme/issues/{issue}/"


def links(notion: Notion) -> list[str | None]:
    return [p["properties"]["Sentry Link"]["url"] for p in entries(notion)]


async def post(client: Client, resource: str, body: bytes) -> tuple[int, Any]:
    resp = await client.post(WEBHOOK, data=body, headers=hook_headers(body, resource, int(time.time())))
    return resp.status, await resp.json()


async def applied(worker: Worker, count: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while len(worker.applied) < count:
        assert time.monotonic() < deadline, f"{len(worker.applied)} of {count} jobs applied"
        await asyncio.sleep(0.02)


class Clock(CompressedClock):
    """test_outage's compressed clock; Notion heals after `heal_after` pauses too, when a test sets it."""

    heal_after: int | None = None

    async def wait(self, stop: asyncio.Event, seconds: float) -> None:
        await super().wait(stop, seconds)
        if self.heal_after is not None and len(self.waits) >= self.heal_after:
            self._notion.heal()


@pytest.fixture
def clock(notion: Notion) -> Clock:
    return Clock(notion.fake)


@pytest.fixture
async def client(start_app: StartApp, notion: Notion) -> Client:
    return await start_app()


# ---------------------------------------------------------------------------------------------------------------
# Notion refusing while an alert's job runs


MAX_ATTEMPTS = 5  # the queue's default, which the worker of test_outage keeps


async def test_an_event_alert_during_a_long_429_storm_waits_retry_after_and_creates_one_entry(
    client: Client, notion: Notion, worker: Worker, clock: Clock
) -> None:
    # Ten minutes of 429 with Retry-After: 30 on every call, on the compressed clock.
    notion.fake.fail_next("*", ".*", 429, times=1_000_000, retry_after=30)

    assert await post(client, "event_alert", event_alert(ISSUE, database(notion))) == (
        202,
        {"received": True, "outcome": "queued"},
    )
    await applied(worker, 1)

    assert clock.now >= OUTAGE_S
    assert set(clock.waits) == {30.0}  # as long as Notion asked, every time
    assert await worker.queue.dead_letters() == []
    assert links(notion) == [alerted_url(ISSUE)]
    assert len(notion.fake.calls("POST", "/v1/pages")) == 1


async def test_an_event_alert_during_notion_503s_waits_without_spending_attempts_and_creates_one_entry(
    client: Client, notion: Notion, worker: Worker, clock: Clock
) -> None:
    # Notion answers 503 to everything until the job has been stopped by it more often than it has attempts.
    clock.heal_after = MAX_ATTEMPTS + 2
    notion.fake.fail_next("*", ".*", 503, times=1_000_000)

    assert (await post(client, "event_alert", event_alert(ISSUE, database(notion))))[0] == 202
    await applied(worker, 1)

    assert len(clock.waits) == MAX_ATTEMPTS + 2  # paused more often than it may fail
    assert await worker.queue.dead_letters() == []
    assert links(notion) == [alerted_url(ISSUE)]
    # Never a create sent blind: the lookup before it was refused, so the one POST is the one that created it.
    assert len(notion.fake.calls("POST", "/v1/pages")) == 1


# ---------------------------------------------------------------------------------------------------------------
# Redis gone: alerts are applied by the process that receives them


async def test_a_burst_of_event_alerts_for_one_issue_with_redis_down_makes_one_entry_in_one_process(
    start_app: StartApp, notion: Notion
) -> None:
    client = await start_app(redis_url=REDIS_DOWN)

    got = await asyncio.gather(*(post(client, "event_alert", event_alert(ISSUE, database(notion))) for _ in range(8)))

    # Each is applied at once, within Sentry's second, under the process's own lock: one creates, the rest find it.
    assert {status for status, _ in got} == {200}
    outcomes = sorted(body["outcome"] for _, body in got)
    assert outcomes == ["applied"] + ["unchanged"] * 7, outcomes
    assert links(notion) == [alerted_url(ISSUE)]
    assert len(notion.fake.calls("POST", "/v1/pages")) == 1


# ---------------------------------------------------------------------------------------------------------------
# Saving the rule while Notion is down


@pytest.mark.parametrize(
    ("status", "retry_after", "budget_s", "says"),
    [
        (503, None, routes.ISSUE_LINK_BUDGET_S, "Notion is unavailable (HTTP 503); try again shortly."),
        (429, 3, 1.0, "try again in 3 seconds."),
    ],
    ids=["503", "429-longer-than-the-budget"],
)
async def test_saving_a_rule_while_notion_is_down_is_refused_with_a_message_sentry_shows(
    client: Client,
    notion: Notion,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    retry_after: int | None,
    budget_s: float,
    says: str,
) -> None:
    # Sentry keeps the rule unsaved on any answer from 400 and shows the JSON message to whoever is saving it. A
    # Retry-After longer than the request may last is said at once, not waited on until the budget runs out.
    monkeypatch.setattr(routes, "ISSUE_LINK_BUDGET_S", budget_s)
    notion.fake.fail_next("*", ".*", status, times=1_000_000, retry_after=retry_after)
    body = rule_save(database(notion))

    resp = await client.post(RULE_ACTION, data=body, headers=ui_headers(body))

    assert resp.status == 503
    assert resp.content_type == "application/json"
    assert (await resp.json())["message"].endswith(says)
    assert resp.headers.get("Retry-After") == (None if retry_after is None else str(retry_after))
    assert notion.fake.calls("POST", "/v1/pages") == []

    monkeypatch.setattr(routes, "ISSUE_LINK_BUDGET_S", 25.0)
    notion.fake.heal()
    resp = await client.post(RULE_ACTION, data=body, headers=ui_headers(body))
    assert (resp.status, await resp.json()) == (200, {"message": "Notion entries will be created in Bugs."})


# ---------------------------------------------------------------------------------------------------------------
# Metric alerts out of order


async def test_a_critical_that_arrives_after_its_incident_was_resolved_makes_its_entry_complete(
    client: Client, notion: Notion, worker: Worker
) -> None:
    settings = database(notion)

    assert (await post(client, "metric_alert", metric_alert("resolved", settings=settings)))[0] == 202
    await applied(worker, 1)
    assert entries(notion) == []  # nothing to complete yet: skipped, not failed
    assert (await post(client, "metric_alert", metric_alert("critical", settings=settings)))[0] == 202
    await applied(worker, 2)

    # Sentry never reopens an incident (a new breach is a new incident): the late critical records it, closed.
    (entry,) = entries(notion)
    assert entry["properties"]["Status"]["status"]["name"] == "Done"
    assert (await post(client, "metric_alert", metric_alert("warning", settings=settings)))[0] == 202
    await applied(worker, 3)
    (entry,) = entries(notion)
    assert entry["properties"]["Status"]["status"]["name"] == "Done"
    assert (await post(client, "metric_alert", metric_alert("critical", incident_id=32, settings=settings)))[0] == 202
    await applied(worker, 4)
    assert sorted(p["properties"]["Status"]["status"]["name"] for p in entries(notion)) == ["Done", "Not started"]
    assert await worker.queue.dead_letters() == []
