import json
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiohttp import ClientResponse
from aiohttp.abc import AbstractStreamWriter
from aioresponses import CallbackResult, aioresponses
from aioresponses import core as aioresponses_core
from yarl import URL

from adapters.notion.client import NOTION_VERSION, open_notion_client
from adapters.notion.columns import Columns
from adapters.notion.schema import NotionSchema
from adapters.notion.tracker import NotionWorkspace
from domain.errors import RateLimited, TrackerMisconfigured, WriteUnconfirmed
from domain.models import Block, EntryDraft, EntryQuery, Span
from domain.refresh import Refresher
from tests.fakes import fresh_schemas
from tests.integration import notion_payloads as notion
from tests.integration.notion_payloads import BASE, DATA_SOURCE_ID, DATABASE_ID, PAGE_ID

SENTRY_URL = "https://acme.sentry.io/issues/4242/"
PAGES = f"{BASE}/pages"
QUERY = f"{BASE}/data_sources/{DATA_SOURCE_ID}/query"
FILTER_PROPERTIES = (
    "filter_properties%5B%5D=title&filter_properties%5B%5D=%253AUPp&filter_properties%5B%5D=bB%253D%255B"
)
DRAFT = EntryDraft(
    title="TypeError: x", body=(Block(kind="paragraph", spans=(Span(text="hello"),)),), sentry_url=SENTRY_URL
)


class _Response(ClientResponse):
    # aioresponses 0.7.9 predates the stream_writer that aiohttp 3.14 requires (pnuckowski/aioresponses#289).
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, stream_writer=cast(AbstractStreamWriter, SimpleNamespace(output_size=0)), **kwargs)


@pytest.fixture
def http(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _Response)
    with aioresponses() as mocked:
        yield mocked


@pytest.fixture
def schemas() -> Refresher[NotionSchema]:
    return fresh_schemas()


@pytest.fixture
async def tracker(schemas: Refresher[NotionSchema]) -> AsyncIterator[NotionWorkspace]:
    async with open_notion_client(token="secret_test", base_url="https://api.notion.com", timeout_s=2) as client:
        yield NotionWorkspace(
            client, database_id=DATABASE_ID, columns=Columns(), schemas=schemas, recovery_delays_s=(0, 0)
        )


def schema(http: aioresponses, source: dict[str, Any] | None = None) -> None:
    http.get(f"{BASE}/databases/{DATABASE_ID}", payload=notion.database())
    http.get(f"{BASE}/users/me", payload=notion.me())
    http.get(f"{BASE}/data_sources/{DATA_SOURCE_ID}", payload=source or notion.data_source())


def sent(http: aioresponses, method: str, url: str) -> list[Any]:
    return [call.kwargs.get("json") for call in http.requests.get((method, URL(url)), [])]


async def test_discovers_the_data_source_once(http: aioresponses, tracker: NotionWorkspace) -> None:
    schema(http)

    first = await tracker.database()
    second = await tracker.database()

    assert first == second
    assert (first.title, first.scope) == ("Bugs", f"ws-1:{DATABASE_ID.replace('-', '')}")
    (call,) = http.requests[("GET", URL(f"{BASE}/databases/{DATABASE_ID}"))]
    assert call.kwargs["headers"]["Notion-Version"] == NOTION_VERSION >= "2025-09-03"
    assert call.kwargs["headers"]["Authorization"] == "Bearer secret_test"
    assert len(http.requests[("GET", URL(f"{BASE}/data_sources/{DATA_SOURCE_ID}"))]) == 1


async def test_create_sets_title_link_assignee_and_body(http: aioresponses, tracker: NotionWorkspace) -> None:
    schema(http)
    http.post(PAGES, payload=notion.page(sentry_url=SENTRY_URL))

    issue = await tracker.create_entry(DRAFT.model_copy(update={"assignee_id": "u-ada"}))

    assert (issue.identifier, issue.sentry_url, issue.page_id) == ("BUG-12", SENTRY_URL, PAGE_ID)
    (body,) = sent(http, "POST", PAGES)
    assert body["parent"] == {"type": "data_source_id", "data_source_id": DATA_SOURCE_ID}
    assert body["properties"]["Name"]["title"][0]["text"]["content"] == "TypeError: x"
    assert body["properties"]["Sentry Link"] == {"url": SENTRY_URL}
    assert body["properties"]["Assignee"] == {"people": [{"object": "user", "id": "u-ada"}]}
    assert body["children"][0]["paragraph"]["rich_text"][0]["text"]["content"] == "hello"


