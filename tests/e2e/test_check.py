import json
import os
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from adapters.notion.workspace import CAPABILITIES
from adapters.redis_queue import RedisJobQueue
from adapters.redis_store import RedisCircuitBreaker, RedisVerificationTokens, open_redis
from adapters.urls import without_credentials
from cli import check
from domain.models import Job
from tests.support.fake_notion import FakeNotion
from tests.support.fake_sentry import FakeSentry
from tests.support.real_redis import REDIS_URL

pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.fixture
async def notion(aiohttp_server: AiohttpServer, monkeypatch: pytest.MonkeyPatch, redis_prefix: str) -> FakeNotion:
    fake = FakeNotion()
    server = await aiohttp_server(fake.app())
    monkeypatch.setenv("NOTION_TOKEN", fake.token)
    monkeypatch.setenv("NOTION_API_BASE_URL", str(server.make_url("")))
    monkeypatch.setenv("SENTRY_NOTION_INTEGRATION_CLIENT_SECRET", "s3cr3t")
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("REDIS_PREFIX", redis_prefix)
    return fake


def use(monkeypatch: pytest.MonkeyPatch, database_id: str) -> None:
    monkeypatch.setenv("NOTION_CONFIG", f'{{"database_id": "{database_id}"}}')


async def test_a_good_setup_passes_every_check(
    notion: FakeNotion, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database_id, data_source_id = notion.add_database("Bugs")
    notion.add_user("Ada Lovelace", "ada@example.org")
    use(monkeypatch, database_id)

    assert await check() == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "✓ Client secret: 1 set in SENTRY_NOTION_INTEGRATION_CLIENT_SECRET",
        "✓ Notion token: valid: 'Sentry Sync' in workspace 'Acme'",
        f"✓ Notion database: 'Bugs' is shared with the integration; data source {data_source_id}",
        "✓ Column 'ID': unique_id, prefix 'BUG'",
        "✓ Column 'Sentry Link': url",
        "✓ Column 'Assignee': people",
        "✓ Notion comments: not checked: the database has no entry to read comments of",
        f"    → Enable Read comments and Insert comments in the integration's Capabilities (Notion: {CAPABILITIES});"
        " run check again once an entry exists.",
        "✓ Notion user emails: the integration reads people's emails, to match assignees",
        f"✓ Redis: answers at {without_credentials(REDIS_URL)}",
        "✓ Job queue: 0 job(s) waiting, 0 worker(s) seen, 0 dead letter(s)",
        "! Notion webhook secret: NOTION_WEBHOOK_SECRET is not set: Notion → Sentry sync is off: Notion's events "
        "are refused",
        "    → Set up the subscription (README, Notion webhooks) and set NOTION_WEBHOOK_SECRET.",
        "– Status sync Sentry → Notion: off (no status column named in NOTION_CONFIG column_names.status)",
        "– Status sync Notion → Sentry: off (no status column named in NOTION_CONFIG column_names.status; "
        "SENTRY_API_TOKEN not set; NOTION_WEBHOOK_SECRET not set)",
        "✓ Assignee sync Sentry → Notion: on (column 'Assignee', matched by email)",
        "– Assignee sync Notion → Sentry: off (SENTRY_API_TOKEN not set; NOTION_WEBHOOK_SECRET not set)",
        "✓ Comment sync Sentry → Notion: on (Sentry comments become Notion comments)",
        "– Comment sync Notion → Sentry: off (SENTRY_API_TOKEN not set; NOTION_WEBHOOK_SECRET not set)",
        "– Issue details: off (no column named in NOTION_CONFIG column_names for any of level, events, users, "
        "first_seen, last_seen, release, environment)",
        "– Live details, back-links and reconcile: off (SENTRY_API_TOKEN not set)",
    ]


