import json

import pytest

from settings import ConfigError, Need, Settings

ENV = {
    "NOTION_TOKEN": "ntn_test",
    "NOTION_CONFIG": '{"database_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}',
    "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET": "s1",
}


def test_defaults() -> None:
    settings = Settings.from_env(ENV)

    assert settings.notion is not None
    assert settings.notion.database_id == "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    columns = settings.notion.column_names
    assert (columns.assignee, columns.id, columns.sentry_url) == ("Assignee", "ID", "Sentry Link")
    assert (settings.cache_timeout_s, settings.redis_url, settings.cache_backend) == (21600, None, "memory")
    assert (settings.notion_api_base_url, settings.log_level) == ("https://api.notion.com", "info")


def test_database_link_secrets_list_and_redis_host() -> None:
    settings = Settings.from_env(
        ENV
        | {
            "NOTION_CONFIG": '{"database_id": "https://www.notion.so/acme/0f1e2d3c4b5a69788796a5b4c3d2e1f0?v=1f2e",'
            ' "column_names": {"sentry_url": "Sentry"}}',
            "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET": "new, old ,",
            "REDIS_HOST": "redis",
        }
    )

    assert settings.notion is not None
    assert settings.notion.database_id == "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    assert settings.notion.column_names.sentry_url == "Sentry"
    assert settings.client_secrets == ("new", "old")
    assert settings.redis_url == "redis://redis:6379/0"


def test_notion_webhook_tokens_are_optional_and_comma_separated_to_rotate() -> None:
    assert Settings.from_env(ENV).notion_webhook_secrets == ()
    rotating = Settings.from_env(ENV | {"NOTION_WEBHOOK_SECRET": " secret_new, secret_old ,"})

    assert rotating.notion_webhook_secrets == ("secret_new", "secret_old")
    assert "secret_new" not in repr(rotating)


