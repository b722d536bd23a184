from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.support.fake_notion import FakeNotion

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
def fake() -> FakeNotion:
    return FakeNotion(seed=7)


@pytest.fixture
async def client(fake: FakeNotion, aiohttp_client: MakeClient) -> Client:
    return await aiohttp_client(fake.app())


async def call(
    client: Client, fake: FakeNotion, method: str, path: str, body: Any = None, **kw: Any
) -> tuple[int, Any]:
    headers = kw.pop("headers", fake.headers())
    async with client.request(method, path, json=body, headers=headers, **kw) as resp:
        return resp.status, await resp.json()


def text(content: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"content": content}}]


def paragraph(content: str) -> dict[str, Any]:
    return {"object": "block", "type": "paragraph", "paragraph": {"rich_text": text(content)}}


async def test_headers_are_enforced_and_errors_carry_the_request_id(client: Client, fake: FakeNotion) -> None:
    async with client.get("/v1/users/me", headers={"Authorization": "Bearer secret_test"}) as resp:
        body = await resp.json()
        assert resp.status == 400
        assert body["request_id"] == resp.headers["x-notion-request-id"]
    assert body["code"] == "missing_version"
    assert body["message"] == (
        "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`."
    )

    status, body = await call(client, fake, "GET", "/v1/users/me", headers=fake.headers("2022-06-28"))
    assert (status, body["code"]) == (400, "validation_error")
    assert '`"2025-09-03"`, `"2026-03-11"`' in body["message"]

    for auth in ({"Authorization": "Bearer nope"}, {}):
        status, body = await call(client, fake, "GET", "/v1/users/me", headers={"Notion-Version": fake.version, **auth})
        assert (status, body["code"], body["message"]) == (401, "unauthorized", "API token is invalid.")


async def test_users_me_is_the_bot_of_the_workspace(client: Client, fake: FakeNotion) -> None:
    status, me = await call(client, fake, "GET", "/v1/users/me")

    assert status == 200
    assert me["id"] == fake.bot_id
    assert me["type"] == "bot"
    assert me["bot"]["workspace_id"] == fake.workspace_id
    assert me["bot"]["workspace_name"] == "Acme"


async def test_unknown_path_wrong_method_and_bad_ids(client: Client, fake: FakeNotion) -> None:
    for method, path in [("GET", "/v1/nope"), ("DELETE", "/v1/users/me"), ("GET", "/v1/pages")]:
        status, body = await call(client, fake, method, path)
        assert (status, body["code"], body["message"]) == (400, "invalid_request_url", "Invalid request URL.")

    status, body = await call(client, fake, "GET", "/v1/pages/x")
    assert (status, body["code"]) == (400, "validation_error")
    assert body["message"] == 'path failed validation: path.page_id should be a valid uuid, instead was `"x"`.'


async def test_database_leads_to_its_data_source_and_schema(client: Client, fake: FakeNotion) -> None:
    database_id, data_source_id = fake.add_database("Bugs")

    status, db = await call(client, fake, "GET", f"/v1/databases/{database_id.replace('-', '')}")
    assert status == 200
    assert db["object"] == "database"
    assert db["id"] == database_id
    assert db["data_sources"] == [{"id": data_source_id, "name": "Bugs"}]
    assert db["title"][0]["plain_text"] == "Bugs"
    assert "properties" not in db

    status, ds = await call(client, fake, "GET", f"/v1/data_sources/{data_source_id}")
    props = ds["properties"]
    assert status == 200
    assert ds["parent"] == {"type": "database_id", "database_id": database_id}
    assert props["Name"]["id"] == "title"
    assert props["Name"]["type"] == "title"
    assert props["ID"]["unique_id"] == {"prefix": "BUG"}
    assert [p["type"] for p in props.values()] == ["title", "unique_id", "people", "url", "status"]
    groups = {g["name"]: g["option_ids"] for g in props["Status"]["status"]["groups"]}
    assert list(groups) == ["To-do", "In progress", "Complete"]
    assert "in_trash" in ds
    assert "archived" not in ds


