import asyncio
import json
import time

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from domain.errors import RateLimited, TrackerMisconfigured, TrackerUnavailable
from domain.models import Assignee
from entrypoints.http import routes
from tests.support.fakes import FakeWorkspace
from tests.support.sentry import (
    INSTALLATION,
    description,
    group,
    hook_headers,
    issue_link_body,
    select_url,
    sign,
    ui_headers,
    webhook,
)

Client = TestClient[web.Request, web.Application]
CREATE, LINK = "/sentry/issue-link/create", "/sentry/issue-link/link"


def create_body(**fields: object) -> bytes:
    return issue_link_body(
        {"title": "TypeError: x is undefined", "description": description("BACKEND-1A", 4242, "stack")} | fields
    )


async def test_healthz_needs_no_signature(client: Client) -> None:
    resp = await client.get("/healthz")

    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_create_answers_sentry_with_three_strings(client: Client, tracker: FakeWorkspace) -> None:
    body = create_body(title="Caf\u00e9 crash \u2615", assignee="u-ada")

    resp = await client.post(CREATE, data=body, headers=ui_headers(body))

    (page,) = tracker.pages.values()
    assert resp.status == 201
    assert await resp.json() == {"webUrl": page.issue.url, "project": "Bugs", "identifier": "BUG-1"}
    assert page.issue.title == "Café crash ☕"
    assert page.assignee_id == "u-ada"


async def test_second_create_for_the_same_issue_returns_the_same_entry(client: Client, tracker: FakeWorkspace) -> None:
    body = create_body()
    answers = await asyncio.gather(*(client.post(CREATE, data=body, headers=ui_headers(body)) for _ in range(5)))

    assert sorted(r.status for r in answers) == [200, 200, 200, 200, 201]
    assert len({(await r.text()) for r in answers}) == 1
    assert len(tracker.pages) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Sentry-App-Signature": ""},
        {"Sentry-App-Signature": sign(b"{}")},
        {"Sentry-App-Signature": sign(create_body(), "another-secret")},
    ],
)
async def test_unsigned_or_badly_signed_requests_change_nothing(
    client: Client, tracker: FakeWorkspace, headers: dict[str, str]
) -> None:
    resp = await client.post(CREATE, data=create_body(), headers={"Content-Type": "application/json"} | headers)

    assert resp.status == 401
    assert "client secret" in (await resp.json())["message"]
    assert tracker.calls == []


async def test_rotated_secret_and_hook_header_are_accepted(client: Client) -> None:
    body = create_body()

    resp = await client.post(CREATE, data=body, headers={"Sentry-Hook-Signature": sign(body, "previous-secret")})

    assert resp.status == 201


async def test_get_is_signed_over_the_empty_body(client: Client, tracker: FakeWorkspace) -> None:
    tracker.add("Login fails")

    good = await client.get(select_url("/sentry/options/issues", "login"), headers=ui_headers(b""))
    bad = await client.get(select_url("/sentry/options/issues", "login"), headers=ui_headers(b"x"))

    assert good.status == 200
    assert await good.json() == [{"label": "BUG-1 · Login fails", "value": "00000000-0000-0000-0000-000000000001"}]
    assert bad.status == 401


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"{not json", "Invalid JSON"),
        (b"\xff\xfe\x00garbage", "Invalid JSON"),
        (b"[]", "body"),
        (issue_link_body({"description": "x"}), "fields.title"),
        (issue_link_body({"title": "   "}), "fields.title"),
        (issue_link_body({"title": 7}), "fields.title"),
        (create_body().replace(b'"issueId":4242', b'"issueId":"forty-two"'), "issueId"),
        (create_body().replace(b'"webUrl":"https://', b'"webUrl":"javascript://'), "webUrl"),
        (create_body().replace(b',"installationId":"' + INSTALLATION.encode() + b'"', b""), "installationId"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    client: Client, tracker: FakeWorkspace, body: bytes, named: str
) -> None:
    resp = await client.post(CREATE, data=body, headers=ui_headers(body))

    assert resp.status == 400
    assert named in (await resp.json())["message"]
    assert tracker.pages == {}


async def test_link_sets_the_entry_and_answers_like_create(client: Client, tracker: FakeWorkspace) -> None:
    entry = tracker.add("Login fails")
    body = issue_link_body({"issue": entry.page_id})

    resp = await client.post(LINK, data=body, headers=ui_headers(body))

    assert resp.status == 200
    assert await resp.json() == {"webUrl": entry.url, "project": "Bugs", "identifier": "BUG-1"}
    assert tracker.pages[entry.page_id].issue.sentry_url == "https://acme.sentry.io/issues/4242/"


