"""Fuzzing the routes of several databases and the database's own columns (issue 11), over the real app and Notion
adapter against the fake Notion server holding two databases, one with select and multi-select columns.

The promises under test:
- the option routes for databases, columns and status answer 200 with a JSON list whatever the query, the
  dependentData, the projectSlug and the column named in the path, and never write to Notion;
- the create form with any `database` and `column:<name>` fields answers a 4xx with a JSON message (and writes
  nothing) or creates the entry (201, or 200 for an issue that has one), never a 5xx.
"""

import json
import string
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpServer
from structlog.testing import capture_logs
from yarl import URL

from tests.fuzz.test_fuzz import (
    FEW,
    FUZZ,
    HEADER_TEXT,
    URL_RAW,
    huge,
    json_leaves,
    json_values,
    note,
    problem_message,
    query_texts,
)
from tests.support.fake_notion import FakeNotion
from tests.support.fake_notion.store import default_properties
from tests.support.sentry import INSTALLATION, description, issue_link_body, ui_headers
from tests.support.stack import Client, StartApp

DATABASES, STATUS, COLUMNS = "/sentry/options/databases", "/sentry/options/status", "/sentry/options/columns/"
CREATE = "/sentry/issue-link/create"
# Notion allows any character in a column's name; the UI schema puts it into the options URI percent-encoded.
ODD_NAMES = ("Area/Team", "Size {S}")
FORM_COLUMNS = ["Status", "Priority", {"name": "Tags", "type": "multi_select"}, *ODD_NAMES]
ISSUE_IDS = iter(range(800_000, 10_000_000))


class Workspace:
    """The fake Notion with the "Bugs" database (the default, with form columns) and "Payments" (project payments)."""

    def __init__(self, fake: FakeNotion, bugs: str, payments: str, env: dict[str, str]) -> None:
        self.fake, self.bugs, self.payments, self.env = fake, bugs, payments, env

    def writes(self) -> list[str]:
        # Notion's database query and search are POSTs that read; everything else but GET changes the workspace.
        reads = ("/query", "/v1/search")
        return [f"{r.method} {r.path}" for r in self.fake.calls() if r.method != "GET" and not r.path.endswith(reads)]


@pytest.fixture
async def workspace(aiohttp_server: AiohttpServer) -> Workspace:
    fake = FakeNotion(seed=13)
    bugs, _ = fake.add_database(
        "Bugs",
        properties=default_properties()
        | {
            "Priority": {"select": {"options": ["High", "Medium", "Low"]}},
            "Tags": {"multi_select": {"options": ["Backend", "Frontend", "Regression"]}},
        }
        | {name: {"select": {"options": ["S", "M"]}} for name in ODD_NAMES},
    )
    payments, _ = fake.add_database("Payments")
    server = await aiohttp_server(fake.app())
    config = {
        "databases": [
            {"name": "Bugs", "database_id": bugs, "column_names": {"status": "Status"}, "form_columns": FORM_COLUMNS},
            {"name": "Payments", "database_id": payments, "projects": ["payments"]},
        ],
        "default": "Bugs",
    }
    env = {
        "NOTION_API_BASE_URL": str(server.make_url("")).rstrip("/"),
        "NOTION_TOKEN": fake.token,
        "NOTION_CONFIG": json.dumps(config),
        "NOTION_RATE_LIMIT": "100000",
    }
    return Workspace(fake, bugs, payments, env)


@pytest.fixture
async def client(start_app: StartApp, workspace: Workspace) -> Client:
    # No Redis: nothing shared between examples but the fake Notion.
    client = await start_app(redis_url="", **workspace.env)
    # The schemas are read once, so that each example asks only what it fuzzes.
    resp = await client.get(f"{STATUS}?installationId={INSTALLATION}", headers=ui_headers(b""))
    assert [o["value"] for o in await resp.json()], "the status column offers its options"
    return client


# ---------------------------------------------------------------------------------------------------------------
# Option routes


def percent_junk(draw: st.DrawFn) -> str:
    return draw(
        st.one_of(
            st.text(URL_RAW.replace("/", "").replace("?", ""), min_size=1, max_size=60),
            st.text(HEADER_TEXT, min_size=1, max_size=40).map(lambda t: quote(t, safe="")),
            st.binary(min_size=1, max_size=40).map(lambda b: "".join(f"%{c:02x}" for c in b)),
            st.sampled_from(("%", "%zz", "%00", "%2F", "..", "%2e%2e", "%ff%fe", "Status", "Priority", "Tags")),
            huge(st.sampled_from(string.ascii_letters + "%"), 1000, 6000),
        )
    )


dependent_data = st.one_of(
    st.just(None),
    st.text(max_size=60),  # malformed JSON
    json_values.map(lambda v: json.dumps(v)),  # wrong types
    json_leaves.map(lambda v: json.dumps({"database": v})),
    st.sampled_from(("{", '{"database":', '{"database": null}', "[]", "null", '{"database": ["x"]}')),
    huge(st.sampled_from('{"database":[1,'), 2000, 6000),  # huge
)
project_slugs = st.one_of(st.just(None), query_texts, st.sampled_from(("payments", "backend", "", "PAYMENTS")))


