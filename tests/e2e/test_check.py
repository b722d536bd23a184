import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from pytest_aiohttp import AiohttpServer

from adapters.redis_queue import RedisJobQueue
from adapters.redis_store import open_redis
from cli import check
from domain.models import Job
from tests.support.fake_notion import FakeNotion
from tests.support.real_redis import REDIS_URL, shown


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


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
        f"✓ Redis: answers at {shown(REDIS_URL)}",
        "✓ Job queue: 0 job(s) waiting, 0 worker(s) seen, 0 dead letter(s)",
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
