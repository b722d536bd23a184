# What operators rely on: readiness and metrics, through the whole stack.
import re

from prometheus_client.parser import text_string_to_metric_families

from tests.sentry import description, issue_link_body, select_url, ui_headers
from tests.stack import Client, Notion, StartApp

REDIS_DOWN = "redis://127.0.0.1:1/0"


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


async def test_ready_with_notion_up_and_redis_down_reported(start_app: StartApp) -> None:
    client = await start_app(redis_url=REDIS_DOWN)

    resp = await client.get("/readyz")

    assert resp.status == 200
    body = await resp.json()
    assert body["ready"] is True
    checks = {c["check"]: c["ok"] for c in body["checks"]}
    assert checks == {"Notion token": True, "Redis": False}


async def test_not_ready_while_notion_is_down(start_app: StartApp, notion: Notion) -> None:
    client = await start_app()
    notion.fake.fail_next("GET", "/v1/users/me", 503, times=20)

    resp = await client.get("/readyz")

    assert resp.status == 503
    body = await resp.json()
    assert body["ready"] is False
    assert {c["check"]: c["ok"] for c in body["checks"]} == {"Notion": False, "Redis": True}


async def test_readiness_probes_notion_at_most_every_30_seconds(start_app: StartApp, notion: Notion) -> None:
    client = await start_app()

    for _ in range(5):
        assert (await client.get("/readyz")).status == 200

    assert len(notion.fake.calls("GET", "/v1/users/me")) == 1


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
