# The commands as an operator meets them: what each asks for, and how each fails.
import asyncio
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from pytest_aiohttp import AiohttpServer

import cli
from adapters.redis_queue import RedisJobQueue
from adapters.redis_store import open_redis
from domain.models import Job
from settings import ConfigError, Settings
from tests.support.fake_notion import FakeNotion
from tests.support.fake_sentry import FakeSentry
from tests.support.real_redis import REDIS_URL

SENTRY_NOTION = str(Path(sys.executable).with_name("sentry-notion"))
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens there
NOTION = {
    "NOTION_TOKEN": "secret_test",
    "NOTION_CONFIG": '{"database_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}',
    "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET": "s3cr3t",
    "NOTION_API_BASE_URL": CLOSED,
}
SENTRY = {"SENTRY_API_TOKEN": "sntrys_test", "SENTRY_ORG": "acme", "SENTRY_URL": CLOSED}
REDIS_DOWN = "redis://:hunter2@127.0.0.1:1/0"
LOST = {
    "event": "webhook_lost",
    "job": {"kind": "sentry.issue", "key": "k", "action": "resolved", "body": {}, "received_at": 0},
}


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("NOTION_", "SENTRY_", "REDIS_", "LOG_LEVEL", "CACHE_TIMEOUT")):
            monkeypatch.delenv(name)
    yield
    structlog.reset_defaults()  # main() configures logging, as it does once per process