async def test_a_503_on_create_is_never_repeated_and_the_saved_page_is_found(
    http: aioresponses, tracker: NotionWorkspace
) -> None:
    schema(http)
    http.post(PAGES, status=503, payload=notion.error(503, "service_unavailable", "Notion is unavailable."))
    http.post(QUERY, payload=notion.query(notion.page(sentry_url=SENTRY_URL)))

    issue = await tracker.create_entry(DRAFT)

    assert issue.page_id == PAGE_ID
    assert len(sent(http, "POST", PAGES)) == 1
    assert sent(http, "POST", QUERY)[0]["filter"] == {"property": "Sentry Link", "url": {"equals": SENTRY_URL}}


async def test_a_committed_503_reads_the_saved_page(http: aioresponses, tracker: NotionWorkspace) -> None:
    schema(http)
    committed = notion.error(
        503,
        "service_unavailable",
        "The change was saved, but the response could not be built in time.",
        committed_resource_id=PAGE_ID,
        retry_guidance=["Read the object again to confirm the saved change.", "Do not repeat the write."],
    )
    http.post(PAGES, status=503, payload=committed)
    http.get(f"{PAGES}/{PAGE_ID}", payload=notion.page(sentry_url=SENTRY_URL))

    issue = await tracker.create_entry(DRAFT)

    assert issue.identifier == "BUG-12"
    assert len(sent(http, "POST", PAGES)) == 1


async def test_a_lost_create_that_saved_nothing_says_so(http: aioresponses, tracker: NotionWorkspace) -> None:
    schema(http)
    http.post(PAGES, status=504, payload=notion.error(504, "gateway_timeout", "Gateway Timeout"))
    http.post(QUERY, payload=notion.query(), repeat=True)

    with pytest.raises(WriteUnconfirmed, match="may still appear"):
        await tracker.create_entry(DRAFT)
    assert len(sent(http, "POST", PAGES)) == 1


async def test_429_waits_retry_after_then_creates(http: aioresponses, tracker: NotionWorkspace) -> None:
    schema(http)
    limited = notion.error(429, "rate_limited", "You have been rate limited.", retry_after="0")
    http.post(PAGES, status=429, payload=limited, headers={"Retry-After": "0"})
    http.post(PAGES, payload=notion.page(sentry_url=SENTRY_URL))

    issue = await tracker.create_entry(DRAFT)

    assert issue.identifier == "BUG-12"
    assert len(sent(http, "POST", PAGES)) == 2


async def test_a_long_retry_after_fails_fast_with_the_wait(http: aioresponses, tracker: NotionWorkspace) -> None:
    schema(http)
    limited = notion.error(429, "rate_limited", "You have been rate limited.", retry_after="49")
    http.post(PAGES, status=429, payload=limited, headers={"Retry-After": "49"})

    with pytest.raises(RateLimited, match="49 seconds") as caught:
        await tracker.create_entry(DRAFT)
    assert caught.value.retry_after_s == 49
    assert len(sent(http, "POST", PAGES)) == 1


async def test_reads_are_retried_on_5xx(http: aioresponses, tracker: NotionWorkspace) -> None:
    schema(http)
    http.get(f"{PAGES}/{PAGE_ID}", status=502, body="<html>Bad Gateway</html>", content_type="text/html")
    http.get(f"{PAGES}/{PAGE_ID}", payload=notion.page())

    issue = await tracker.get_entry(PAGE_ID)

    assert issue.title == "Login fails"


async def test_unshared_database_says_how_to_share_it(http: aioresponses, tracker: NotionWorkspace) -> None:
    missing = notion.error(404, "object_not_found", f"Could not find database with ID: {DATABASE_ID}.")
    http.get(f"{BASE}/databases/{DATABASE_ID}", status=404, payload=missing)
    http.get(f"{BASE}/users/me", payload=notion.me())

    with pytest.raises(TrackerMisconfigured, match="Connections"):
        await tracker.database()


async def test_missing_column_is_named(http: aioresponses, tracker: NotionWorkspace) -> None:
    source = notion.data_source()
    del source["properties"]["Sentry Link"]
    schema(http, source)

    with pytest.raises(TrackerMisconfigured, match="'Sentry Link' of type url"):
        await tracker.database()