async def test_link_accepts_a_pasted_notion_link(client: Client, tracker: FakeWorkspace) -> None:
    entry = tracker.add("Login fails")
    body = issue_link_body({"issue": f"https://app.notion.com/p/Login-fails-{entry.page_id.replace('-', '')}"})

    resp = await client.post(LINK, data=body, headers=ui_headers(body))

    assert resp.status == 200


@pytest.mark.parametrize(
    ("page", "status", "words"),
    [("wiki", 422, "not an entry"), ("missing", 404, "No entry"), ("garbage", 400, "fields.issue")],
)
async def test_link_refusals_change_nothing(
    client: Client, tracker: FakeWorkspace, page: str, status: int, words: str
) -> None:
    wiki = tracker.add("Team wiki", in_database=False)
    ids = {"wiki": wiki.page_id, "missing": "00000000-0000-0000-0000-000000000999", "garbage": "not a page"}
    body = issue_link_body({"issue": ids[page]})

    resp = await client.post(LINK, data=body, headers=ui_headers(body))

    assert resp.status == status
    assert words in (await resp.json())["message"]
    assert tracker.pages[wiki.page_id].issue.sentry_url is None


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (TrackerUnavailable("Notion is unavailable (HTTP 503); try again shortly."), 503),
        (TrackerMisconfigured("Share the database with the integration."), 424),
        (RateLimited("Notion is rate limiting this integration; try again in 49 seconds.", 49), 503),
    ],
)
async def test_notion_failures_reach_sentry_as_readable_messages(
    client: Client, tracker: FakeWorkspace, failure: Exception, status: int
) -> None:
    tracker.fail = failure  # type: ignore[assignment]
    body = create_body()

    resp = await client.post(CREATE, data=body, headers=ui_headers(body))

    assert resp.status == status
    assert (await resp.json())["message"] == str(failure)
    if isinstance(failure, RateLimited):
        assert resp.headers["Retry-After"] == "49"


@pytest.mark.parametrize("uri", ["/sentry/options/issues", "/sentry/options/assignees"])
async def test_options_answer_an_empty_list_when_notion_fails(client: Client, tracker: FakeWorkspace, uri: str) -> None:
    tracker.fail = TrackerUnavailable("Could not reach Notion; try again.")

    with capture_logs() as logs:
        resp = await client.get(select_url(uri, "x"), headers=ui_headers(b""))

    assert resp.status == 200
    assert await resp.json() == []
    assert any(e["event"] == "options_unavailable" and e["log_level"] == "warning" for e in logs)


async def test_options_answer_within_their_budget_when_notion_hangs(
    client: Client, tracker: FakeWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hang() -> list[Assignee]:
        await asyncio.sleep(60)
        return []

    monkeypatch.setattr(tracker, "list_assignees", hang)
    monkeypatch.setattr(routes, "OPTIONS_BUDGET_S", 0.2)

    resp = await asyncio.wait_for(
        client.get(select_url("/sentry/options/assignees"), headers=ui_headers(b"")), timeout=5
    )

    assert resp.status == 200
    assert await resp.json() == []


async def test_assignee_options(client: Client, tracker: FakeWorkspace) -> None:
    tracker.assignees = [Assignee(id="u-ada", name="Ada Lovelace", email="ada@example.org")]

    resp = await client.get(select_url("/sentry/options/assignees", "ADA"), headers=ui_headers(b""))

    assert await resp.json() == [{"label": "Ada Lovelace (ada@example.org)", "value": "u-ada"}]


@pytest.mark.parametrize(("method", "path"), [("POST", CREATE + "/"), ("GET", "/nope"), ("GET", CREATE)])
async def test_unknown_routes_are_json_errors_not_redirects(client: Client, method: str, path: str) -> None:
    resp = await client.request(method, path, headers=ui_headers(b""), allow_redirects=False)

    assert resp.status in (404, 405)
    assert "message" in await resp.json()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nope", 404), ("POST", "/sentry/webhook/", 404), ("GET", CREATE, 405), ("PUT", "/sentry/webhook", 405)],
)
async def test_an_ingress_check_without_a_signature_sees_404_or_405_not_401(
    client: Client, method: str, path: str, status: int
) -> None:
    resp = await client.request(method, path, allow_redirects=False)

    assert resp.status == status
    assert (await resp.json())["message"]


