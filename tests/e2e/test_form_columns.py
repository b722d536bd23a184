# ruff: noqa: F811  (pytest fixtures imported from test_webhooks are parameters here)
# The database's own columns in Sentry's forms: the schema printed for NOTION_CONFIG, the options Sentry loads for
# them (signed, with dependentData), and the values the create form and an alert rule set, down to the fake Notion's
# page properties.

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pytest_aiohttp import AiohttpServer

import cli
from tests.e2e.test_alerts import RULE_ACTION, deliver, entries, rule_save
from tests.e2e.test_webhooks import StartWorker, env, start_worker  # noqa: F401
from tests.support.fake_notion import FakeNotion
from tests.support.fake_notion.store import default_properties
from tests.support.sentry import INSTALLATION, event_alert, issue_link_body, ui_headers
from tests.support.sentry_schema import validate_ui_schema
from tests.support.stack import Client, Notion, StartApp

CREATE = "/sentry/issue-link/create"
FORM_COLUMNS = ["Status", "Priority", "Team", {"name": "Tags", "type": "multi_select"}]


@pytest.fixture
async def notion(aiohttp_server: AiohttpServer) -> Notion:
    fake = FakeNotion(seed=11)
    database_id, data_source_id = fake.add_database(
        "Bugs",
        properties=default_properties()
        | {
            "Priority": {"select": {"options": ["High", "Medium", "Low"]}},
            "Team": {"select": {"options": ["Payments", "Checkout"]}},
            "Tags": {"multi_select": {"options": ["Backend", "Frontend", "Regression"]}},
        },
    )
    server = await aiohttp_server(fake.app())
    return Notion(fake, str(server.make_url("")).rstrip("/"), database_id, data_source_id)


@pytest.fixture
def form_env(env: dict[str, str], notion: Notion) -> dict[str, str]:
    config = {"database_id": notion.database_id, "column_names": {"status": "Status"}, "form_columns": FORM_COLUMNS}
    return env | {"NOTION_CONFIG": json.dumps(config)}


@pytest.fixture
async def client(start_app: StartApp, form_env: dict[str, str]) -> Client:
    return await start_app(**form_env)


def options_url(uri: str, query: str = "", dependent: dict[str, str] | None = None) -> str:
    # SelectRequester._build_url: installationId, projectSlug, query when not empty, dependentData as JSON text.
    params = {"installationId": INSTALLATION, "projectSlug": "backend"}
    if query:
        params["query"] = query
    if dependent is not None:
        params["dependentData"] = json.dumps(dependent, separators=(",", ":"))
    return f"{uri}?{urlencode(params)}"


async def options(client: Client, url: str) -> Any:
    resp = await client.get(url, headers=ui_headers(b""))
    assert resp.status == 200, await resp.text()
    return await resp.json()


def values(found: list[dict[str, str]]) -> list[str]:
    return [o["value"] for o in found]


def prop(notion: Notion, page: dict[str, Any], column: str) -> Any:
    value = notion.fake.page(page["id"])["properties"][column]
    return value[value["type"]]


# ----- the schema for NOTION_CONFIG -----


def test_ui_schema_prints_the_committed_schema_for_the_default_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing but NOTION_CONFIG: no token, no secret, no Redis.
    for name in ("NOTION_TOKEN", "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET", "REDIS_URL", "REDIS_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NOTION_CONFIG", '{"database_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}')

    cli.main(["ui-schema"])

    committed = (Path(__file__).parents[2] / "sentry_ui_schema.json").read_text(encoding="utf-8")
    assert capsys.readouterr().out == committed