async def test_validation_error_names_the_column(http: aioresponses, tracker: NotionWorkspace) -> None:
    schema(http)
    invalid = notion.error(400, "validation_error", "Assignee is expected to be people.")
    http.post(PAGES, status=400, payload=invalid)

    with pytest.raises(TrackerMisconfigured, match="Assignee is expected to be people"):
        await tracker.create_entry(DRAFT.model_copy(update={"assignee_id": "u-ada"}))


async def test_search_by_id_asks_for_the_number_and_the_title(http: aioresponses, tracker: NotionWorkspace) -> None:
    schema(http)
    titled, numbered = notion.page(title="Has bug-12 in title", number=3), notion.page(page_id="a" * 32)
    bodies: list[dict[str, Any]] = []

    def answer(url: URL, **kwargs: Any) -> CallbackResult:
        bodies.append(kwargs["json"])
        return CallbackResult(payload=notion.query(numbered if "unique_id" in json.dumps(kwargs["json"]) else titled))

    http.post(f"{QUERY}?{FILTER_PROPERTIES}", callback=answer, repeat=True)

    found = await tracker.search_entries(EntryQuery(words=("bug-12",), number=12, prefix="bug"))

    assert [i.identifier for i in found] == ["BUG-12", "BUG-3"]
    assert sorted(((b["filter"], b["page_size"]) for b in bodies), key=repr) == [
        ({"property": "ID", "unique_id": {"equals": 12}}, 1),
        ({"property": "Name", "title": {"contains": "bug-12"}}, 20),
    ]
    assert all(b["sorts"] == [{"timestamp": "last_edited_time", "direction": "descending"}] for b in bodies)


async def test_an_id_with_another_prefix_is_only_a_title_search(http: aioresponses, tracker: NotionWorkspace) -> None:
    schema(http)
    http.post(f"{QUERY}?{FILTER_PROPERTIES}", payload=notion.query())

    assert await tracker.search_entries(EntryQuery(words=("ops-12",), number=12, prefix="ops")) == []
    (call,) = [c for key, calls in http.requests.items() if key[0] == "POST" for c in calls]
    assert call.kwargs["json"]["filter"] == {"property": "Name", "title": {"contains": "ops-12"}}


async def test_a_refused_write_on_a_page_keeps_notions_reason(http: aioresponses, tracker: NotionWorkspace) -> None:
    schema(http)
    archived = notion.error(400, "validation_error", "Can't edit block that is archived. You must unarchive it first.")
    http.patch(f"{PAGES}/{PAGE_ID}", status=400, payload=archived)

    with pytest.raises(TrackerMisconfigured, match="Can't edit block that is archived"):
        await tracker.set_sentry_link(PAGE_ID, SENTRY_URL)


async def test_a_refused_write_makes_the_schema_be_read_again(
    http: aioresponses, tracker: NotionWorkspace, schemas: Refresher[NotionSchema]
) -> None:
    schema(http)
    renamed = notion.error(400, "validation_error", "Sentry Link is not a property that exists.")
    http.post(PAGES, status=400, payload=renamed)
    renamed_source = notion.data_source()
    renamed_source["properties"]["Sentry"] = renamed_source["properties"].pop("Sentry Link")
    schema(http, renamed_source)

    with pytest.raises(TrackerMisconfigured, match="Sentry Link is not a property"):
        await tracker.create_entry(DRAFT)
    await tracker.database()  # the stale schema is served once while it is read again
    await schemas.settle()

    with pytest.raises(TrackerMisconfigured, match="needs a column 'Sentry Link'"):
        await tracker.database()
    assert len(http.requests[("GET", URL(f"{BASE}/data_sources/{DATA_SOURCE_ID}"))]) == 2


async def test_a_blocked_integration_is_not_retried(http: aioresponses, tracker: NotionWorkspace) -> None:
    schema(http)
    blocked = notion.error(
        429, "rate_limited", "Requests are blocked.", rate_limit_reason="public_api_request_blocked", retry_after="0"
    )
    http.post(PAGES, status=429, payload=blocked, headers={"Retry-After": "0"})

    with pytest.raises(TrackerMisconfigured, match="Contact Notion support"):
        await tracker.create_entry(DRAFT)
    assert len(sent(http, "POST", PAGES)) == 1
