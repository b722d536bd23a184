# The Notion adapter over real HTTP against the in-repo fake Notion server (tests/support/fake_notion), which answers
# 400 to anything over Notion's limits and injects the faults of https://developers.notion.com/reference/status-codes.
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from adapters.memory import MemoryCache
from adapters.notion.client import JSON, open_notion_client
from adapters.notion.columns import Columns
from adapters.notion.workspace import NotionWorkspace
from domain import markdown
from domain.errors import IssueNotFound, RateLimited, TrackerMisconfigured, TrackerUnavailable, WriteUnconfirmed
from domain.linking import sentry_link
from domain.models import Actor, Block, EntryDraft, NotionComment, SentryIssue, Span
from domain.queries import parse_entry_query
from tests.support.fake_notion import FakeNotion
from tests.support.fakes import fresh_schemas
from tests.support.sentry import description

SENTRY_URL = "https://acme.sentry.io/issues/4242/"
OTHER_SENTRY_URL = "https://acme.sentry.io/issues/1111/"
PAGES = "/v1/pages"
PAGE = r"/v1/pages/[^/]+"
CHILDREN = r"/v1/blocks/[^/]+/children"
QUERY = r"/v1/data_sources/[^/]+/query"
T0 = datetime(2026, 5, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Notion:
    fake: FakeNotion
    database_id: str
    data_source_id: str
    tracker: NotionWorkspace

    def sent(self, method: str, path_regex: str) -> int:
        return len(self.fake.calls(method, path_regex))

    def add(self, title: str, *, sentry_url: str | None = None, edited: datetime | None = None) -> str:
        properties = {"Sentry Link": {"url": sentry_url}} if sentry_url else None
        page = self.fake.add_page(self.data_source_id, title, properties=properties, last_edited_time=edited)
        return str(page["id"])


Connect = Callable[..., Awaitable[Notion]]


@pytest.fixture
async def connect(aiohttp_server: AiohttpServer) -> AsyncIterator[Connect]:
    """A fake workspace with one database "Bugs", served over HTTP, and the adapter pointed at it."""
    async with contextlib.AsyncExitStack() as stack:

        async def connect(
            fake: FakeNotion | None = None,
            properties: Mapping[str, Any] | None = None,
            *,
            shared: bool = True,
            columns: Columns | None = None,
            seen: MemoryCache[JSON] | None = None,
        ) -> Notion:
            fake = fake or FakeNotion(seed=7)
            database_id, data_source_id = fake.add_database("Bugs", properties, shared=shared)
            server = await aiohttp_server(fake.app())
            client = await stack.enter_async_context(
                open_notion_client(token=fake.token, base_url=str(server.make_url("/")), timeout_s=5)
            )
            tracker = NotionWorkspace(
                client,
                database_id=database_id,
                columns=columns or Columns(),
                schemas=fresh_schemas(),
                recovery_delays_s=(0, 0),
                seen=seen,
            )
            return Notion(fake, database_id, data_source_id, tracker)

        yield connect


@pytest.fixture
async def notion(connect: Connect) -> Notion:
    return await connect()


def draft(title: str = "TypeError: x is undefined", body: tuple[Block, ...] = ()) -> EntryDraft:
    return EntryDraft(title=title, body=body, sentry_url=SENTRY_URL)


def paragraph(text: str) -> Block:
    return Block(kind="paragraph", spans=(Span(text=text),))


def stack_trace(length: int) -> str:
    # Python frames with an emoji now and then: Notion counts UTF-16 units, so 🔥 costs two of the 2000.
    frames = "".join(
        f'  File "/srv/app/checkout/step_{n}.py", line {n}, in handle_{n}\n    total = charge(cart)  # 🔥 {n}\n'
        for n in range(length // 60 + 1)
    )
    return "Traceback (most recent call last):\n" + frames[: length - 35]


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def query(text: str, limit: int = 20) -> Any:
    return parse_entry_query(text, limit=limit)


# ----- create -----


async def test_a_60k_stack_trace_arrives_whole_within_notions_limits(notion: Notion) -> None:
    trace = stack_trace(60_000)
    sentry = SentryIssue(issue_id=4242, web_url=SENTRY_URL, installation_id="inst-1")
    header = (sentry_link("Sentry issue: ", sentry, Actor(name="Ada")), Block(kind="divider"))
    body = header + markdown.parse(description("BACKEND-1A", 4242, trace))

    issue = await notion.tracker.create_entry(draft(body=body))

    assert len(trace) == 60_000
    assert trace in notion.fake.page_text(issue.page_id)
    assert notion.fake.page(issue.page_id)["properties"]["Sentry Link"]["url"] == SENTRY_URL
    assert (issue.identifier, issue.sentry_url, issue.in_database) == ("BUG-1", SENTRY_URL, True)
    (create,) = notion.fake.calls("POST", PAGES)
    items = [item for block in create.json["children"] for item in block[block["type"]].get("rich_text", [])]
    assert len(items) > 30
    assert max(utf16(item["text"]["content"]) for item in items) <= 2000
    assert all(len(block[block["type"]].get("rich_text", [])) <= 100 for block in create.json["children"])


async def test_a_body_over_100_blocks_is_appended_in_order(notion: Notion) -> None:
    body = tuple(paragraph(f"line {n}") for n in range(250))

    issue = await notion.tracker.create_entry(draft(body=body))

    assert notion.fake.page_text(issue.page_id).splitlines() == [f"line {n}" for n in range(250)]
    (create,) = notion.fake.calls("POST", PAGES)
    appends = notion.fake.calls("PATCH", f"/v1/blocks/{issue.page_id}/children")
    assert [len(r.json["children"]) for r in (create, *appends)] == [100, 100, 50]


async def test_a_failed_follow_up_append_still_returns_the_entry(notion: Notion) -> None:
    notion.fake.fail_next("PATCH", CHILDREN, 400)

    issue = await notion.tracker.create_entry(draft(body=tuple(paragraph(f"line {n}") for n in range(150))))

    assert issue.identifier == "BUG-1"
    assert len(notion.fake.page_text(issue.page_id).splitlines()) == 100
    assert notion.sent("PATCH", CHILDREN) == 1


async def test_a_title_over_2000_characters_is_cut_with_an_ellipsis(notion: Notion) -> None:
    issue = await notion.tracker.create_entry(draft(title="x" * 2500))

    assert issue.title == "x" * 1999 + "…"
    assert notion.fake.page(issue.page_id)["properties"]["Name"]["title"][0]["plain_text"] == issue.title


async def test_a_title_of_exactly_2000_characters_is_kept(notion: Notion) -> None:
    issue = await notion.tracker.create_entry(draft(title="x" * 2000))

    assert issue.title == "x" * 2000


async def test_a_committed_503_reads_the_saved_page_instead_of_creating_again(notion: Notion) -> None:
    notion.fake.fail_next("POST", PAGES, 503, commit=True)

    issue = await notion.tracker.create_entry(draft())

    (page,) = notion.fake.pages(notion.data_source_id)
    assert (issue.page_id, issue.identifier) == (page["id"], "BUG-1")
    assert notion.sent("POST", PAGES) == 1
    assert notion.sent("GET", f"/v1/pages/{page['id']}") == 1


async def test_a_504_after_saving_finds_the_page_by_its_sentry_link(notion: Notion) -> None:
    older = notion.add("Someone else's bug", sentry_url=OTHER_SENTRY_URL)
    notion.fake.fail_next("POST", PAGES, 504, commit=True)

    issue = await notion.tracker.create_entry(draft())

    pages = notion.fake.pages(notion.data_source_id)
    assert [p["id"] for p in pages] == [older, issue.page_id]
    assert (issue.identifier, issue.sentry_url) == ("BUG-2", SENTRY_URL)
    assert notion.sent("POST", PAGES) == 1


async def test_a_connection_dropped_after_saving_finds_the_page_by_its_sentry_link(notion: Notion) -> None:
    notion.add("Someone else's bug", sentry_url=OTHER_SENTRY_URL)
    notion.fake.fail_next("POST", PAGES, 200, reset=True)  # a status < 400 runs the handler before the reset

    issue = await notion.tracker.create_entry(draft())

    assert len(notion.fake.pages(notion.data_source_id)) == 2
    assert (issue.identifier, issue.sentry_url) == ("BUG-2", SENTRY_URL)
    assert notion.sent("POST", PAGES) == 1


# An error status fails before the handler runs: nothing is saved, whether the connection drops or an answer comes.
@pytest.mark.parametrize(("status", "reset"), [(503, True), (504, False)], ids=["connection-dropped", "504"])
async def test_a_create_lost_before_saving_says_nothing_was_created(notion: Notion, status: int, reset: bool) -> None:
    notion.add("Someone else's bug", sentry_url=OTHER_SENTRY_URL)
    notion.fake.fail_next("POST", PAGES, status, reset=reset)

    with pytest.raises(WriteUnconfirmed, match="may still appear"):
        await notion.tracker.create_entry(draft())

    assert len(notion.fake.pages(notion.data_source_id)) == 1
    assert notion.sent("POST", PAGES) == 1
    assert notion.sent("POST", QUERY) == 2  # one look per recovery delay


async def test_a_503_without_guidance_takes_the_entry_already_linked(notion: Notion) -> None:
    existing = notion.add("Saved by an earlier attempt", sentry_url=SENTRY_URL)
    notion.fake.fail_next("POST", PAGES, 503)

    issue = await notion.tracker.create_entry(draft())

    assert issue.page_id == existing
    assert len(notion.fake.pages(notion.data_source_id)) == 1
    assert notion.sent("POST", PAGES) == 1


async def test_429_with_a_short_retry_after_is_retried_until_created(notion: Notion) -> None:
    notion.fake.fail_next("POST", PAGES, 429, times=2, retry_after=0)

    issue = await notion.tracker.create_entry(draft())

    assert issue.identifier == "BUG-1"
    assert len(notion.fake.pages(notion.data_source_id)) == 1
    assert notion.sent("POST", PAGES) == 3


async def test_429_with_a_long_retry_after_fails_fast_with_the_wait(notion: Notion) -> None:
    await notion.tracker.database()
    notion.fake.fail_next("POST", PAGES, 429, retry_after=49)

    started = time.monotonic()
    with pytest.raises(RateLimited, match="49 seconds") as caught:
        await notion.tracker.create_entry(draft())

    assert time.monotonic() - started < 2
    assert caught.value.retry_after_s == 49
    assert notion.sent("POST", PAGES) == 1
    assert notion.fake.pages(notion.data_source_id) == []


# ----- retries -----


@pytest.mark.parametrize(("status", "non_json"), [(500, False), (502, False), (503, False), (504, False), (502, True)])
async def test_reads_are_retried_on_5xx(notion: Notion, status: int, non_json: bool) -> None:
    page_id = notion.add("Login fails")
    notion.fake.fail_next("GET", PAGE, status, times=2, non_json=non_json)

    issue = await notion.tracker.get_entry(page_id)

    assert issue.title == "Login fails"
    assert notion.sent("GET", PAGE) == 3


async def test_setting_the_sentry_link_is_retried_on_503(notion: Notion) -> None:
    page_id = notion.add("Login fails")
    notion.fake.fail_next("PATCH", PAGE, 503)

    issue = await notion.tracker.set_sentry_link(page_id, SENTRY_URL)

    assert issue.sentry_url == SENTRY_URL
    assert notion.sent("PATCH", PAGE) == 2


async def test_an_append_is_not_retried_on_503(notion: Notion) -> None:
    page_id = notion.add("Login fails")
    notion.fake.fail_next("PATCH", CHILDREN, 503)

    with pytest.raises(TrackerUnavailable, match="HTTP 503"):
        await notion.tracker.append(page_id, [paragraph("Linked from Sentry")])

    assert notion.sent("PATCH", CHILDREN) == 1
    assert notion.fake.page_text(page_id) == ""


async def test_a_non_json_502_on_a_read_becomes_unavailable_after_retries(notion: Notion) -> None:
    page_id = notion.add("Login fails")
    notion.fake.fail_next("GET", PAGE, 502, times=4, non_json=True)

    with pytest.raises(TrackerUnavailable, match="HTTP 502"):
        await notion.tracker.get_entry(page_id)

    assert notion.sent("GET", PAGE) == 4


# ----- search -----


async def test_an_empty_query_lists_the_most_recently_edited_first(notion: Notion) -> None:
    for n in (3, 1, 4, 0, 2):
        notion.add(f"Bug {n}", edited=T0 + timedelta(hours=n))

    found = await notion.tracker.search_entries(query("", limit=3))

    assert [i.title for i in found] == ["Bug 4", "Bug 3", "Bug 2"]


async def test_words_match_any_case_and_all_must_match(notion: Notion) -> None:
    notion.add("Checkout fails on Safari")
    notion.add("checkout is slow")
    notion.add("Login fails")

    found = await notion.tracker.search_entries(query("CHECKOUT fails"))

    assert [i.title for i in found] == ["Checkout fails on Safari"]


@pytest.mark.parametrize("typed", ["bug-2", "BUG-2", "2", "#2"])
async def test_the_unique_id_finds_its_entry(notion: Notion, typed: str) -> None:
    for title in ("Alpha", "Beta", "Gamma"):
        notion.add(title)

    found = await notion.tracker.search_entries(query(typed))

    assert [(i.identifier, i.title) for i in found] == [("BUG-2", "Beta")]


async def test_another_prefix_does_not_match_the_unique_id(notion: Notion) -> None:
    for title in ("Alpha", "Beta", "Refund ops-2 job stuck"):
        notion.add(title)

    found = await notion.tracker.search_entries(query("OPS-2"))

    assert [i.title for i in found] == ["Refund ops-2 job stuck"]


# Twenty newer titles holding the number must not push the entry with that ID out of the answer.
async def test_the_unique_id_is_offered_even_when_newer_titles_match(notion: Notion) -> None:
    notion.add("Alpha", edited=T0)
    target = notion.add("Beta", edited=T0)
    for n in range(20):
        notion.add(f"Error 502 on step {n}", edited=T0 + timedelta(hours=n + 1))

    found = await notion.tracker.search_entries(query("2"))

    assert [i.page_id for i in found][:1] == [target]


async def test_a_pasted_link_or_id_finds_the_entry(notion: Notion) -> None:
    notion.add("Alpha")
    page_id = notion.add("Beta")
    url = notion.fake.page(page_id)["url"]

    for typed in (url, f"{url}?source=copy_link", page_id, page_id.replace("-", "")):
        found = await notion.tracker.search_entries(query(typed))
        assert [i.page_id for i in found] == [page_id], typed


async def test_another_databases_pages_are_never_offered(notion: Notion) -> None:
    ours = notion.add("Checkout fails")
    _, other_source = notion.fake.add_database("Ops")
    theirs = str(notion.fake.add_page(other_source, "Checkout fails too")["id"])

    by_words = await notion.tracker.search_entries(query("checkout"))
    by_id = await notion.tracker.search_entries(query("BUG-1"))  # both databases have a BUG-1
    by_link = await notion.tracker.search_entries(query(notion.fake.page(theirs)["url"]))

    assert [i.page_id for i in by_words] == [ours]
    assert [i.page_id for i in by_id] == [ours]
    assert by_link == []


async def test_trashed_pages_are_not_offered(notion: Notion) -> None:
    page = notion.fake.add_page(notion.data_source_id, "Checkout crash", in_trash=True)

    assert await notion.tracker.search_entries(query("checkout")) == []
    assert await notion.tracker.search_entries(query("")) == []
    assert await notion.tracker.search_entries(query(page["url"])) == []


# ----- link helpers -----


async def test_a_page_of_another_database_is_not_in_ours(notion: Notion) -> None:
    _, other_source = notion.fake.add_database("Ops")
    theirs = str(notion.fake.add_page(other_source, "Disk full")["id"])
    ours = notion.add("Login fails")

    assert (await notion.tracker.get_entry(theirs)).in_database is False
    assert (await notion.tracker.get_entry(ours)).in_database is True


async def test_an_unknown_page_is_not_found(notion: Notion) -> None:
    with pytest.raises(IssueNotFound):
        await notion.tracker.get_entry("0" * 32)


async def test_set_sentry_link_writes_the_url(notion: Notion) -> None:
    page_id = notion.add("Login fails", sentry_url=OTHER_SENTRY_URL)

    issue = await notion.tracker.set_sentry_link(page_id, SENTRY_URL)

    assert issue.sentry_url == SENTRY_URL
    assert notion.fake.page(page_id)["properties"]["Sentry Link"]["url"] == SENTRY_URL
    assert (await notion.tracker.find_by_sentry_url(SENTRY_URL)) == issue


async def test_linked_entries_are_paged_through_oldest_first(notion: Notion) -> None:
    for n in range(150):
        notion.add(f"Bug {n}", sentry_url=f"https://acme.sentry.io/issues/{n}/")
    notion.add("Not linked")

    linked = await notion.tracker.linked_entries()

    assert [entry.title for entry in linked] == [f"Bug {n}" for n in range(150)]
    assert notion.sent("POST", QUERY) == 2


async def test_append_adds_a_block_to_the_page(notion: Notion) -> None:
    page_id = notion.add("Login fails")

    await notion.tracker.append(page_id, [paragraph("Linked from Sentry issue BACKEND-1A")])

    assert notion.fake.page_text(page_id) == "Linked from Sentry issue BACKEND-1A"


# ----- database -----


async def test_database_has_its_title_and_scope(notion: Notion) -> None:
    database = await notion.tracker.database()

    assert database.title == "Bugs"
    assert database.scope == f"{notion.fake.workspace_id}:{notion.database_id.replace('-', '')}"


async def test_the_data_source_is_discovered_once(notion: Notion) -> None:
    page_id = notion.add("Login fails")

    await asyncio.gather(
        notion.tracker.database(),
        notion.tracker.get_entry(page_id),
        notion.tracker.search_entries(query("login")),
        notion.tracker.find_by_sentry_url(SENTRY_URL),
    )
    await notion.tracker.create_entry(draft())

    assert notion.sent("GET", r"/v1/databases/.*") == 1
    assert notion.sent("GET", r"/v1/data_sources/.*") == 1
    assert notion.sent("GET", "/v1/users/me") == 1


async def test_an_unshared_database_says_to_add_the_connection(connect: Connect) -> None:
    notion = await connect(shared=False)

    with pytest.raises(TrackerMisconfigured, match="Connections"):
        await notion.tracker.database()


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"ID": {"unique_id": {"prefix": "BUG"}}}, "'Sentry Link' of type url"),
        ({"ID": {"unique_id": {"prefix": "BUG"}}, "Sentry Link": {"rich_text": {}}}, "'Sentry Link' of type url"),
        ({"Sentry Link": {"url": {}}}, "'ID' of type unique_id"),
    ],
    ids=["no-sentry-link", "sentry-link-is-text", "no-id"],
)
async def test_a_missing_or_mistyped_column_is_named(
    connect: Connect, properties: dict[str, Any], message: str
) -> None:
    notion = await connect(properties={"Name": {"title": {}}, **properties})

    with pytest.raises(TrackerMisconfigured, match=message):
        await notion.tracker.database()


