import io
import json
from collections.abc import Iterator

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient

from entrypoints.logging import configure_logging
from tests.support.fakes import FakeWorkspace
from tests.support.sentry import SECRET, issue_link_body, sign, ui_headers

Client = TestClient[web.Request, web.Application]


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    # The production configuration, writing to a buffer; reset afterwards so other tests keep structlog's defaults.
    stream = io.StringIO()
    configure_logging("info", stream, cache=False)
    yield stream
    structlog.reset_defaults()


async def test_an_unexpected_error_is_logged_without_secrets_or_signatures(
    client: Client, tracker: FakeWorkspace, output: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(tracker, "database", explode)
    body = issue_link_body({"title": "TypeError"})
    headers = ui_headers(body)

    resp = await client.post("/sentry/issue-link/create", data=body, headers=headers)

    assert resp.status == 500
    assert "boom" not in (await resp.json())["message"]
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    error = next(line for line in lines if line["event"] == "unhandled_error")
    assert error["exception"][0]["exc_value"] == "boom"
    logged = output.getvalue()
    for secret in (SECRET, "previous-secret", headers["Sentry-App-Signature"], sign(body, "previous-secret")):
        assert secret not in logged
    request = next(line for line in lines if line["event"] == "request")
    assert (request["status"], request["request_id"]) == (500, headers["Request-ID"])