def test_ui_schema_lists_every_databases_columns_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    databases = [
        {"name": "Bugs", "database_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "form_columns": ["Priority", "Team"]},
        {
            "name": "Payments",
            "database_id": "1f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "projects": ["payments"],
            "form_columns": ["Team", {"name": "Tags", "type": "multi_select"}],
        },
    ]
    monkeypatch.setenv("NOTION_CONFIG", json.dumps({"databases": databases}))

    cli.main(["ui-schema"])

    schema = json.loads(capsys.readouterr().out)
    validate_ui_schema(schema)
    create = schema["elements"][0]["create"]["optional_fields"]
    assert [f["name"] for f in create if f["name"].startswith("column:")] == [
        "column:Priority",
        "column:Team",
        "column:Tags",
    ]


def test_ui_schema_without_notion_config_names_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NOTION_CONFIG", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli.main(["ui-schema"])
    assert exited.value.code == 1
    assert capsys.readouterr().err.startswith("sentry-notion: NOTION_CONFIG is not set; expected ")


async def test_every_select_of_the_printed_schema_answers_with_its_columns_options(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    client: Client,
    form_env: dict[str, str],
    notion: Notion,
) -> None:
    monkeypatch.setenv("NOTION_CONFIG", form_env["NOTION_CONFIG"])
    cli.main(["ui-schema"])
    schema = json.loads(capsys.readouterr().out)
    validate_ui_schema(schema)
    (link,) = [e for e in schema["elements"] if e["type"] == "issue-link"]
    (action,) = [e for e in schema["elements"] if e["type"] == "alert-rule-action"]
    create = {f["name"]: f for f in link["create"]["optional_fields"]}
    rule = {f["name"]: f for f in action["settings"]["optional_fields"]}
    database = {"database": notion.database_id}

    assert values(await options(client, options_url(create["column:Priority"]["uri"]))) == ["High", "Medium", "Low"]
    assert values(await options(client, options_url(create["column:Status"]["uri"]))) == [
        "Not started",
        "In progress",
        "Done",
    ]
    assert create["column:Tags"]["type"] == "text"
    assert values(await options(client, options_url(rule["column:Team"]["uri"], dependent=database))) == [
        "Payments",
        "Checkout",
    ]
    assert values(await options(client, options_url(rule["status"]["uri"], dependent=database))) == [
        "Not started",
        "In progress",
        "Done",
    ]
    assert "column:Status" not in rule  # the fixed status is the status column already


# ----- the options Sentry loads -----


async def test_options_come_from_the_cached_schema_filtered_by_the_query(client: Client, notion: Notion) -> None:
    database = {"database": notion.database_id}
    assert values(await options(client, options_url("/sentry/options/columns/Priority", dependent=database))) == [
        "High",
        "Medium",
        "Low",
    ]
    reads = len(notion.fake.calls("GET", r"/v1/data_sources/.*"))

    for typed in ("m", "me", "med"):
        found = await options(client, options_url("/sentry/options/columns/Priority", typed, database))
        assert found == [{"label": "Medium", "value": "Medium"}]

    assert len(notion.fake.calls("GET", r"/v1/data_sources/.*")) == reads  # no Notion call per keystroke


@pytest.mark.parametrize(
    "url",
    [
        options_url("/sentry/options/columns/Priority", dependent={"database": "0" * 32}),  # not configured
        options_url("/sentry/options/columns/Owner"),  # not offered
        options_url("/sentry/options/columns/Sentry%20Link"),  # a column, but not one the forms offer
        options_url("/sentry/options/columns/Priority", "urgent"),
    ],
)
async def test_options_of_nothing_offered_are_an_empty_list(client: Client, url: str) -> None:
    assert await options(client, url) == []


async def test_options_while_notion_is_down_are_an_empty_list(client: Client, notion: Notion) -> None:
    notion.fake.fail_next("*", ".*", 503, times=50)
    url = options_url("/sentry/options/columns/Priority", dependent={"database": notion.database_id})
    assert await options(client, url) == []


async def test_options_need_sentrys_signature(client: Client) -> None:
    resp = await client.get(options_url("/sentry/options/status"), headers=ui_headers(b"", "another-secret"))
    assert resp.status == 401


# ----- the create form -----


async def test_create_sets_status_select_and_multi_select_columns(client: Client, notion: Notion) -> None:
    body = issue_link_body(
        {
            "title": "Checkout is broken",
            "column:Status": "In progress",
            "column:Priority": "high",  # matched to the option whatever its case
            "column:Team": "",  # left empty: the database's default
            "column:Tags": "backend,  Regression, backend",
            "column:Owner": "",  # not offered, and empty: nothing to refuse
        }
    )

    resp = await client.post(CREATE, data=body, headers=ui_headers(body))

    assert resp.status == 201, await resp.text()
    (page,) = entries(notion)
    assert prop(notion, page, "Status")["name"] == "In progress"
    assert prop(notion, page, "Priority")["name"] == "High"
    assert prop(notion, page, "Team") is None
    assert [t["name"] for t in prop(notion, page, "Tags")] == ["Backend", "Regression"]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("column:Priority", "Urgent", "The column 'Priority' has no option 'Urgent'; choose from: High, Medium, Low."),
        (
            "column:Owner",
            "Ada",
            "This database's forms do not offer the column(s) 'Owner' (NOTION_CONFIG form_columns)",
        ),
        (
            "column:Tags",
            "Backend, infra, ui",
            "The column 'Tags' has no option 'infra', 'ui'; choose from: Backend, Frontend, Regression.",
        ),
        ("column:Status", "Blocked", "choose from: Not started, In progress, Done."),
    ],
)
async def test_an_unknown_option_is_refused_naming_the_column_and_nothing_is_created(
    client: Client, notion: Notion, field: str, value: str, says: str
) -> None:
    body = issue_link_body({"title": "Checkout is broken", field: value})

    resp = await client.post(CREATE, data=body, headers=ui_headers(body))

    assert resp.status == 400
    assert says in (await resp.json())["message"]
    assert entries(notion) == []
    assert notion.fake.calls("POST", "/v1/pages") == []


