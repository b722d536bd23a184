# What operators rely on: readiness and metrics, through the whole stack.
import asyncio
import re
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from adapters.metrics import ALERT_ENTRIES
from entrypoints.http.metrics import NOTION_EVENTS, WEBHOOKS
from tests.support.real_redis import REDIS_DOWN
from tests.support.sentry import description, issue_link_body, select_url, ui_headers
from tests.support.stack import Client, Notion, StartApp

WAIT_S = 10.0  # a bound on waiting, never a claim about speed
HANG_S = 60.0


async def metrics(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(await resp.text())
        for sample in family.samples
    }


async def create(client: Client, issue_id: int = 4242) -> int:
    body = issue_link_body(
        {"title": "TypeError", "description": description("B-1", issue_id, "stack")}, issue_id=issue_id
    )
    return (await client.post("/sentry/issue-link/create", data=body, headers=ui_headers(body))).status


async def readiness(client: Client) -> dict[str, Any]:
    """/readyz once every dependency has been probed; each answer along the way is 200."""
    async with asyncio.timeout(WAIT_S):
        while True:
            resp = await client.get("/readyz")
            assert resp.status == 200
            body: dict[str, Any] = await resp.json()
            assert body["ready"] is True
            if all(c["checked_at"] is not None for c in body["checks"]):
                return body
            await asyncio.sleep(0.02)


async def test_dependencies_are_probed_from_startup_before_readyz_is_asked(start_app: StartApp, notion: Notion) -> None:
    await start_app()

    async with asyncio.timeout(WAIT_S):  # nothing asks /readyz meanwhile
        while True:
            if notion.fake.calls("GET", "/v1/users/me"):
                return
            await asyncio.sleep(0.02)


async def test_ready_with_notion_up_and_redis_down_reported(start_app: StartApp) -> None:
    client = await start_app(redis_url=REDIS_DOWN)

    body = await readiness(client)

    checks = {c["check"]: c["ok"] for c in body["checks"]}
    assert checks == {"Notion token": True, "Redis": False}
    assert (await metrics(client))[("sentry_notion_queue_up", ())] == 0


async def test_ready_while_notion_answers_500_with_the_failure_in_the_body_and_metrics(
    start_app: StartApp, notion: Notion
) -> None:
    notion.fake.fail_next("GET", "/v1/users/me", 500, times=1000)
    client = await start_app()

    body = await readiness(client)

    assert {c["check"]: c["ok"] for c in body["checks"]} == {"Notion": False, "Redis": True}
    assert "500" in next(c["detail"] for c in body["checks"] if c["check"] == "Notion")
    gauges = await metrics(client)
    assert gauges[("sentry_notion_dependency_up", (("dependency", "Notion"),))] == 0
    assert gauges[("sentry_notion_dependency_up", (("dependency", "Redis"),))] == 1


async def test_ready_at_once_while_notion_hangs(start_app: StartApp, notion: Notion) -> None:
    notion.fake.fail_next("GET", "/v1/users/me", 200, delay=HANG_S, times=1000)
    client = await start_app()

    first = await asyncio.wait_for(client.get("/readyz"), WAIT_S)  # long before the hang ends
    body = await readiness(client)

    assert first.status == 200
    assert {c["check"]: c["ok"] for c in body["checks"]} == {"Notion": False, "Redis": True}
    assert {c["check"]: c["detail"] for c in body["checks"]}["Notion"] == "did not answer within 2 s"
    assert len(notion.fake.calls("GET", "/v1/users/me")) == 1  # still hanging: nothing answered it
    assert (await metrics(client))[("sentry_notion_dependency_up", (("dependency", "Notion"),))] == 0


async def test_readiness_probes_notion_at_most_every_30_seconds(start_app: StartApp, notion: Notion) -> None:
    client = await start_app()

    await readiness(client)
    for _ in range(5):
        assert (await client.get("/readyz")).status == 200

    assert len(notion.fake.calls("GET", "/v1/users/me")) == 1


async def test_every_webhook_outcome_is_counted_from_zero_so_alerts_see_the_first(start_app: StartApp) -> None:
    # The counters belong to the process, where earlier tests made series of their own: start from none.
    for counter in (WEBHOOKS, NOTION_EVENTS, ALERT_ENTRIES):
        counter.clear()
    client = await start_app()

    series = await metrics(client)

    # The alert on lost webhooks takes increase() over this series: it must exist before the first loss.
    assert series[("sentry_notion_webhooks_total", (("outcome", "lost"),))] == 0
    for outcome in ("queued", "duplicate", "ignored", "applied", "skipped", "unchanged"):
        assert ("sentry_notion_webhooks_total", (("outcome", outcome),)) in series
    for event_type, outcome in [
        ("page.properties_updated", "lost"),
        ("comment.created", "queued"),
        ("other", "ignored"),
    ]:
        assert ("sentry_notion_notion_events_total", (("outcome", outcome), ("type", event_type))) in series
    assert ("sentry_notion_notion_events_total", (("outcome", "pending"), ("type", "verification"))) in series
    for outcome in ("created", "existing", "capped"):
        assert ("sentry_notion_alert_entries_total", (("outcome", outcome),)) in series


async def test_metrics_count_requests_notion_calls_cache_and_duplicates(start_app: StartApp) -> None:
    client = await start_app()
    before = await metrics(client)

    assert await create(client) == 201
    assert await create(client) == 200  # the same Sentry issue: answered with its entry
    for _ in range(2):
        assert (await client.get(select_url("/sentry/options/assignees", "a"), headers=ui_headers(b""))).status == 200

    after = await metrics(client)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("sentry_notion_requests_total", route="/sentry/issue-link/create", status="201") == 1
    assert grew("sentry_notion_requests_total", route="/sentry/issue-link/create", status="200") == 1
    assert grew("sentry_notion_request_seconds_count", route="/sentry/options/assignees") == 2
    assert grew("sentry_notion_notion_requests_total", endpoint="pages.create", status="200") == 1
    assert grew("sentry_notion_notion_requests_total", endpoint="users.list", status="200") == 1
    assert grew("sentry_notion_cache_lookups_total", cache="assignees", result="hit") >= 1
    assert grew("sentry_notion_duplicates_prevented_total") == 1
    text = await (await client.get("/metrics")).text()
    assert not re.search(r"secret|token|signature", text, re.IGNORECASE)
    assert "_created" not in text  # no dashboard reads them; they only double the output
    (build,) = [line for line in text.splitlines() if line.startswith("sentry_notion_build_info{")]
    assert 'notion_api_version="2026-03-11"' in build
    assert build.endswith(" 1.0")
