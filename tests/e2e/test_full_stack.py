# The whole service as deployed: real Notion adapter against the in-repo fake Notion server, real Redis.

import asyncio
import time
from typing import Any

import pytest
import structlog
from aiohttp import ClientResponse
from redis.asyncio import Redis
from structlog.testing import capture_logs

from entrypoints.http import routes
from tests.support.fake_notion import FakeNotion
from tests.support.real_redis import REDIS_DOWN, REDIS_URL
from tests.support.sentry import SECRET, description, issue_link_body, select_url, sign, ui_headers
from tests.support.stack import Client, Notion, StartApp, forget_everything

CREATE, LINK = "/sentry/issue-link/create", "/sentry/issue-link/link"
ISSUES, ASSIGNEES = "/sentry/options/issues", "/sentry/options/assignees"
SENTRY_URL = "https://acme.sentry.io/issues/4242/"
OTHER_SENTRY_URL = "https://acme.sentry.io/issues/1111/"
STACK = "TypeError: x is undefined\n  at render (src/checkout.js:12:5)\n  at commit (react-dom.js:901:3)"
QUERY = r"/v1/data_sources/[^/]+/query"


@pytest.fixture
async def client(start_app: StartApp) -> Client:
    return await start_app()


def create_body(title: str = "TypeError: x is undefined") -> bytes:
    return issue_link_body({"title": title, "description": description("BACKEND-1A", 4242, STACK)})


async def create(client: Client, title: str = "TypeError: x is undefined") -> ClientResponse:
    body = create_body(title)
    return await client.post(CREATE, data=body, headers=ui_headers(body))


async def link(client: Client, page_id: str) -> ClientResponse:
    body = issue_link_body({"issue": page_id})
    return await client.post(LINK, data=body, headers=ui_headers(body))


async def options(client: Client, uri: str, query: str) -> Any:
    resp = await client.get(select_url(uri, query), headers=ui_headers(b""))
    assert resp.status == 200
    return await resp.json()


def sentry_link(page: dict[str, Any]) -> str | None:
    url: str | None = page["properties"]["Sentry Link"]["url"]
    return url


def hrefs(fake: FakeNotion, page_id: str) -> list[str]:
    return [
        item["href"]
        for block in fake.blocks(page_id)
        for item in block[block["type"]].get("rich_text", [])
        if item["href"]
    ]


async def test_create_makes_one_page_that_links_back_to_sentry(client: Client, notion: Notion) -> None:
    title = "TypeError: x is undefined in " + "the checkout form " * 12

    resp = await create(client, title)

    answer = await resp.json()
    (page,) = notion.fake.pages(notion.data_source_id)
    assert resp.status == 201
    assert set(answer) == {"webUrl", "project", "identifier"}
    assert all(isinstance(value, str) for value in answer.values())
    assert (answer["project"], answer["identifier"]) == ("Bugs", "BUG-1")
    assert len(page["url"]) > 200 >= len(answer["webUrl"])
    assert page["id"].replace("-", "") in answer["webUrl"]
    assert sentry_link(page) == SENTRY_URL
    text = notion.fake.page_text(page["id"])
    assert STACK in text
    assert f"Sentry issue: {SENTRY_URL} by Jane Doe" in text
    assert SENTRY_URL in hrefs(notion.fake, page["id"])


async def test_two_replicas_sharing_redis_create_one_page(start_app: StartApp, notion: Notion) -> None:
    replicas = [await start_app(), await start_app()]
    body = create_body()

    answers = await asyncio.gather(
        *(replicas[n % 2].post(CREATE, data=body, headers=ui_headers(body)) for n in range(10))
    )

    assert sorted(r.status for r in answers) == [200] * 9 + [201]  # one created, nine found
    assert len({await r.text() for r in answers}) == 1
    assert len(notion.fake.pages(notion.data_source_id)) == 1
    assert len(notion.fake.calls("POST", "/v1/pages")) == 1


async def test_create_after_redis_forgot_finds_the_page_by_its_sentry_link(
    client: Client, notion: Notion, redis_prefix: str
) -> None:
    first = await create(client)
    redis = Redis.from_url(REDIS_URL)
    try:
        assert [key async for key in redis.scan_iter(f"{redis_prefix}:link:*")]  # the registry did remember
        await forget_everything(redis, redis_prefix)
    finally:
        await redis.aclose()

    second = await create(client)

    assert (first.status, second.status) == (201, 200)
    assert await second.json() == await first.json()
    assert len(notion.fake.calls("POST", "/v1/pages")) == 1


