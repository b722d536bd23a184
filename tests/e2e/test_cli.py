import asyncio
import importlib.metadata
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient, AiohttpServer

import cli
from container import Container
from tests.support.fake_notion import FakeNotion
from tests.support.sentry import issue_link_body, ui_headers
from tests.support.stack import app_for, settings

SERVE = [str(Path(sys.executable).with_name("sentry-notion")), "serve", "--host", "127.0.0.1"]
ENV = {
    "NOTION_TOKEN": "secret_test",
    "NOTION_CONFIG": '{"database_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}',
    "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET": "s3cr3t",
    "NOTION_API_BASE_URL": "http://127.0.0.1:9",
}


async def run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *args, env={"PATH": os.environ["PATH"]} | env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode or 0, stderr.decode()


@pytest.mark.parametrize("missing", ["NOTION_TOKEN", "NOTION_CONFIG", "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET"])
async def test_a_missing_secret_stops_startup_naming_the_variable(missing: str) -> None:
    env = {k: v for k, v in ENV.items() if k != missing}

    code, stderr = await run(*SERVE, "--port", "0", env=env)

    assert code == 1
    (line,) = stderr.strip().splitlines()
    assert line.startswith(f"sentry-notion: {missing} is not set; expected ")
    assert "s3cr3t" not in stderr
    assert "secret_test" not in stderr


async def test_serve_answers_healthz_and_logs_json() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        *SERVE, "--port", str(port), env={"PATH": os.environ["PATH"]} | ENV, stdout=asyncio.subprocess.PIPE
    )
    try:
        status = 0
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        status = resp.status
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
        assert status == 200
    finally:
        process.terminate()
        stdout, _ = await asyncio.wait_for(process.communicate(), 15)
    lines = [json.loads(line) for line in stdout.decode().splitlines()]
    events = [line["event"] for line in lines]
    assert (events[0], events[-1]) == ("listening", "stopped"), events
    listening = lines[0]
    assert listening["address"] == f"127.0.0.1:{port}"
    assert (listening["worker"], listening["notion_api_version"]) == ("on", "2026-03-11")
    assert listening["redis"].startswith("in-process")
    assert listening["version"] == importlib.metadata.version("sentry-notion")
    assert {"event": "request", "route": "/healthz", "status": 200}.items() <= lines[events.index("request")].items()
    assert "s3cr3t" not in stdout.decode()


def test_version_names_the_installed_release(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"sentry-notion {importlib.metadata.version('sentry-notion')}"


def test_every_schema_uri_is_served_without_redirects() -> None:
    schema = json.loads((Path(__file__).parents[2] / "sentry_ui_schema.json").read_text())
    (element,) = [e for e in schema["elements"] if e["type"] == "issue-link"]
    (action,) = [e for e in schema["elements"] if e["type"] == "alert-rule-action"]
    forms = [element["create"], element["link"], action["settings"]]
    uris = {("POST", form["uri"]) for form in forms}
    for form in forms:
        fields = form.get("required_fields", []) + form.get("optional_fields", [])
        uris |= {("GET", f["uri"]) for f in fields if f["type"] == "select" and "uri" in f}

    app = app_for(Container(settings=settings()))
    served = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}

    assert uris <= served
    assert all(not uri.endswith("/") for _, uri in uris)