async def test_unshared_objects_are_not_found(client: Client, fake: FakeNotion) -> None:
    database_id, data_source_id = fake.add_database("Secret", shared=False)
    page_id = fake.add_page(data_source_id, "hidden")["id"]

    for path in (f"/v1/databases/{database_id}", f"/v1/data_sources/{data_source_id}", f"/v1/pages/{page_id}"):
        status, body = await call(client, fake, "GET", path)
        assert (status, body["code"]) == (404, "object_not_found")
        assert body["message"].endswith("Make sure the relevant pages and databases are shared with your integration.")


async def test_create_page_assigns_unique_ids_and_reads_back(client: Client, fake: FakeNotion) -> None:
    user_id = fake.add_user("Ada Lovelace", "ada@example.org")
    _, data_source_id = fake.add_database("Bugs")
    body = {
        "parent": {"type": "data_source_id", "data_source_id": data_source_id},
        "properties": {
            "Name": {"title": text("TypeError: x is undefined")},
            "Assignee": {"people": [{"object": "user", "id": user_id}]},
            "Sentry Link": {"url": "https://acme.sentry.io/issues/1/"},
        },
        "children": [paragraph("Seen 42 times")],
    }

    statuses = [(await call(client, fake, "POST", "/v1/pages", body))[0] for _ in range(2)]
    pages = fake.pages(data_source_id)
    status, page = await call(client, fake, "GET", f"/v1/pages/{pages[1]['id']}")

    assert statuses == [200, 200]
    assert [p["properties"]["ID"]["unique_id"] for p in pages] == [
        {"prefix": "BUG", "number": 1},
        {"prefix": "BUG", "number": 2},
    ]
    assert status == 200
    assert page["parent"] == {"type": "data_source_id", "data_source_id": data_source_id, "database_id": ANY_ID}
    assert page["url"] == f"https://app.notion.com/p/{page['id'].replace('-', '')}"
    assert page["in_trash"] is False
    assert "archived" not in page
    assert page["properties"]["Status"]["status"]["name"] == "Not started"
    assert page["properties"]["Assignee"]["people"][0]["person"] == {"email": "ada@example.org"}
    assert fake.page_text(page["id"]) == "Seen 42 times"


class _AnyId:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and len(other) == 36


ANY_ID: Any = _AnyId()


async def test_older_version_and_legacy_urls(aiohttp_client: MakeClient) -> None:
    fake = FakeNotion(legacy_urls=True)
    client = await aiohttp_client(fake.app())
    _, data_source_id = fake.add_database("Bugs")
    page_id = fake.add_page(data_source_id, "Bug bash")["id"]

    status, page = await call(client, fake, "GET", f"/v1/pages/{page_id}", headers=fake.headers("2025-09-03"))

    assert status == 200
    assert page["url"] == f"https://www.notion.so/Bug-bash-{page_id.replace('-', '')}"
    assert page["archived"] is False
    assert page["in_trash"] is False


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"Colour": {"select": {"name": "red"}}}, "Colour is not a property that exists."),
        ({"ID": {"unique_id": {"number": 3}}}, "ID is a unique_id property, which cannot be set through the API."),
        ({"Priority": {"select": {"name": "High, really"}}}, "Invalid select option, commas not allowed: High, really"),
        ({"Sentry Link": {"rich_text": text("x")}}, "Sentry Link is expected to be url."),
        (
            {"Name": {"title": text("x" * 2001)}},
            "body failed validation: body.properties.Name.title[0].text.content.length should be ≤ `2000`, "
            "instead was `2001`.",
        ),
    ],
)
async def test_create_page_rejects_bad_properties(
    client: Client, fake: FakeNotion, properties: dict[str, Any], message: str
) -> None:
    _, data_source_id = fake.add_database(
        "Bugs",
        {
            "Name": {"title": {}},
            "ID": {"unique_id": {"prefix": None}},
            "Priority": {"select": {}},
            "Sentry Link": {"url": {}},
        },
    )

    status, body = await call(
        client, fake, "POST", "/v1/pages", {"parent": {"data_source_id": data_source_id}, "properties": properties}
    )

    assert (status, body["code"], body["message"]) == (400, "validation_error", message)
    assert fake.pages(data_source_id) == []