async def test_a_missing_column_says_how_to_fix_it(
    notion: FakeNotion, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database_id, _ = notion.add_database("Bugs", {"ID": {"unique_id": {"prefix": None}}, "Link": {"url": {}}})
    use(monkeypatch, database_id)

    assert await check() == 1

    out = capsys.readouterr().out
    assert "✓ Column 'ID': unique_id, no prefix" in out
    assert "✗ Column 'Sentry Link': missing (needs type url)\n    → Add it in Notion, or name the existing" in out
    assert "column_names.sentry_url" in out
    assert "Traceback" not in out


async def test_an_unshared_database_says_to_add_the_connection(
    notion: FakeNotion, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database_id, _ = notion.add_database("Bugs", shared=False)
    use(monkeypatch, database_id)

    assert await check() == 1

    out = capsys.readouterr().out
    assert "✓ Notion token" in out
    assert "✗ Notion database:" in out
    assert "Connections" in out


async def test_a_bad_token_and_dead_redis_are_reported(
    notion: FakeNotion, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, notion.add_database("Bugs")[0])
    monkeypatch.setenv("NOTION_TOKEN", "secret_wrong")
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")

    assert await check() == 1

    out = capsys.readouterr().out
    assert "✗ Notion token: Notion rejected the integration token (NOTION_TOKEN)" in out
    assert "✗ Redis: does not answer at redis://127.0.0.1:1/0" in out
    assert "hunter2" not in out
    assert "secret_wrong" not in out


async def test_a_broken_configuration_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("NOTION_TOKEN", "NOTION_CONFIG", "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)

    assert await check() == 1

    assert capsys.readouterr().out.startswith("✗ Configuration: NOTION_TOKEN is not set;")


async def test_sync_columns_and_status_options_are_checked(
    notion: FakeNotion, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    columns: dict[str, dict[str, Any]] = {
        "ID": {"unique_id": {"prefix": "BUG"}},
        "Sentry Link": {"url": {}},
        "Assignee": {"people": {}},
    }
    sync: dict[str, dict[str, Any]] = {"Status": {"status": {}}, "Events": {"rich_text": {}}, "Seen": {"date": {}}}
    database_id, _ = notion.add_database("Bugs", columns | sync)
    config = {
        "database_id": database_id,
        "column_names": {"status": "Status", "events": "Events", "last_seen": "Seen", "level": "Level"},
        "sync": {"status_options": {"resolved": "Shipped", "regressed": "Not started", "archived": None}},
    }
    monkeypatch.setenv("NOTION_CONFIG", json.dumps(config))

    assert await check() == 1

    out = capsys.readouterr().out
    assert "✓ Column 'Status': status, groups To-do (Not started), In progress (In progress), Complete (Done)" in out
    assert "✗ Column 'Events': is rich_text, needs number" in out
    assert "✓ Column 'Seen': date" in out
    assert "✗ Column 'Level': missing (needs type select or rich_text)" in out
    assert "✗ Status option 'Shipped': named in NOTION_CONFIG sync.status_options" in out
    assert "Status option 'Not started'" not in out


async def test_form_columns_missing_or_of_another_type_say_how_to_fix_them(
    notion: FakeNotion, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    columns: dict[str, dict[str, Any]] = {
        "Priority": {"select": {"options": [{"name": "High"}]}},
        "Tags": {"multi_select": {}},
        "Team": {"select": {}},
        "Notes": {"rich_text": {}},
    }
    database_id, _ = notion.add_database("Bugs", columns)
    form_columns = ["Priority", "Tags", {"name": "Team", "type": "multi_select"}, "Notes", "Squad"]
    monkeypatch.setenv("NOTION_CONFIG", json.dumps({"database_id": database_id, "form_columns": form_columns}))

    assert await check() == 1

    out = capsys.readouterr().out
    assert "✓ Column 'Priority': select\n" in out
    assert (
        "✗ Column 'Tags': is multi_select, needs status or select\n"
        '    → Write it in NOTION_CONFIG form_columns as {"name": "Tags", "type": "multi_select"}.\n'
    ) in out
    assert (
        "✗ Column 'Team': is select, needs multi_select\n    → Write it in NOTION_CONFIG form_columns as \"Team\".\n"
    ) in out
    assert (
        "✗ Column 'Notes': is rich_text, needs status or select\n"
        "    → The forms offer status, select and multi-select columns: change its type in Notion, or remove it "
        "from NOTION_CONFIG form_columns.\n"
    ) in out
    assert (
        "✗ Column 'Squad': missing (needs type status or select)\n"
        "    → Add it in Notion, or correct or remove its name in NOTION_CONFIG form_columns.\n"
    ) in out


async def test_jobs_waiting_with_no_worker_say_to_run_one(
    notion: FakeNotion, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], redis_prefix: str
) -> None:
    use(monkeypatch, notion.add_database("Bugs")[0])
    job = Job(kind="sentry.issue", key="inst-1:issue:1:resolved", action="resolved", body={}, received_at=0)
    async with open_redis(url=REDIS_URL) as redis:
        assert await RedisJobQueue(redis, prefix=redis_prefix, consumer="serve-only").enqueue(job)

    assert await check() == 1

    out = capsys.readouterr().out
    assert "✗ Job queue: 1 job(s) waiting, the oldest for " in out
    assert "and no worker seen in the last 30 s\n    → Run `sentry-notion worker`, or serve without --no-worker." in out


@pytest.fixture
async def sentry(aiohttp_server: AiohttpServer, monkeypatch: pytest.MonkeyPatch) -> FakeSentry:
    fake = FakeSentry()
    server = await aiohttp_server(fake.app())
    monkeypatch.setenv("SENTRY_API_TOKEN", fake.token)
    monkeypatch.setenv("SENTRY_URL", str(server.make_url("")).rstrip("/"))
    monkeypatch.setenv("SENTRY_ORG", fake.organization)
    return fake


def sentry_lines(out: str) -> list[str]:
    """The Sentry findings, each with its fix."""
    lines, sentry = [], False
    for line in out.splitlines():
        if not line.startswith("    → "):
            sentry = line.startswith(("✓ Sentry", "✗ Sentry"))
        if sentry:
            lines.append(line)
    return lines


async def test_a_good_sentry_token_shows_its_scopes_and_turns_on_live_details(
    notion: FakeNotion, sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database_id, data_source_id = notion.add_database("Bugs")
    notion.add_page(data_source_id, "Crash on login")
    use(monkeypatch, database_id)
    url = os.environ["SENTRY_URL"]

    assert await check() == 0

    out = capsys.readouterr().out
    assert sentry_lines(out) == [
        f"✓ Sentry token: accepted by {url} (SENTRY_URL); scopes event:read, event:write",
        "✓ Sentry organization: 'acme': the token reads its issues",
        "✓ Sentry scope event:read: the token may read issues: live details, status and assignee, reconcile",
        "✓ Sentry scope event:write: the token may post notes and update issues (back-links; status, assignee and "
        "comments from Notion)",
    ]
    assert "✓ Notion comments: Read comments is on; Insert comments cannot be checked without writing a comment" in out
    assert "✓ Live details, back-links and reconcile: on (SENTRY_API_TOKEN set)" in out
    assert [c for c in sentry.requests if c.method != "GET"] == []  # check writes nothing to Sentry
    assert notion.comments == []


async def test_a_revoked_sentry_token_says_where_to_get_one(
    notion: FakeNotion, sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, notion.add_database("Bugs")[0])
    monkeypatch.setenv("SENTRY_API_TOKEN", "sntrys_revoked")
    url = os.environ["SENTRY_URL"]

    assert await check() == 1

    out = capsys.readouterr().out
    assert sentry_lines(out) == [
        f"✗ Sentry token: {url} (SENTRY_URL) does not accept SENTRY_API_TOKEN: it is mistyped or was revoked",
        "    → Copy a token of the internal integration: Sentry → Settings → Developer Settings → Custom "
        "Integrations → your internal integration → Tokens (New Token).",
    ]
    assert "sntrys_revoked" not in out


async def test_a_wrong_sentry_org_is_named(
    notion: FakeNotion, sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, notion.add_database("Bugs")[0])
    monkeypatch.setenv("SENTRY_ORG", "acme-typo")
    url = os.environ["SENTRY_URL"]

    assert await check() == 1

    out = capsys.readouterr().out
    assert (
        f"✗ Sentry organization: SENTRY_ORG 'acme-typo' is not an organization at {url} (SENTRY_URL)\n"
        "    → Set SENTRY_ORG to the slug in your Sentry links: https://<slug>.sentry.io or "
        ".../organizations/<slug>/.\n"
    ) in out


async def test_a_read_only_sentry_token_says_back_links_need_write(
    notion: FakeNotion, sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, notion.add_database("Bugs")[0])
    sentry.scopes = {"event:read"}

    assert await check() == 1

    out = capsys.readouterr().out
    assert (
        "✗ Sentry scope event:write: missing: the token may not post notes and update issues (back-links; status, "
        "assignee and comments from Notion)\n"
        "    → Give the internal integration the permission Issue & Event: Read & Write and save it; "
        "if the token still lacks the scope, create a new one.\n"
    ) in out
    assert "✓ Sentry scope event:read: the token may read issues" in out


async def test_an_unreachable_sentry_names_the_url(
    notion: FakeNotion, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, notion.add_database("Bugs")[0])
    monkeypatch.setenv("SENTRY_API_TOKEN", "sntrys_secret")
    monkeypatch.setenv("SENTRY_URL", "http://127.0.0.1:1/sentry")
    monkeypatch.setenv("SENTRY_ORG", "acme")

    assert await check() == 1

    out = capsys.readouterr().out
    assert sentry_lines(out) == [
        "✗ Sentry: Could not reach Sentry at http://127.0.0.1:1/sentry (SENTRY_URL); check it and that this host "
        "reaches it."
    ]
    assert "sntrys_secret" not in out


async def test_an_unreachable_notion_names_the_url(
    notion: FakeNotion, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, notion.add_database("Bugs")[0])
    monkeypatch.setenv("NOTION_API_BASE_URL", "http://127.0.0.1:1/notion")

    assert await check() == 1

    out = capsys.readouterr().out
    assert (
        "✗ Notion: Could not reach Notion at http://127.0.0.1:1/notion (NOTION_API_BASE_URL); check it and that "
        "this host reaches it.\n"
    ) in out
    assert notion.token not in out


async def test_comment_sync_without_the_read_comments_capability_fails(
    notion: FakeNotion, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database_id, data_source_id = notion.add_database("Bugs")
    notion.add_page(data_source_id, "Crash on login")
    notion.read_comments = notion.insert_comments = False
    use(monkeypatch, database_id)

    assert await check() == 1

    out = capsys.readouterr().out
    assert (
        "✗ Notion comments: the integration may not read comments, so Sentry comments cannot reach Notion\n"
        f"    → Enable Read comments and Insert comments in the integration's Capabilities (Notion: {CAPABILITIES}),"
        " or set NOTION_CONFIG sync.comments to false.\n"
    ) in out


async def test_features_follow_the_configuration(
    notion: FakeNotion, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    columns: dict[str, dict[str, Any]] = {
        "ID": {"unique_id": {"prefix": "BUG"}},
        "Sentry Link": {"url": {}},
        "Assignee": {"people": {}},
        "Status": {"status": {}},
        "Events": {"number": {}},
        "Level": {"select": {}},
    }
    database_id, _ = notion.add_database("Bugs", columns)
    notion.read_comments = False  # comment sync is off, so the capability is not asked for
    config = {
        "database_id": database_id,
        "column_names": {"status": "Status", "events": "Events", "level": "Level"},
        "sync": {"assignee": False, "comments": False},
    }
    monkeypatch.setenv("NOTION_CONFIG", json.dumps(config))

    assert await check() == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[-8:] == [
        "✓ Status sync Sentry → Notion: on (column 'Status')",
        "– Status sync Notion → Sentry: off (SENTRY_API_TOKEN not set; NOTION_WEBHOOK_SECRET not set)",
        "– Assignee sync Sentry → Notion: off (NOTION_CONFIG sync.assignee is false)",
        "– Assignee sync Notion → Sentry: off (NOTION_CONFIG sync.assignee is false; SENTRY_API_TOKEN not set; "
        "NOTION_WEBHOOK_SECRET not set)",
        "– Comment sync Sentry → Notion: off (NOTION_CONFIG sync.comments is false)",
        "– Comment sync Notion → Sentry: off (SENTRY_API_TOKEN not set; NOTION_WEBHOOK_SECRET not set)",
        "✓ Issue details: on (level → 'Level', events → 'Events', from webhooks)",
        "– Live details, back-links and reconcile: off (SENTRY_API_TOKEN not set)",
    ]
    assert not any("Notion comments" in line for line in lines)


def two_way_lines(out: str) -> list[str]:
    """The lines about what Notion → Sentry needs, each with its fix, and the sync features."""
    lines, shown = [], False
    for line in out.splitlines():
        if not line.startswith("    → "):
            shown = line.startswith(
                tuple(
                    f"{mark} {name}" for mark in "✓✗!–" for name in ("Notion comments", "Notion user", "Notion webhook")
                )
                + tuple(f"{mark} Sentry scope {scope}" for mark in "✓✗!" for scope in ("member:read", "event:admin"))
                + tuple(f"{mark} {feature} sync" for mark in "✓–" for feature in ("Status", "Assignee", "Comment"))
            )
        if shown:
            lines.append(line)
    return lines


def two_way(monkeypatch: pytest.MonkeyPatch, notion: FakeNotion) -> str:
    columns: dict[str, dict[str, Any]] = {
        "ID": {"unique_id": {"prefix": "BUG"}},
        "Sentry Link": {"url": {}},
        "Assignee": {"people": {}},
        "Status": {"status": {}},
    }
    database_id, data_source_id = notion.add_database("Bugs", columns)
    notion.add_page(data_source_id, "Crash on login")
    notion.add_user("Ada Lovelace", "ada@example.org")
    config = {"database_id": database_id, "column_names": {"status": "Status"}, "sync": {"status_winner": "notion"}}
    monkeypatch.setenv("NOTION_CONFIG", json.dumps(config))
    monkeypatch.setenv("NOTION_WEBHOOK_SECRET", "secret_new,secret_old")
    return data_source_id


async def test_a_complete_two_way_setup_turns_on_both_directions(
    notion: FakeNotion, sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    two_way(monkeypatch, notion)
    sentry.scopes = {"event:admin", "member:read"}

    assert await check() == 0

    out = capsys.readouterr().out
    assert two_way_lines(out) == [
        "✓ Notion comments: Read comments is on; Insert comments cannot be checked without writing a comment",
        f"    → Make sure Insert comments is on too (Notion: {CAPABILITIES}).",
        "✓ Notion user emails: the integration reads people's emails, to match assignees",
        "✓ Sentry scope member:read: the token may list members, to match Notion's assignees",
        "✓ Sentry scope event:admin: the token may delete the notes of comments deleted in Notion",
        "✓ Notion webhook secret: 2 set in NOTION_WEBHOOK_SECRET (during rotation: any of them is accepted)",
        "✓ Status sync Sentry → Notion: on (column 'Status')",
        "✓ Status sync Notion → Sentry: on (column 'Status', conflicts settled by sync.status_winner 'notion')",
        "✓ Assignee sync Sentry → Notion: on (column 'Assignee', matched by email)",
        "✓ Assignee sync Notion → Sentry: on (column 'Assignee', matched by email with Sentry's members)",
        "✓ Comment sync Sentry → Notion: on (Sentry comments become Notion comments)",
        "✓ Comment sync Notion → Sentry: on (Notion comments become Sentry notes)",
    ]
    assert [c for c in sentry.requests if c.method != "GET"] == []
    assert notion.comments == []
    assert "secret_new" not in out


async def test_what_two_way_sync_lacks_is_one_line_each_with_its_fix(
    notion: FakeNotion, sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    two_way(monkeypatch, notion)
    notion.user_emails = False  # Read user information, without email addresses
    sentry.scopes = {"event:read", "event:write"}

    assert await check() == 1

    out = capsys.readouterr().out
    assert two_way_lines(out)[2:8] == [
        "✗ Notion user emails: the integration reads users without their emails, so assignees cannot be matched "
        "with Sentry's",
        "    → Enable Read user information including email addresses in the integration's Capabilities "
        f"(Notion: {CAPABILITIES}), or set NOTION_CONFIG sync.assignee to false.",
        "✗ Sentry scope member:read: missing: the token may not list members, so Notion's assignees cannot reach "
        "Sentry",
        "    → Give the internal integration the permission Member: Read and save it; if the token still lacks the "
        "scope, create a new one. Or set NOTION_CONFIG sync.assignee to false.",
        "! Sentry scope event:admin: missing (optional): a comment deleted in Notion leaves its note, marked "
        "deleted, instead of deleting it",
        "    → To delete such notes, give the internal integration the permission Issue & Event: Admin and create "
        "a new token.",
    ]


async def test_no_user_information_and_no_comments_name_both_directions(
    notion: FakeNotion, sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    two_way(monkeypatch, notion)
    notion.user_capability = notion.read_comments = notion.insert_comments = False
    sentry.scopes = {"event:admin", "member:read"}

    assert await check() == 1

    out = capsys.readouterr().out
    # The features those capabilities carry say they are off, and why, both ways.
    for line in (
        "– Assignee sync Sentry → Notion: off (the integration lacks Notion's Read user information)",
        "– Assignee sync Notion → Sentry: off (the integration lacks Notion's Read user information)",
        "– Comment sync Sentry → Notion: off (the integration lacks Notion's Read comments)",
        "– Comment sync Notion → Sentry: off (the integration lacks Notion's Read comments)",
    ):
        assert line in out.splitlines()
    assert two_way_lines(out)[:4] == [
        "✗ Notion comments: the integration may not read comments, so Sentry comments cannot reach Notion and "
        "Notion comments cannot reach Sentry",
        f"    → Enable Read comments and Insert comments in the integration's Capabilities (Notion: {CAPABILITIES}),"
        " or set NOTION_CONFIG sync.comments and sync.comments_to_sentry to false.",
        "✗ Notion user emails: the integration may not read users, so assignees cannot be matched with Sentry's",
        "    → Enable Read user information including email addresses in the integration's Capabilities "
        f"(Notion: {CAPABILITIES}), or set NOTION_CONFIG sync.assignee to false.",
    ]


async def test_only_notion_comments_to_sentry_ask_for_read_comments_alone(
    notion: FakeNotion, sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    two_way(monkeypatch, notion)
    config = json.loads(os.environ["NOTION_CONFIG"]) | {"sync": {"comments": False, "assignee": False}}
    monkeypatch.setenv("NOTION_CONFIG", json.dumps(config))
    sentry.scopes = {"event:admin"}

    assert await check() == 0

    lines = two_way_lines(capsys.readouterr().out)
    assert lines[0] == "✓ Notion comments: Read comments is on"
    assert not any("user emails" in line or "member:read" in line for line in lines)


async def test_a_scope_another_database_needs_is_checked_too(
    notion: FakeNotion, sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    two_way(monkeypatch, notion)
    bugs = json.loads(os.environ["NOTION_CONFIG"])
    ops, _ = notion.add_database("Ops", {"ID": {"unique_id": {"prefix": "OPS"}}, "Sentry Link": {"url": {}}})
    databases = [
        bugs | {"name": "Bugs", "sync": {"assignee": False}},  # the default carries no assignee from Notion…
        {"name": "Ops", "database_id": ops, "projects": ["ops"]},  # …this one does, so the token needs member:read
    ]
    monkeypatch.setenv("NOTION_CONFIG", json.dumps({"databases": databases, "default": "Bugs"}))
    sentry.scopes = {"event:admin"}

    assert await check() == 1

    assert any(line.startswith("✗ Sentry scope member:read: missing") for line in capsys.readouterr().out.splitlines())


async def test_status_options_the_sync_names_but_notion_lacks_are_named_with_their_setting(
    notion: FakeNotion, sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    two_way(monkeypatch, notion)
    sync = {"status_options": {"resolved": "Shipped"}, "status_to_sentry": {"Wont fix": "ignored", "Done": "resolved"}}
    monkeypatch.setenv("NOTION_CONFIG", json.dumps(json.loads(os.environ["NOTION_CONFIG"]) | {"sync": sync}))

    assert await check() == 1

    wrong = [line for line in capsys.readouterr().out.splitlines() if line.startswith("✗ Status option")]
    assert wrong == [
        "✗ Status option 'Shipped': named in NOTION_CONFIG sync.status_options but not an option of 'Status'",
        "✗ Status option 'Wont fix': named in NOTION_CONFIG sync.status_to_sentry but not an option of 'Status'",
    ]


async def test_a_handshake_waiting_without_a_secret_says_to_run_the_token_command(
    notion: FakeNotion, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], redis_prefix: str
) -> None:
    use(monkeypatch, notion.add_database("Bugs")[0])
    async with open_redis(url=REDIS_URL) as redis:
        tokens = RedisVerificationTokens(RedisCircuitBreaker(redis, prefix=redis_prefix))
        assert await tokens.offer("secret_from_the_handshake", 1_780_000_000)

    assert await check() == 1

    out = capsys.readouterr().out
    assert (
        "✗ Notion webhook secret: NOTION_WEBHOOK_SECRET is not set but 1 token(s) of Notion's handshake wait, the "
        "newest received 2026-05-28T20:26:40+00:00; Notion → Sentry sync is off: Notion's events are refused\n"
        "    → Run `sentry-notion notion-webhook token`, verify the subscription with it in Notion, set "
        "NOTION_WEBHOOK_SECRET to it and restart.\n"
    ) in out
    assert "secret_from_the_handshake" not in out


async def test_a_newer_handshake_beside_a_configured_secret_is_a_warning(
    notion: FakeNotion, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], redis_prefix: str
) -> None:
    use(monkeypatch, notion.add_database("Bugs")[0])
    monkeypatch.setenv("NOTION_WEBHOOK_SECRET", "secret_configured")
    async with open_redis(url=REDIS_URL) as redis:
        tokens = RedisVerificationTokens(RedisCircuitBreaker(redis, prefix=redis_prefix))
        assert await tokens.offer("secret_configured", 1_770_000_000)
        assert await tokens.offer("secret_newer", 1_780_000_000)

    assert await check() == 0

    lines = two_way_lines(capsys.readouterr().out)
    webhook = lines.index("✓ Notion webhook secret: 1 set in NOTION_WEBHOOK_SECRET")
    assert lines[webhook : webhook + 3] == [
        "✓ Notion webhook secret: 1 set in NOTION_WEBHOOK_SECRET",
        "! Notion webhook handshake: 1 token(s) of Notion's handshake wait, the newest received "
        "2026-05-28T20:26:40+00:00, not in NOTION_WEBHOOK_SECRET",
        "    → If you created a subscription since, run `sentry-notion notion-webhook token` and add its token to "
        "NOTION_WEBHOOK_SECRET (comma-separated); otherwise this goes away within 7 days.",
    ]


def feature_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if " sync " in line or line[2:].startswith(("Issue details", "Live "))]


async def test_features_that_need_what_the_sentry_token_lacks_are_off_and_say_so(
    notion: FakeNotion, sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    two_way(monkeypatch, notion)
    sentry.scopes = {"event:read"}

    assert await check() == 1

    assert feature_lines(capsys.readouterr().out) == [
        "✓ Status sync Sentry → Notion: on (column 'Status')",
        "– Status sync Notion → Sentry: off (the token lacks event:write)",
        "✓ Assignee sync Sentry → Notion: on (column 'Assignee', matched by email)",
        "– Assignee sync Notion → Sentry: off (the token lacks event:write; the token lacks member:read)",
        "✓ Comment sync Sentry → Notion: on (Sentry comments become Notion comments)",
        "– Comment sync Notion → Sentry: off (the token lacks event:write)",
        "– Issue details: off (no column named in NOTION_CONFIG column_names for any of level, events, users, "
        "first_seen, last_seen, release, environment)",
        "✓ Live details, back-links and reconcile: on (SENTRY_API_TOKEN set; no back-links: the token lacks "
        "event:write)",
    ]


async def test_with_a_refused_sentry_token_every_feature_that_reads_sentry_is_off(
    notion: FakeNotion, sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    two_way(monkeypatch, notion)
    monkeypatch.setenv("SENTRY_API_TOKEN", "sntrys_revoked")
    refused = "Sentry does not accept SENTRY_API_TOKEN"

    assert await check() == 1

    lines = feature_lines(capsys.readouterr().out)
    assert lines[:6] == [
        # With Sentry's API, the webhook only names the issue to read: the entry follows what is read.
        f"– Status sync Sentry → Notion: off ({refused})",
        f"– Status sync Notion → Sentry: off ({refused})",
        f"– Assignee sync Sentry → Notion: off ({refused})",
        f"– Assignee sync Notion → Sentry: off ({refused})",
        "✓ Comment sync Sentry → Notion: on (Sentry comments become Notion comments)",  # carried by the webhook
        f"– Comment sync Notion → Sentry: off ({refused})",
    ]
    assert lines[-1] == f"– Live details, back-links and reconcile: off ({refused})"
