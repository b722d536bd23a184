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

from adapters.notion.client import open_notion_client
from adapters.notion.columns import Columns
from adapters.notion.schema import NotionSchema
from adapters.notion.workspace import NotionWorkspace
from domain.errors import TrackerMisconfigured
from domain.models import Block, EntryDraft, EntryQuery, Span
from domain.stale_while_revalidate import StaleWhileRevalidate
from tests.support import notion_payloads as notion
from tests.support.fakes import fresh_schemas
from tests.support.notion_payloads import BASE, DATA_SOURCE_ID, DATABASE_ID, PAGE_ID

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
def schemas() -> StaleWhileRevalidate[NotionSchema]:
    return fresh_schemas()


@pytest.fixture
async def tracker(schemas: StaleWhileRevalidate[NotionSchema]) -> AsyncIterator[NotionWorkspace]:
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


async def test_a_refused_write_on_a_page_keeps_notions_reason(http: aioresponses, tracker: NotionWorkspace) -> None:
    schema(http)
    archived = notion.error(400, "validation_error", "Can't edit block that is archived. You must unarchive it first.")
    http.patch(f"{PAGES}/{PAGE_ID}", status=400, payload=archived)

    with pytest.raises(TrackerMisconfigured, match="Can't edit block that is archived"):
        await tracker.set_sentry_link(PAGE_ID, SENTRY_URL)


async def test_a_refused_write_makes_the_schema_be_read_again(
    http: aioresponses, tracker: NotionWorkspace, schemas: StaleWhileRevalidate[NotionSchema]
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