async def test_an_id_column_without_prefix_gives_bare_numbers(connect: Connect) -> None:
    notion = await connect(
        properties={"Name": {"title": {}}, "ID": {"unique_id": {"prefix": None}}, "Sentry Link": {"url": {}}}
    )
    notion.add("Alpha")

    issue = await notion.tracker.create_entry(draft())

    assert issue.identifier == "2"
    assert [i.identifier for i in await notion.tracker.search_entries(query("2"))] == ["2"]


# ----- assignees -----


async def test_assignees_are_paged_through_without_bots(connect: Connect) -> None:
    fake = FakeNotion(seed=7)
    for n in range(150):
        fake.add_user(f"Person {n:03}", f"p{n}@example.org")
    fake.add_user("Deploy bot", bot=True)

    assignees = await (await connect(fake)).tracker.list_assignees()

    assert [(a.name, a.email) for a in assignees] == [(f"Person {n:03}", f"p{n}@example.org") for n in range(150)]
    assert len(fake.calls("GET", "/v1/users")) == 2


async def test_assignees_come_without_emails_when_notion_hides_them(connect: Connect) -> None:
    fake = FakeNotion(seed=7, user_emails=False)
    fake.add_user("Ada Lovelace", "ada@example.org")

    assignees = await (await connect(fake)).tracker.list_assignees()

    assert [(a.name, a.email) for a in assignees] == [("Ada Lovelace", None)]