async def test_select_options_are_added_but_status_names_must_exist(client: Client, fake: FakeNotion) -> None:
    _, data_source_id = fake.add_database(
        "Bugs", {"Name": {"title": {}}, "Priority": {"select": {}}, "Status": {"status": {}}}
    )
    parent = {"data_source_id": data_source_id}

    status, _ = await call(
        client, fake, "POST", "/v1/pages", {"parent": parent, "properties": {"Priority": {"select": {"name": "High"}}}}
    )
    bad, error = await call(
        client, fake, "POST", "/v1/pages", {"parent": parent, "properties": {"Status": {"status": {"name": "Nope"}}}}
    )
    _, ds = await call(client, fake, "GET", f"/v1/data_sources/{data_source_id}")

    assert status == 200
    assert [o["name"] for o in ds["properties"]["Priority"]["select"]["options"]] == ["High"]
    assert (bad, error["code"]) == (400, "validation_error")


async def test_query_filters_by_unique_id_title_url_and_compounds(client: Client, fake: FakeNotion) -> None:
    _, data_source_id = fake.add_database("Bugs")
    for n, title in enumerate(["TypeError in checkout", "KeyError in cart", "Timeout in checkout"], start=1):
        fake.add_page(data_source_id, title, properties={"Sentry Link": {"url": f"https://acme.sentry.io/issues/{n}/"}})
    path = f"/v1/data_sources/{data_source_id}/query"

    async def titles(flt: dict[str, Any]) -> list[str]:
        status, body = await call(client, fake, "POST", path, {"filter": flt})
        assert status == 200, body
        return [p["properties"]["Name"]["title"][0]["plain_text"] for p in body["results"]]

    assert await titles({"property": "ID", "unique_id": {"equals": 2}}) == ["KeyError in cart"]
    assert await titles({"property": "Name", "title": {"contains": "CHECKOUT"}}) == [
        "TypeError in checkout",
        "Timeout in checkout",
    ]
    url = {"property": "Sentry Link", "url": {"equals": "https://acme.sentry.io/issues/3/"}}
    assert await titles(url) == ["Timeout in checkout"]
    compound = {
        "and": [
            {"property": "Name", "title": {"starts_with": "t"}},
            {"or": [url, {"property": "ID", "unique_id": {"equals": 1}}]},
        ]
    }
    assert await titles(compound) == ["TypeError in checkout", "Timeout in checkout"]

    errors = [
        ({"property": "ID", "unique_id": {"equals": "BUG-2"}}, "body.filter.unique_id.equals should be a number"),
        (
            {"property": "Name", "rich_text": {"contains": "x"}},
            "The property type in the database does not match the property type of the filter provided: "
            "database property title does not match filter rich_text",
        ),
        ({"property": "Colour", "select": {"equals": "red"}}, "Could not find property with name or id: Colour"),
        ({"and": [{"or": [{"and": []}]}]}, "body.filter.and[0].or[0].and should be not present"),
    ]
    for flt, message in errors:
        status, body = await call(client, fake, "POST", path, {"filter": flt})
        assert (status, body["code"]) == (400, "validation_error")
        assert message in body["message"]


async def test_query_sorts_paginates_and_skips_trashed_pages(client: Client, fake: FakeNotion) -> None:
    _, data_source_id = fake.add_database("Bugs")
    for n in range(5):
        fake.add_page(data_source_id, f"bug {n}")
    fake.add_page(data_source_id, "deleted", in_trash=True)
    path = f"/v1/data_sources/{data_source_id}/query"
    query: dict[str, Any] = {"sorts": [{"property": "ID", "direction": "descending"}], "page_size": 2}

    seen: list[int] = []
    while True:
        status, body = await call(client, fake, "POST", path, query)
        assert status == 200
        assert body["type"] == "page_or_data_source"
        seen += [p["properties"]["ID"]["unique_id"]["number"] for p in body["results"]]
        if not body["has_more"]:
            break
        query["start_cursor"] = body["next_cursor"]

    assert seen == [5, 4, 3, 2, 1]
    status, body = await call(client, fake, "POST", path, {"start_cursor": "bogus"})
    assert (status, body["message"]) == (400, "The start_cursor provided is invalid: bogus")
    status, body = await call(client, fake, "POST", path, {"page_size": 101})
    assert body["message"] == "body failed validation: body.page_size should be ≤ `100`, instead was `101`."