def main(argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> int:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    return int(exited.value.code or 0)


def lost_log(tmp_path: Path) -> str:
    log = tmp_path / "service.log"
    log.write_text(json.dumps(LOST) + "\n")
    return str(log)


@pytest.mark.parametrize(
    "command",
    [
        ["dead-letters", "list"],
        ["dead-letters", "replay"],
        ["replay-lost"],
        ["worker"],
        ["alerts", "held"],
        ["notion-webhook", "token"],
    ],
)
def test_an_unreachable_redis_ends_a_command_in_one_line(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = command + ([lost_log(tmp_path)] if command == ["replay-lost"] else [])

    assert main(argv, NOTION | {"REDIS_URL": REDIS_DOWN}, monkeypatch) == 1

    out, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert line.startswith("sentry-notion: Redis does not answer at redis://127.0.0.1:1/0 (")
    assert line.endswith("start Redis or fix REDIS_URL, then run this again.")
    assert "hunter2" not in out + err


def test_with_redis_host_set_the_message_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": "1"}

    assert main(["replay-lost", lost_log(tmp_path)], env, monkeypatch) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("start Redis or fix REDIS_HOST and REDIS_PORT, then run this again.")
    assert "REDIS_URL" not in line


def test_an_unreachable_notion_ends_reconcile_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reconcile"], NOTION | SENTRY, monkeypatch) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"sentry-notion: Notion does not answer at {CLOSED} (")
    assert line.endswith("check NOTION_API_BASE_URL and this host's network, then run this again.")
    assert "secret_test" not in line


async def reconcile_two_entries(aiohttp_server: AiohttpServer, sentry_url: str) -> tuple[int, str, str]:
    """`sentry-notion reconcile` over two linked entries, with Sentry at `sentry_url`: its exit code and output."""
    fake = FakeNotion()
    database_id, data_source_id = fake.add_database("Bugs")
    for issue in (1, 2):
        fake.add_page(
            data_source_id, "TypeError", properties={"Sentry Link": {"url": f"https://acme.sentry.io/issues/{issue}/"}}
        )
    server = await aiohttp_server(fake.app())
    env = (
        NOTION
        | SENTRY
        | {
            "NOTION_TOKEN": fake.token,
            "NOTION_CONFIG": json.dumps({"database_id": database_id}),
            "NOTION_API_BASE_URL": str(server.make_url("")),
            "SENTRY_URL": sentry_url,
        }
    )

    process = await asyncio.create_subprocess_exec(
        SENTRY_NOTION,
        "reconcile",
        env={"PATH": os.environ["PATH"]} | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_an_unreachable_sentry_ends_reconcile_in_one_line(aiohttp_server: AiohttpServer) -> None:
    code, out, err = await reconcile_two_entries(aiohttp_server, CLOSED)

    assert code == 1
    assert out == ""  # not one failure per entry: the outage is said once
    (line,) = err.splitlines()
    assert line.startswith(f"sentry-notion: Sentry does not answer at {CLOSED} (")
    assert line.endswith("check SENTRY_URL and this host's network, then run this again.")


async def test_a_refused_sentry_token_ends_reconcile_at_the_first_entry_in_one_line(
    aiohttp_server: AiohttpServer,
) -> None:
    sentry = FakeSentry(token="sntrys_another")  # SENTRY holds a token this Sentry does not know
    for issue in (1, 2):
        sentry.add_issue(issue)
    sentry_url = str((await aiohttp_server(sentry.app())).make_url("")).rstrip("/")

    code, out, err = await reconcile_two_entries(aiohttp_server, sentry_url)

    assert code == 1
    assert out == ""  # not one failure per entry: every entry would fail alike
    (line,) = err.splitlines()
    assert line.startswith(f"sentry-notion: Sentry at {sentry_url} refused: Sentry does not accept SENTRY_API_TOKEN")
    assert len(sentry.calls()) == 1
    assert "sntrys_test" not in err


@pytest.mark.parametrize("command", [["dead-letters", "list"], ["dead-letters", "replay"], ["replay-lost"]])
def test_the_queue_commands_need_only_redis(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_prefix: str,
) -> None:
    argv = command + ([lost_log(tmp_path)] if command == ["replay-lost"] else [])

    assert main(argv, {"REDIS_URL": REDIS_URL, "REDIS_PREFIX": redis_prefix}, monkeypatch) == 0

    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[-1] in {
        "0 dead letter(s).",
        "Replayed 0 job(s).",
        "1 lost webhook(s) queued again, 0 already queued.",
    }


async def dead_letter(prefix: str) -> str:
    """Sets a job aside as a worker does after its last attempt failed; answers its dead letter's id."""
    async with open_redis(url=REDIS_URL) as redis:
        queue = RedisJobQueue(redis, prefix=prefix, consumer="test", max_attempts=1, block_ms=100)
        await queue.enqueue(Job.model_validate(LOST["job"]))
        stop = asyncio.Event()

        async def fail(job: Job) -> None:
            raise RuntimeError("Notion refused it")

        worker = asyncio.create_task(queue.work(fail, stop=stop))
        try:
            for _ in range(600):  # a bound on waiting, not a claim about speed
                if letters := await queue.dead_letters():
                    return letters[0].id
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await worker
        raise AssertionError("the job was not set aside")


def test_replaying_an_id_that_is_no_dead_letter_names_it_and_replays_the_others(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], redis_prefix: str
) -> None:
    letter = asyncio.run(dead_letter(redis_prefix))
    capsys.readouterr()  # the worker's log
    env = {"REDIS_URL": REDIS_URL, "REDIS_PREFIX": redis_prefix}

    assert main(["dead-letters", "replay", letter, "0-1"], env, monkeypatch) == 1

    out, err = capsys.readouterr()
    assert out == "Replayed 1 job(s).\n"
    assert err == (
        "sentry-notion: no dead letter has the id(s) 0-1; `sentry-notion dead-letters list` shows their ids.\n"
    )
    assert main(["dead-letters", "list"], env, monkeypatch) == 0
    assert capsys.readouterr().out == "0 dead letter(s).\n"


def test_a_cut_webhook_lost_line_is_said_and_the_others_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], redis_prefix: str
) -> None:
    log = tmp_path / "service.log"
    log.write_text(json.dumps({"event": "webhook_lost"}) + "\n" + json.dumps(LOST) + "\n")

    assert main(["replay-lost", str(log)], {"REDIS_URL": REDIS_URL, "REDIS_PREFIX": redis_prefix}, monkeypatch) == 1

    out, err = capsys.readouterr()
    assert out == "1 lost webhook(s) queued again, 0 already queued.\n"
    assert err == "sentry-notion: 1 webhook_lost line(s) hold no readable job and were skipped.\n"


def test_each_command_asks_for_what_it_uses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without_secret = {k: v for k, v in NOTION.items() if k != "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET"}

    worker = Settings.from_env(without_secret | {"REDIS_URL": REDIS_URL}, cli.NEEDS["worker"])
    assert worker.client_secrets == ()
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(without_secret, cli.NEEDS["worker"])
    assert caught.value.problems == (
        "REDIS_URL is not set; expected the Redis that holds the job queue, like redis://redis:6379/0 "
        "(or set REDIS_HOST).",
    )
    reconcile = Settings.from_env(without_secret | SENTRY, cli.NEEDS["reconcile"])
    assert (reconcile.sentry_backend, reconcile.redis_url) == ("api", None)
    queue_only = Settings.from_env({"REDIS_URL": REDIS_URL, "NOTION_CONFIG": "{"}, cli.NEEDS["dead-letters"])
    assert (queue_only.notion, queue_only.notion_token) == (None, "")  # not read, so not judged

    assert main(["reconcile"], without_secret, monkeypatch) == 1
    assert [line.split(" is not set")[0] for line in capsys.readouterr().err.splitlines()] == [
        "sentry-notion: SENTRY_API_TOKEN",
        "sentry-notion: SENTRY_ORG",
    ]


def test_every_configuration_problem_is_reported_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"NOTION_TOKEN": "", "LOG_LEVEL": "loud", "REDIS_HOST": "redis", "REDIS_PORT": "0"}

    assert main(["serve"], env, monkeypatch) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert [line.split(" ")[1] for line in err.splitlines()] == [
        "NOTION_TOKEN",
        "NOTION_CONFIG",
        "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET",
        "REDIS_PORT",
        "LOG_LEVEL",
    ]
    assert err.splitlines()[0] == (
        "sentry-notion: NOTION_TOKEN is not set; expected the Notion integration's secret (ntn_… or secret_…)."
    )