async def test_without_redis_everything_still_answers(start_app: StartApp, notion: Notion) -> None:
    with capture_logs() as logs:  # from startup, whose readiness probe may be the first to find Redis down
        client = await start_app(redis_url=REDIS_DOWN)
        ada = notion.fake.add_user("Ada Lovelace", "ada@example.org")
        first = await create(client)
        second = await create(client)
        found = await options(client, ISSUES, "typeerror")
        people = await options(client, ASSIGNEES, "ada")

    (page,) = notion.fake.pages(notion.data_source_id)
    assert (first.status, second.status) == (201, 200)
    assert await second.json() == await first.json()
    assert len(notion.fake.calls("POST", "/v1/pages")) == 1
    assert found == [{"label": "BUG-1 · TypeError: x is undefined", "value": page["id"]}]
    assert people == [{"label": "Ada Lovelace (ada@example.org)", "value": ada}]
    assert any(e["event"] == "redis_unavailable" for e in logs)  # Redis really was in the path


@pytest.mark.parametrize("query", ["bug-1", "BUG-1", "safari login", "pasted link"])
async def test_search_finds_an_entry_by_id_title_words_or_link(client: Client, notion: Notion, query: str) -> None:
    page = notion.fake.add_page(notion.data_source_id, "Login fails on Safari")
    notion.fake.add_page(notion.data_source_id, "Checkout crash")

    found = await options(client, ISSUES, page["url"] if query == "pasted link" else query)

    assert found == [{"label": "BUG-1 · Login fails on Safari", "value": page["id"]}]


async def test_link_sets_the_sentry_link(client: Client, notion: Notion) -> None:
    page = notion.fake.add_page(notion.data_source_id, "Login fails on Safari")

    resp = await link(client, page["id"])

    assert resp.status == 200
    answer = await resp.json()
    assert (answer["project"], answer["identifier"]) == ("Bugs", "BUG-1")
    assert page["id"].replace("-", "") in answer["webUrl"]
    assert sentry_link(notion.fake.page(page["id"])) == SENTRY_URL


async def test_link_keeps_another_issues_link_and_adds_the_new_one_to_the_body(client: Client, notion: Notion) -> None:
    page = notion.fake.add_page(
        notion.data_source_id, "Login fails on Safari", properties={"Sentry Link": {"url": OTHER_SENTRY_URL}}
    )

    resp = await link(client, page["id"])

    assert resp.status == 200
    assert sentry_link(notion.fake.page(page["id"])) == OTHER_SENTRY_URL
    assert f"Also linked to Sentry issue: {SENTRY_URL} by Jane Doe" in notion.fake.page_text(page["id"])
    assert SENTRY_URL in hrefs(notion.fake, page["id"])


async def test_link_refuses_a_page_of_another_database(client: Client, notion: Notion) -> None:
    _, wiki = notion.fake.add_database("Team wiki")
    page = notion.fake.add_page(wiki, "Onboarding")

    resp = await link(client, page["id"])

    assert resp.status == 422
    assert "not an entry of the 'Bugs' database" in (await resp.json())["message"]
    assert notion.fake.page(page["id"]) == page
    assert notion.fake.calls("PATCH") == []


FAILING_READS = pytest.mark.parametrize(
    ("uri", "method", "path"),
    [(ISSUES, "POST", QUERY), (ASSIGNEES, "GET", "/v1/users")],
    ids=["issues", "assignees"],
)


@FAILING_READS
async def test_options_are_empty_when_notion_keeps_failing(
    client: Client, notion: Notion, uri: str, method: str, path: str
) -> None:
    notion.fake.add_page(notion.data_source_id, "Login fails on Safari")
    notion.fake.add_user("Ada Lovelace", "ada@example.org")
    notion.fake.fail_next(method, path, 503, times=5)

    assert await options(client, uri, "a") == []
    assert len(notion.fake.calls(method, path)) > 1  # reads are retried before giving up


@FAILING_READS
async def test_options_are_empty_when_notion_is_slower_than_the_budget(
    client: Client, notion: Notion, monkeypatch: pytest.MonkeyPatch, uri: str, method: str, path: str
) -> None:
    monkeypatch.setattr(routes, "OPTIONS_BUDGET_S", 0.2)
    notion.fake.add_page(notion.data_source_id, "Login fails on Safari")
    notion.fake.fail_next(method, path, 200, delay=3.0)

    started = time.monotonic()
    found = await options(client, uri, "a")

    assert found == []
    assert time.monotonic() - started < 2.0