async def start(*args: str, env: dict[str, str]) -> tuple[asyncio.subprocess.Process, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        *SERVE, "--port", str(port), *args, env={"PATH": os.environ["PATH"]} | env, stdout=asyncio.subprocess.PIPE
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz"):
                    return process, port
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError("the service did not start")


async def test_the_sandbox_prints_a_working_signed_command_for_every_route() -> None:
    process, port = await start("--sandbox", env={})
    try:
        assert process.stdout is not None
        banner: list[str] = []
        while len([line for line in banner if line.startswith("curl ")]) < 12:
            banner.append((await asyncio.wait_for(process.stdout.readline(), 10)).decode().rstrip("\n"))
        commands = [line for line in banner if line.startswith("curl ")]
        answers = []
        for command in commands:
            curl = await asyncio.create_subprocess_shell(command, stdout=asyncio.subprocess.PIPE)
            out, _ = await asyncio.wait_for(curl.communicate(), 10)
            answers.append(out.decode())
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 15)

    assert any(line.startswith("Client secret: ") for line in banner)
    assert any(line.startswith("Notion webhook token: secret_") for line in banner)
    assert all(f"http://127.0.0.1:{port}/" in command for command in commands)
    created, linked, issues, people, webhook, notion_event, rule, alert, incident, entry, ready, metrics = answers
    assert json.loads(created) == {"webUrl": json.loads(created)["webUrl"], "project": "Bugs", "identifier": "BUG-4"}
    assert json.loads(linked)["identifier"] == "BUG-1"
    assert json.loads(issues) == [{"label": "BUG-1 · Login fails on Safari", "value": json.loads(issues)[0]["value"]}]
    assert "Sentry Sync" not in people  # the demo workspace's bot is no assignee
    assert [p["label"] for p in json.loads(people)][:1] == ["Ada Lovelace (ada@example.org)"]
    applied = json.loads(webhook)  # no Redis: applied at once, and the answer says what changed
    assert (applied["outcome"], applied["changes"][:1]) == ("applied", ["status → Done"])
    assert applied["entry"]  # the Notion page the demo linked to Sentry issue 1
    assert json.loads(notion_event)["received"] is True  # signed with the sandbox's Notion webhook token
    assert json.loads(rule) == {"message": "Notion entries will be created in Bugs."}
    assert (json.loads(alert)["outcome"], json.loads(alert)["changes"]) == ("applied", ["entry BUG-5 created"])
    assert (json.loads(incident)["outcome"], json.loads(incident)["changes"]) == ("applied", ["entry BUG-6 created"])
    shown = json.loads(entry)
    assert (shown["identifier"], shown["status"]) == ("BUG-3", "Done")  # the entry the webhook moved
    assert shown["sentry_url"] == "https://example.sentry.io/issues/1/"
    assert json.loads(ready)["ready"] is True  # at once: Notion's first probe runs in the background
    assert [check["check"] for check in json.loads(ready)["checks"]][:1] == ["Notion"]
    assert 'sentry_notion_requests_total{route="/sentry/issue-link/create",status="201"} 1.0' in metrics


async def test_sigterm_finishes_the_request_in_flight(aiohttp_server: AiohttpServer) -> None:
    fake = FakeNotion()
    database_id, data_source_id = fake.add_database("Bugs")
    fake.fail_next("POST", "/v1/pages", 0, delay=1.5)  # Notion is slow on this create
    server = await aiohttp_server(fake.app())
    env = ENV | {
        "NOTION_TOKEN": fake.token,
        "NOTION_CONFIG": json.dumps({"database_id": database_id}),
        "NOTION_API_BASE_URL": str(server.make_url("")),
    }
    process, port = await start(env=env)
    body = issue_link_body({"title": "TypeError"})
    headers = ui_headers(body, "s3cr3t")
    try:
        async with aiohttp.ClientSession() as http:
            in_flight = asyncio.ensure_future(
                http.post(f"http://127.0.0.1:{port}/sentry/issue-link/create", data=body, headers=headers)
            )
            for _ in range(200):  # until the create has reached Notion
                if fake.calls("POST", "/v1/pages"):
                    break
                await asyncio.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            resp = await asyncio.wait_for(in_flight, 10)
            assert resp.status == 201
            assert (await resp.json())["identifier"] == "BUG-1"
        assert await asyncio.wait_for(process.wait(), 15) == 0
    finally:
        if process.returncode is None:
            process.kill()
    assert len(fake.pages(data_source_id)) == 1


async def sandbox_banner(*args: str) -> tuple[int, list[str]]:
    """The port a sandbox started on, and what it printed up to its `listening` line; it is stopped then."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        SERVE[0],
        "serve",
        "--sandbox",
        *args,
        "--port",
        str(port),
        env={"PATH": os.environ["PATH"]},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner: list[str] = []
        while not banner or not banner[-1].startswith("{"):
            banner.append((await asyncio.wait_for(process.stdout.readline(), 10)).decode().rstrip("\n"))
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 15)
    return port, banner


async def test_the_sandbox_takes_a_secret_and_listens_on_loopback_by_default() -> None:
    port, banner = await sandbox_banner("--secret", "kept-across-restarts")
    _, after_a_restart = await sandbox_banner("--secret", "kept-across-restarts")
    _, another_secret = await sandbox_banner("--secret", "another")

    assert "Client secret: kept-across-restarts" in banner
    listening = json.loads(banner[-1])
    assert (listening["event"], listening["address"]) == ("listening", f"127.0.0.1:{port}")
    # Every printed command, the signed Notion event's included, works again after a restart.
    (notion_token,) = [line for line in banner if line.startswith("Notion webhook token: secret_")]
    assert notion_token in after_a_restart
    assert notion_token not in another_secret
    assert "kept-across-restarts" not in notion_token


async def test_the_sandbox_route_exists_only_in_the_sandbox(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(app_for(Container(settings=settings())))

    resp = await client.get("/sandbox/entries/00000000-0000-0000-0000-000000000001", headers=ui_headers(b""))

    assert resp.status == 404