@st.composite
def option_urls(draw: st.DrawFn, workspace_ids: tuple[str, str]) -> str:
    route = draw(st.sampled_from((DATABASES, STATUS, "column")))
    path = COLUMNS + percent_junk(draw) if route == "column" else route
    params = [("installationId", INSTALLATION)]
    for key, value in (
        ("query", draw(st.one_of(st.just(None), query_texts))),
        ("projectSlug", draw(project_slugs)),
        ("dependentData", draw(st.one_of(dependent_data, st.sampled_from(workspace_ids).map(database_json)))),
    ):
        if value is not None:
            params.append((key, value))
    query = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in params)
    url = f"{path}?{query}"
    assume(len(url) < 7500)  # aiohttp refuses request lines over 8190 bytes before the app sees them
    return url


def database_json(database_id: str) -> str:
    return json.dumps({"database": database_id}, separators=(",", ":"))


async def test_the_fuzzed_option_routes_answer_real_options_for_well_formed_requests(
    client: Client, workspace: Workspace
) -> None:
    # The fuzz below is only worth something if the same routes answer non-empty lists when asked properly.
    def get(path: str) -> str:
        return f"{path}?installationId={INSTALLATION}&dependentData={quote_plus(database_json(workspace.bugs))}"

    found = {}
    odd = [COLUMNS + quote(name, safe="") for name in ODD_NAMES]
    for path in (DATABASES, STATUS, COLUMNS + "Priority", COLUMNS + "Tags", *odd):
        resp = await client.get(get(path), headers=ui_headers(b""))
        found[path] = [o["label"] for o in await resp.json()]
    assert found[DATABASES] == ["Bugs", "Payments"]
    assert "Not started" in found[STATUS]
    assert found[COLUMNS + "Priority"] == ["High", "Medium", "Low"]
    assert found[COLUMNS + "Tags"] == ["Backend", "Frontend", "Regression"]
    assert [found[path] for path in odd] == [["S", "M"], ["S", "M"]]


@FUZZ
@given(data=st.data())
async def test_option_routes_for_databases_and_columns_always_answer_a_json_list(
    client: Client, workspace: Workspace, data: st.DataObject
) -> None:
    url = data.draw(option_urls((workspace.bugs, workspace.payments)), label="url")
    writes = len(workspace.writes())

    with capture_logs():
        resp = await client.session.get(URL(f"{client.make_url('')}{url}", encoded=True), headers=ui_headers(b""))

    raw = await resp.read()
    assert resp.status == 200, (resp.status, raw[:500])
    options = json.loads(raw)
    assert isinstance(options, list)
    note(f"{len(options)} options")
    assert all(isinstance(o.get("label"), str) and isinstance(o.get("value"), str) for o in options), options
    assert workspace.writes()[writes:] == []


# ---------------------------------------------------------------------------------------------------------------
# The create form's database and columns


form_values = st.one_of(
    json_values,
    st.sampled_from(("High", "high", " Medium ", "Backend, Frontend", "Backend,,", "Nope", "Done", "Not started")),
    st.lists(st.sampled_from(("Backend", "Frontend", "Nope", "")), max_size=4),
    st.text(HEADER_TEXT, max_size=60),
    huge(st.sampled_from("ab ,"), 2000, 5000),
)
column_names = st.one_of(
    st.sampled_from(("Status", "Priority", "Tags", "status", "Title", "Sentry Link", "Assignee", "")),
    st.text(max_size=30),
    huge(st.sampled_from("x%"), 500, 3000),
)


@st.composite
def form_fields(draw: st.DrawFn, workspace_ids: tuple[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {"title": "TypeError: x is undefined", "description": description("BACKEND-1", 1, "at")}
    database = draw(
        st.one_of(
            st.sampled_from(workspace_ids),
            st.sampled_from(workspace_ids).map(lambda d: d.replace("-", "").upper()),
            st.sampled_from(workspace_ids).map(lambda d: f"https://www.notion.so/acme/{d.replace('-', '')}?v=1"),
            json_leaves,
            st.text(HEADER_TEXT, max_size=40),
        )
    )
    if draw(st.booleans()):
        fields["database"] = database
    for name in draw(st.lists(column_names, max_size=4)):
        fields[f"column:{name}"] = draw(form_values)
    return fields


async def create(client: Client, fields: dict[str, Any], issue: int) -> tuple[int, Any]:
    body = issue_link_body(fields, issue_id=issue)
    with capture_logs():
        resp = await client.post(CREATE, data=body, headers=ui_headers(body))
    if resp.status >= 400:
        return resp.status, await problem_message(resp)
    return resp.status, await resp.json()


@FEW
@given(data=st.data())
@example(data=None)
async def test_the_create_form_with_any_database_and_columns_never_gets_a_5xx(
    client: Client, workspace: Workspace, data: st.DataObject | None
) -> None:
    ids = (workspace.bugs, workspace.payments)
    if data is None:  # the form as Sentry sends it, filled in properly
        fields = {"title": "TypeError", "database": workspace.bugs, "column:Priority": "High", "column:Tags": "Backend"}
    else:
        fields = data.draw(form_fields(ids), label="fields")
    writes = len(workspace.writes())

    status, answer = await create(client, fields, next(ISSUE_IDS))

    note(f"create answered {status}")
    assert status < 500, (status, answer, fields)
    if status >= 400:
        assert workspace.writes()[writes:] == [], (status, answer)
        return
    assert status == 201, (status, answer)
    assert set(answer) == {"webUrl", "project", "identifier"}
    assert answer["project"] in ("Bugs", "Payments")
    assert any(w.startswith("POST /v1/pages") for w in workspace.writes()[writes:])