async def test_create_in_an_unshared_database_asks_to_add_the_connection(client: Client, notion: Notion) -> None:
    notion.fake.share(notion.database_id, False)

    resp = await create(client)

    assert resp.status == 424
    assert "Connections" in (await resp.json())["message"]
    assert notion.fake.calls("POST", "/v1/pages") == []


async def test_create_when_notion_rate_limits_says_when_to_retry(client: Client, notion: Notion) -> None:
    notion.fake.fail_next("POST", "/v1/pages", 429, retry_after=49)

    resp = await create(client)

    assert resp.status == 503
    assert resp.headers["Retry-After"] == "49"
    assert "49 seconds" in (await resp.json())["message"]
    assert notion.fake.pages(notion.data_source_id) == []


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (create_body(), {"Sentry-App-Signature": sign(create_body(), "another-secret")}, 401),
        (create_body(), {}, 401),
        (b"{not json", {"Sentry-App-Signature": sign(b"{not json")}, 400),
    ],
    ids=["bad-signature", "unsigned", "malformed-json"],
)
async def test_rejected_requests_never_reach_notion(
    client: Client, notion: Notion, body: bytes, headers: dict[str, str], status: int
) -> None:
    resp = await client.post(CREATE, data=body, headers={"Content-Type": "application/json"} | headers)

    assert resp.status == status
    # The only Notion call is the readiness probe the app starts with, never one for the request.
    assert {(r.method, r.path) for r in notion.fake.requests} <= {("GET", "/v1/users/me")}


async def test_request_log_lists_notion_calls_without_secrets(client: Client, notion: Notion) -> None:
    body = create_body()
    headers = ui_headers(body)

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        resp = await client.post(CREATE, data=body, headers=headers)

    assert resp.status == 201
    (line,) = [e for e in logs if e["event"] == "request"]
    assert line["status"] == 201
    assert any(call.startswith("pages.create 200 ") for call in line["notion_calls"])
    assert any(call.startswith("data_sources.query 200 ") for call in line["notion_calls"])
    logged = repr(logs)
    for secret in (notion.fake.token, SECRET, "previous-secret", headers["Sentry-App-Signature"]):
        assert secret not in logged


async def test_a_burst_of_searches_leaves_the_writes_their_part_of_the_budget(
    start_app: StartApp, notion: Notion
) -> None:
    # 60 a minute with a burst of 10: searches may take 5 of them, and nothing frees up meanwhile to speak of.
    client = await start_app(NOTION_RATE_LIMIT="60")
    page = notion.fake.add_page(notion.data_source_id, "Login fails on Safari")

    answers = await asyncio.gather(*(options(client, ISSUES, f"word{n}") for n in range(30)))
    spent_on_searches = len(notion.fake.requests)
    created = await create(client)
    linked = await link(client, page["id"])

    assert all(found == [] for found in answers)  # nothing matches; the route answered a list every time
    assert spent_on_searches < 10  # the schema and a few queries, far from the burst of 10 plus the queue
    assert (created.status, linked.status) == (201, 200)


@pytest.mark.parametrize("redis_url", [REDIS_URL, "", REDIS_DOWN], ids=["redis", "memory", "redis-down"])
async def test_identical_concurrent_searches_cost_one_notion_query(
    start_app: StartApp, notion: Notion, redis_url: str
) -> None:
    client = await start_app(redis_url=redis_url)
    page = notion.fake.add_page(notion.data_source_id, "Login fails on Safari")

    answers = await asyncio.gather(*(options(client, ISSUES, "safari") for _ in range(20)))

    assert all(found == [{"label": "BUG-1 · Login fails on Safari", "value": page["id"]}] for found in answers)
    assert len(notion.fake.calls("POST", QUERY)) == 1


async def test_a_429_holds_every_replica_off_notion(start_app: StartApp, notion: Notion) -> None:
    told, other = await start_app(), await start_app()
    notion.fake.fail_next("POST", "/v1/pages", 429, retry_after=49)
    assert (await create(told)).status == 503
    sent = len(notion.fake.requests)

    resp = await create(other)
    found = await options(other, ISSUES, "typeerror")

    assert resp.status == 503
    assert 45 <= int(resp.headers["Retry-After"]) <= 49
    assert found == []
    assert len(notion.fake.requests) == sent  # neither reached Notion