@pytest.mark.parametrize("sandbox", [[], ["--sandbox"]])
def test_a_taken_port_is_said_before_anything_else(
    sandbox: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = main(["serve", "--host", "127.0.0.1", "--port", str(port), *sandbox], NOTION, monkeypatch)

    assert code == 1
    out, err = capsys.readouterr()
    assert out == ""  # no sandbox secret, no curl commands that would reach the other process
    assert err == (
        f"sentry-notion: port {port} on 127.0.0.1 is already in use (is another sentry-notion running?): "
        "stop it or choose --port\n"
    )


def test_every_command_describes_itself_and_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    helps = {}
    for command in ("serve", "check", "worker", "reconcile", "dead-letters", "replay-lost"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        helps[command] = " ".join(capsys.readouterr().out.split())

    assert all(len(text.split("options:")[0]) > 120 for text in helps.values()), helps  # usage and a description
    assert "--port PORT port to listen on (default: 8000)" in helps["serve"]
    assert "(default: 0.0.0.0, or 127.0.0.1 with --sandbox)" in helps["serve"]
    assert "(default: None)" not in helps["serve"]
    assert "Needs only Redis." in helps["dead-letters"]
    assert "Sentry's URL, token, organization and scopes when SENTRY_API_TOKEN is set" in helps["check"]


def test_replay_says_its_default_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["dead-letters", "replay", "--help"])

    text = " ".join(capsys.readouterr().out.split())
    assert "ids dead letter ids, as `list` shows them (default: all) options:" in text


def test_dead_letters_without_an_action_names_the_actions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["dead-letters"])

    assert exited.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-3:] == [
        "sentry-notion dead-letters: error: name an action:",
        "  list    show each webhook that failed every attempt, with its id and last error",
        "  replay  queue them again: all of them, or only the ids given",
    ]