@pytest.mark.parametrize(("method", "path", "allowed"), [("GET", CREATE, "POST"), ("PUT", "/sentry/webhook", "POST")])
async def test_a_wrong_method_names_the_allowed_ones(client: Client, method: str, path: str, allowed: str) -> None:
    resp = await client.request(method, path, allow_redirects=False)

    assert resp.status == 405
    assert resp.headers["Allow"] == allowed
    assert resp.content_type == "application/json"


async def test_one_log_line_per_request_without_secrets(client: Client) -> None:
    body = create_body()
    headers = ui_headers(body)

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        await client.post(CREATE, data=body, headers=headers)

    (line,) = [e for e in logs if e["event"] == "request"]
    assert line["status"] == 201
    assert line["route"] == CREATE
    assert line["request_id"] == headers["Request-ID"]
    assert line["installation_id"] == INSTALLATION
    assert isinstance(line["duration_ms"], float)
    assert line["notion_calls"] == []  # the fake tracker makes no HTTP calls; the adapter tests count real ones
    assert headers["Sentry-App-Signature"] not in repr(logs)


async def test_webhooks_are_acknowledged_when_signed(client: Client, tracker: FakeWorkspace) -> None:
    body = b'{"action":"resolved","installation":{"uuid":"' + INSTALLATION.encode() + b'"},"data":{},"actor":{}}'
    headers = {"Sentry-Hook-Resource": "issue", "Sentry-Hook-Timestamp": "1700000000"}

    good = await client.post("/sentry/webhook", data=body, headers=headers | {"Sentry-Hook-Signature": sign(body)})
    bad = await client.post("/sentry/webhook", data=body, headers=headers | {"Sentry-Hook-Signature": sign(b"")})

    assert good.status == 200
    assert bad.status == 401
    assert tracker.calls == []


async def test_options_answer_an_empty_list_even_on_a_bug(
    client: Client, tracker: FakeWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object) -> None:
        raise KeyError("properties")

    monkeypatch.setattr(tracker, "search_entries", broken)

    resp = await client.get(select_url("/sentry/options/issues", "x"), headers=ui_headers(b""))

    assert resp.status == 200
    assert await resp.json() == []


@pytest.mark.parametrize(
    ("resource", "data"),
    [
        ("issue", {"issue": "x"}),
        ("issue", {"issue": {"id": {"nested": 1}, "level": 7, "firstSeen": [], "count": {}}}),
        ("issue", {"issue": {"id": "4242"}, "assignee": "nobody"}),
        ("comment", {"issue_id": {"x": 1}, "comment_id": [], "comment": 5}),
        ("comment", "not an object"),
    ],
)
async def test_signed_webhooks_of_a_shape_sentry_never_sends_are_answered(
    client: Client, tracker: FakeWorkspace, resource: str, data: object
) -> None:
    body = b'{"action":"assigned","installation":{"uuid":"i"},"data":' + json.dumps(data).encode() + b',"actor":{}}'
    headers = {
        "Sentry-Hook-Resource": resource,
        "Sentry-Hook-Timestamp": str(int(time.time())),
        "Sentry-Hook-Signature": sign(body),
    }

    resp = await client.post("/sentry/webhook", data=body, headers=headers)

    assert resp.status in (200, 202)
    assert "update_entry" not in tracker.calls


@pytest.mark.parametrize("timestamp", [None, "", "nan", "inf", "1e20", "abc", "1764800000.25", "-5"])
async def test_webhooks_without_a_timestamp_sentry_would_send_are_refused(
    client: Client, tracker: FakeWorkspace, timestamp: str | None
) -> None:
    page = tracker.add("Login fails", sentry_url="https://acme.sentry.io/issues/4242/")
    body = webhook("resolved", {"issue": group(status="resolved")})
    headers = hook_headers(body, "issue", 0)
    del headers["Sentry-Hook-Timestamp"]
    if timestamp is not None:
        headers["Sentry-Hook-Timestamp"] = timestamp

    resp = await client.post("/sentry/webhook", data=body, headers=headers)

    assert resp.status == 400
    assert "Sentry-Hook-Timestamp" in (await resp.json())["message"]
    assert tracker.pages[page.page_id].status == "Not started"
    assert "update_entry" not in tracker.calls