def test_a_worker_plans_on_the_entries_last_seen_only_while_notion_tells_it_of_their_changes() -> None:
    worker = frozenset({Need.NOTION, Need.REDIS})  # what `sentry-notion worker` reads
    two_way = ENV | {"REDIS_HOST": "redis", "SENTRY_API_TOKEN": "sntrys_x", "SENTRY_ORG": "acme"}

    assert Settings.from_env(two_way | {"NOTION_WEBHOOK_SECRET": "secret_x"}, worker).seen_pages_backend == "redis"
    assert Settings.from_env(two_way, worker).seen_pages_backend == "none"


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"NOTION_TOKEN": ""}, "NOTION_TOKEN"),
        ({"NOTION_CONFIG": "{"}, "NOTION_CONFIG"),
        ({"NOTION_CONFIG": '{"database_id": "nope"}'}, "NOTION_CONFIG"),
        ({"NOTION_CONFIG": '{"database_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "columns": {}}'}, "NOTION_CONFIG"),
        ({"SENTRY_NOTION_INTEGRATION_CLIENT_SECRET": " , "}, "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET"),
        ({"CACHE_TIMEOUT": "six hours"}, "CACHE_TIMEOUT"),
        ({"REDIS_HOST": "redis", "REDIS_PORT": "0"}, "REDIS_PORT"),
        ({"REDIS_URL": "http://redis"}, "REDIS_URL"),
        ({"NOTION_API_BASE_URL": "api.notion.com"}, "NOTION_API_BASE_URL"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ],
)
def test_a_wrong_value_names_its_variable(change: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(ENV | change)

    assert str(caught.value).startswith(variable)
    assert "ntn_test" not in str(caught.value)
    assert "s1" not in str(caught.value)


def test_missing_secret_is_reported_by_name() -> None:
    env = {k: v for k, v in ENV.items() if k != "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET"}

    with pytest.raises(ConfigError, match=r"^SENTRY_NOTION_INTEGRATION_CLIENT_SECRET is not set"):
        Settings.from_env(env)


@pytest.mark.parametrize("raw", ["0", "1.5", "half", "-0.5", "nan"])
def test_search_share_is_a_fraction(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"^NOTION_SEARCH_SHARE must be a fraction above 0 and at most 1"):
        Settings.from_env(ENV | {"NOTION_SEARCH_SHARE": raw})

    assert Settings.from_env(ENV).notion_search_share == 0.5
    assert Settings.from_env(ENV | {"NOTION_SEARCH_SHARE": "0.25"}).notion_search_share == 0.25


PAYMENTS, BUGS = "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "1a2b3c4d5e6f70819203a4b5c6d7e8f9"


def several(**config: object) -> dict[str, str]:
    return ENV | {"NOTION_CONFIG": json.dumps(config)}


def test_several_databases_with_projects_and_a_default_that_comes_first() -> None:
    settings = Settings.from_env(
        several(
            databases=[
                {"name": "Payments", "database_id": PAYMENTS, "projects": ["payments", "billing"]},
                {"name": "Bugs", "database_id": BUGS, "column_names": {"status": "Status"}, "sync": {"status": False}},
            ],
            default="bugs",
        )
    )

    assert [(d.name, d.projects) for d in settings.databases] == [("Bugs", ()), ("Payments", ("payments", "billing"))]
    assert settings.notion is settings.databases[0]
    assert settings.notion.column_names.status == "Status"
    assert not settings.notion.sync.status
    assert settings.database_ids == ("1a2b3c4d-5e6f-7081-9203-a4b5c6d7e8f9", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")


def test_without_a_default_the_first_database_is_it() -> None:
    settings = Settings.from_env(
        several(databases=[{"name": "Payments", "database_id": PAYMENTS}, {"name": "Bugs", "database_id": BUGS}])
    )

    assert [d.name for d in settings.databases] == ["Payments", "Bugs"]


def test_one_database_is_the_only_one() -> None:
    settings = Settings.from_env(ENV)

    assert settings.databases == (settings.notion,)
    assert settings.database_ids == ("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",)


def test_every_routing_mistake_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(
            several(
                databases=[
                    {"name": "Payments", "database_id": PAYMENTS, "projects": ["billing"]},
                    {"name": "payments", "database_id": BUGS, "projects": ["billing"]},
                    {"database_id": BUGS},
                ],
                default="Marketing",
            )
            | {"CACHE_TIMEOUT": "soon"}
        )

    assert raised.value.problems == (
        "NOTION_CONFIG names the database 'payments' twice; give each its own name.",
        "NOTION_CONFIG routes the Sentry project 'billing' to both 'Payments' and 'payments'; route it to one.",
        'NOTION_CONFIG databases.2 has no name; name each database, like "Payments".',
        "NOTION_CONFIG default 'Marketing' is none of the databases' names ('Payments', 'payments', '').",
        "CACHE_TIMEOUT must be a whole number from 1 to 2592000, got 'soon'.",
    )


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"databases": []}, "NOTION_CONFIG is not valid: databases: Tuple should have at least 1 item"),
        (
            {"databases": [{"name": "Bugs", "database_id": "nope"}]},
            "NOTION_CONFIG is not valid: databases.0.database_id",
        ),
        ({"databases": [{"name": "Bugs", "database_id": BUGS}], "routes": {}}, "NOTION_CONFIG is not valid: routes"),
    ],
)
def test_a_malformed_list_of_databases_says_where(config: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(ENV | {"NOTION_CONFIG": json.dumps(config)})

    (found,) = raised.value.problems
    assert found.startswith(problem)


def test_a_misspelt_sync_switch_is_named() -> None:
    config = {"database_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "sync": {"read_befor_write": True}}
    with pytest.raises(ConfigError, match=r"sync\.read_befor_write: Extra inputs are not permitted"):
        Settings.from_env(ENV | {"NOTION_CONFIG": json.dumps(config)})