# ----- the alert rule -----


async def test_a_rule_with_a_bad_fixed_status_is_refused(client: Client, notion: Notion) -> None:
    body = rule_save([{"name": "database", "value": notion.database_id}, {"name": "status", "value": "Shipped"}])

    resp = await client.post(RULE_ACTION, data=body, headers=ui_headers(body))

    assert resp.status == 400
    assert (await resp.json())["message"] == (
        "The column 'Status' has no option 'Shipped'; choose from: Not started, In progress, Done."
    )


async def test_a_rule_with_a_bad_fixed_column_is_refused(client: Client, notion: Notion) -> None:
    fields = [{"name": "database", "value": notion.database_id}, {"name": "column:Team", "value": "Platform"}]
    body = rule_save(fields)

    resp = await client.post(RULE_ACTION, data=body, headers=ui_headers(body))

    assert resp.status == 400
    assert "The column 'Team' has no option 'Platform'" in (await resp.json())["message"]


FIXED = [
    {"name": "status", "value": "In progress", "label": "In progress"},
    {"name": "column:Priority", "value": "High", "label": "High"},
    {"name": "column:Tags", "value": "Backend, Regression"},
]


async def test_an_alert_creates_its_entry_with_the_rules_fixed_values(
    client: Client, form_env: dict[str, str], notion: Notion, start_worker: StartWorker
) -> None:
    settings = [{"name": "database", "value": notion.database_id, "label": "Bugs"}, *FIXED]
    saved = rule_save(settings)
    assert (await client.post(RULE_ACTION, data=saved, headers=ui_headers(saved))).status == 200
    worker = await start_worker(form_env)

    assert await deliver(client, "event_alert", event_alert(4242, settings)) == "queued"
    await worker.wait(1)

    (page,) = entries(notion)
    assert prop(notion, page, "Status")["name"] == "In progress"
    assert prop(notion, page, "Priority")["name"] == "High"
    assert [t["name"] for t in prop(notion, page, "Tags")] == ["Backend", "Regression"]