async def test_content_limits_on_children(client: Client, fake: FakeNotion) -> None:
    _, data_source_id = fake.add_database("Bugs")
    parent = {"data_source_id": data_source_id}
    toggle = {"toggle": {"rich_text": text("t"), "children": [{"toggle": {"rich_text": text("u"), "children": []}}]}}
    cases = [
        (
            [paragraph("x" * 2001)],
            "body failed validation: body.children[0].paragraph.rich_text[0].text.content.length should be ≤ `2000`, "
            "instead was `2001`.",
        ),
        ([paragraph("x")] * 101, "body failed validation: body.children.length should be ≤ `100`, instead was `101`."),
        ([toggle], "body failed validation: body.children[0].toggle.children[0].toggle.children should be not present"),
        (
            [{"code": {"rich_text": text("x"), "language": "py"}}],
            'body failed validation: body.children[0].code.language should be `"abap"`, `"abc"`',
        ),
    ]
    nested = {"toggle": {"rich_text": text("t"), "children": [paragraph("x")] * 100}}
    cases.append(([nested] * 10, "body failed validation: body.children.blocks.length should be ≤ `1000`"))
    cases.append(([{"paragraph": {"rich_text": text("x" * 2000) * 100}}] * 3, "body.length should be ≤ `500000`"))
    for children, message in cases:
        status, body = await call(client, fake, "POST", "/v1/pages", {"parent": parent, "children": children})
        assert (status, body["code"]) == (400, "validation_error")
        assert message in body["message"]
    assert fake.pages(data_source_id) == []


async def test_append_children_and_read_them_back(client: Client, fake: FakeNotion) -> None:
    _, data_source_id = fake.add_database("Bugs")
    page_id = fake.add_page(data_source_id, "bug")["id"]
    path = f"/v1/blocks/{page_id}/children"

    status, body = await call(client, fake, "PATCH", path, {"children": [paragraph("b"), paragraph("c")]})
    assert status == 200
    assert len(body["results"]) == 2
    await call(client, fake, "PATCH", path, {"children": [paragraph("a")], "position": {"type": "start"}})
    status, listed = await call(client, fake, "GET", path, params={"page_size": "2"})
    _, rest = await call(client, fake, "GET", path, params={"start_cursor": listed["next_cursor"]})

    assert status == 200
    assert listed["has_more"] is True
    blocks = listed["results"] + rest["results"]
    assert [b["paragraph"]["rich_text"][0]["plain_text"] for b in blocks] == ["a", "b", "c"]
    assert blocks[0]["parent"] == {"type": "page_id", "page_id": page_id}


async def test_trashed_pages_cannot_be_edited(client: Client, fake: FakeNotion) -> None:
    _, data_source_id = fake.add_database("Bugs")
    page_id = fake.add_page(data_source_id, "bug")["id"]

    status, page = await call(client, fake, "PATCH", f"/v1/pages/{page_id}", {"in_trash": True})
    assert status == 200
    assert page["in_trash"] is True
    status, body = await call(client, fake, "PATCH", f"/v1/pages/{page_id}", {"properties": {"Name": {"title": []}}})

    assert (status, body["message"]) == (
        400,
        "Can't edit block that is archived. You must unarchive the block before editing.",
    )


async def test_commit_then_503_persists_the_page(client: Client, fake: FakeNotion) -> None:
    _, data_source_id = fake.add_database("Bugs")
    fake.fail_next("POST", "/v1/pages", 503, commit=True)

    status, body = await call(client, fake, "POST", "/v1/pages", {"parent": {"data_source_id": data_source_id}})

    assert (status, body["code"]) == (503, "service_unavailable")
    assert body["additional_data"]["retry_guidance"]
    [page] = fake.pages(data_source_id)
    assert body["additional_data"]["committed_resource_id"] == page["id"]


