import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from container import Container
from tests.e2e.conftest import app_for, settings

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
    assert {"event": "request", "route": "/healthz", "status": 200}.items() <= lines[-1].items()
    assert "s3cr3t" not in stdout.decode()


def test_every_schema_uri_is_served_without_redirects() -> None:
    schema = json.loads((Path(__file__).parents[2] / "sentry_ui_schema.json").read_text())
    (element,) = schema["elements"]
    uris = {("POST", element[form]["uri"]) for form in ("create", "link")}
    for form in ("create", "link"):
        fields = element[form].get("required_fields", []) + element[form].get("optional_fields", [])
        uris |= {("GET", f["uri"]) for f in fields if f["type"] == "select"}

    app = app_for(Container(settings=settings()))
    served = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}

    assert uris <= served
    assert all(not uri.endswith("/") for _, uri in uris)