# ----- urls -----


async def test_a_long_legacy_url_is_shortened_to_its_id(connect: Connect) -> None:
    notion = await connect(FakeNotion(seed=7, legacy_urls=True))

    issue = await notion.tracker.create_entry(draft(title="Checkout fails " * 40))

    hex_id = issue.page_id.replace("-", "")
    assert len(notion.fake.page(issue.page_id)["url"]) > 200
    assert len(issue.url) <= 200
    assert hex_id in issue.url
    assert issue.url == f"https://www.notion.so/{hex_id}"


# ----- comments people write, as the Notion → Sentry direction reads them -----


async def test_a_comment_is_read_with_its_author_and_text(notion: Notion) -> None:
    page_id = notion.add("Checkout crashes", sentry_url=SENTRY_URL)
    ada = notion.fake.add_user("Ada Lovelace", "ada@example.org")
    written = notion.fake.person_comments(page_id, "Reproduced on staging", by=ada)

    comment = await notion.tracker.read_comment(written["id"])

    assert comment == NotionComment(
        id=written["id"], page_id=page_id, author_id=ada, author_name="Ada Lovelace", text="Reproduced on staging"
    )


async def test_an_author_without_a_shown_name_is_looked_up_once(notion: Notion) -> None:
    page_id = notion.add("Checkout crashes", sentry_url=SENTRY_URL)
    ada = notion.fake.add_user("Ada Lovelace", "ada@example.org")
    first, second = (notion.fake.person_comments(page_id, text, by=ada) for text in ("One", "Two"))
    for comment in notion.fake.comments:
        del comment["display_name"]  # as an answer that names only the author's id

    read = [await notion.tracker.read_comment(c["id"]) for c in (first, second)]

    assert [c.author_name if c else None for c in read] == ["Ada Lovelace", "Ada Lovelace"]
    assert notion.sent("GET", f"/v1/users/{ada}") == 1