async def test_rate_limit_carries_retry_after_once(client: Client, fake: FakeNotion) -> None:
    fake.fail_next("GET", "/v1/users/me", 429, retry_after=49)

    async with client.get("/v1/users/me", headers=fake.headers()) as resp:
        body = await resp.json()
        assert (resp.status, resp.headers["Retry-After"]) == (429, "49")
    status, _ = await call(client, fake, "GET", "/v1/users/me")

    assert body["code"] == "rate_limited"
    assert body["additional_data"] == {"rate_limit_reason": "public_api_request_rate_limit", "retry_after": "49"}
    assert status == 200
    assert len(fake.calls("GET", "/v1/users/me")) == 2


async def test_connection_reset_and_edge_html(client: Client, fake: FakeNotion) -> None:
    fake.fail_next("*", "/v1/users/.*", 0, reset=True)
    fake.fail_next("GET", "/v1/users/me", 502, non_json=True)

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.get("/v1/users/me", headers=fake.headers())
    async with client.get("/v1/users/me", headers=fake.headers()) as resp:
        assert resp.status == 502
        assert resp.content_type == "text/html"
        assert "x-notion-request-id" not in resp.headers


async def test_users_paginate_and_emails_need_the_capability(aiohttp_client: MakeClient) -> None:
    for emails in (True, False):
        fake = FakeNotion(user_emails=emails)
        client = await aiohttp_client(fake.app())
        for n in range(3):
            fake.add_user(f"user {n}", f"u{n}@example.org")
        fake.add_user("guest", "g@example.org", guest=True)

        users: list[dict[str, Any]] = []
        params = {"page_size": "2"}
        while True:
            status, body = await call(client, fake, "GET", "/v1/users", params=params)
            assert status == 200
            assert body["type"] == "user"
            users += body["results"]
            if not body["has_more"]:
                break
            params["start_cursor"] = body["next_cursor"]

        people = [u for u in users if u["type"] == "person"]
        assert [u["name"] for u in people] == ["user 0", "user 1", "user 2"]
        assert [u["person"].get("email") for u in people] == (
            ["u0@example.org", "u1@example.org", "u2@example.org"] if emails else [None, None, None]
        )

    fake = FakeNotion(user_capability=False)
    client = await aiohttp_client(fake.app())
    status, body = await call(client, fake, "GET", "/v1/users")
    assert (status, body["code"]) == (403, "restricted_resource")


async def test_search_matches_titles(client: Client, fake: FakeNotion) -> None:
    _, data_source_id = fake.add_database("Bugs")
    fake.add_page(data_source_id, "Checkout crash")
    fake.add_page(data_source_id, "Login crash")

    _, pages = await call(
        client, fake, "POST", "/v1/search", {"query": "checkout", "filter": {"property": "object", "value": "page"}}
    )
    _, sources = await call(
        client, fake, "POST", "/v1/search", {"query": "bugs", "filter": {"property": "object", "value": "data_source"}}
    )

    assert [p["properties"]["Name"]["title"][0]["plain_text"] for p in pages["results"]] == ["Checkout crash"]
    assert [s["object"] for s in sources["results"]] == ["data_source"]


async def test_comment_on_a_page(client: Client, fake: FakeNotion) -> None:
    _, data_source_id = fake.add_database("Bugs")
    page_id = fake.add_page(data_source_id, "bug")["id"]
    body = {
        "parent": {"page_id": page_id},
        "rich_text": text("Linked from Sentry"),
        "display_name": {"type": "custom", "custom": {"name": "Sentry"}},
    }

    status, comment = await call(client, fake, "POST", "/v1/comments", body)

    assert status == 200
    assert comment["parent"] == {"type": "page_id", "page_id": page_id}
    assert comment["display_name"] == {"type": "custom", "resolved_name": "Sentry"}
    assert fake.comments == [comment]