async def test_a_deleted_comment_reads_as_gone(notion: Notion) -> None:
    page_id = notion.add("Checkout crashes", sentry_url=SENTRY_URL)
    written = await notion.tracker.add_comment(page_id, "Seen again", "Jane Doe")
    await notion.tracker.delete_comment(written)

    assert await notion.tracker.read_comment(written) is None


async def test_the_bot_user_id_comes_with_the_schema(notion: Notion) -> None:
    await notion.tracker.database()
    before = notion.sent("GET", "/v1/users/me")

    assert await notion.tracker.bot_id() == notion.fake.bot_id
    assert notion.sent("GET", "/v1/users/me") == before


async def test_an_entry_last_seen_before_an_option_was_renamed_is_read_again(connect: Connect) -> None:
    notion = await connect(columns=Columns(status="Status"), seen=MemoryCache())
    page_id = notion.add("Checkout crashes", sentry_url=SENTRY_URL)
    notion.fake.person_updates_properties(page_id, {"Status": {"status": {"name": "Done"}}}, by=notion.fake.bot_id)
    await notion.tracker.snapshot(page_id)
    seen = await notion.tracker.last_seen(page_id)
    assert seen is not None
    assert seen.state.status == "Done"
    # Renaming tells of the columns, not of the pages that have the option.
    notion.fake.person_renames_option(notion.data_source_id, "Status", "Done", "Shipped", by=notion.fake.bot_id)
    await notion.tracker.forget_schema()  # as the schema's event makes the workers do

    assert await notion.tracker.last_seen(page_id) is None
    assert (await notion.tracker.snapshot(page_id)).state.status == "Shipped"
