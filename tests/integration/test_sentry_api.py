# The Sentry adapter over real HTTP against the in-repo fake Sentry API (tests/support/fake_sentry.py).
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import ClientSession, web
from pytest_aiohttp import AiohttpServer

from adapters.sentry.api import HttpSentryApi, open_sentry_client
from domain.errors import IssueNotFound, SentryRefused, SentryUnavailable
from domain.models import SentryIssueState
from tests.support.fake_sentry import FakeSentry

TOKEN = "sntrys_test_token"
ISSUE = r"/api/0/organizations/acme/issues/4242/"
TAGS = r"/api/0/organizations/acme/issues/4242/tags/environment/"
NOTES = r"/api/0/organizations/acme/issues/4242/comments/"
NOTE = "Linked to Notion BUG-12: https://www.notion.so/1f2e3d4c5b6a79880796a5b4c3d2e1f0"

Connect = Callable[..., Awaitable[HttpSentryApi]]


@pytest.fixture
def fake() -> FakeSentry:
    return FakeSentry(token=TOKEN)


@pytest.fixture
async def connect(aiohttp_server: AiohttpServer, fake: FakeSentry) -> AsyncIterator[Connect]:
    """The adapter pointed at the fake (or at `base_url`), with its own client and timeout."""
    server = await aiohttp_server(fake.app())
    async with contextlib.AsyncExitStack() as stack:

        async def connect(
            *, token: str = TOKEN, timeout_s: float = 5, base_url: str | None = None, organization: str = "acme"
        ) -> HttpSentryApi:
            url = base_url or str(server.make_url("/"))
            client = await stack.enter_async_context(open_sentry_client(token=token, base_url=url, timeout_s=timeout_s))
            return HttpSentryApi(client, organization=organization, base_url=url)

        yield connect


@pytest.fixture
async def sentry(connect: Connect) -> HttpSentryApi:
    return await connect()


# ----- reading an issue -----


async def test_issue_maps_every_field(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    issue = fake.add_issue(
        4242,
        short_id="BACKEND-12",
        status="unresolved",
        substatus="regressed",
        assignee="jane@example.com",
        level="fatal",
        count=1234,
        user_count=56,
        first_seen="2026-04-01T08:00:00.123456Z",
        last_seen="2026-05-01T09:30:00Z",
        releases=["backend@1.4.0", "backend@1.5.2"],
        environment={"staging": 34, "production": 1200},
    )

    state = await sentry.issue("4242")

    assert state == SentryIssueState(
        issue_id="4242",
        short_id="BACKEND-12",
        status="unresolved",
        substatus="regressed",
        assignee_id=issue["assignedTo"]["id"],
        assignee_email="jane@example.com",
        assignee_is_team=False,
        level="fatal",
        events=1234,
        users=56,
        first_seen="2026-04-01T08:00:00.123Z",  # as Notion gives dates back: millisecond precision
        last_seen="2026-05-01T09:30:00.000Z",
        release="backend@1.5.2",
        environment="production",
    )
    sent = fake.calls("GET")
    assert [r.path for r in sent] == [ISSUE, TAGS]
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in sent)


async def test_team_assignee_and_missing_release_and_environment(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242, status="ignored", substatus="archived_until_escalating", assignee="#backend-team")

    state = await sentry.issue("4242")

    assert (state.assignee_email, state.assignee_is_team) == (None, True)
    assert (state.release, state.environment) == (None, None)  # no release seen; no environment tag (404)
    assert (state.status, state.substatus) == ("ignored", "archived_until_escalating")


async def test_unassigned_issue_without_seen_stats(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    issue = fake.add_issue(4242, status="resolved", substatus=None)
    issue.update({"userCount": None, "firstSeen": None, "count": "n/a"})

    state = await sentry.issue("4242")

    assert (state.assignee_email, state.assignee_is_team) == (None, False)
    assert (state.substatus, state.events, state.users, state.first_seen) == (None, None, None, None)


async def test_release_falls_back_to_the_first_release(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242, releases=["1.0.0"])["lastRelease"] = None

    assert (await sentry.issue("4242")).release == "1.0.0"


async def test_integer_count_is_read_too(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    # Sentry's own API examples show `count` as a number; the serializer sends a string.
    fake.add_issue(4242)["count"] = 150

    assert (await sentry.issue("4242")).events == 150


async def test_environment_lookup_failing_is_skipped_without_retry(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242, environment="production", level="warning")
    fake.fail_next("GET", TAGS, 503, times=5)

    state = await sentry.issue("4242")

    assert (state.level, state.environment) == ("warning", None)
    assert len(fake.calls("GET", TAGS)) == 1  # at most one extra request


async def test_environment_lookup_timing_out_is_skipped(connect: Connect, fake: FakeSentry) -> None:
    sentry = await connect(timeout_s=0.3)
    fake.add_issue(4242, environment="production")
    fake.fail_next("GET", TAGS, 200, delay=1)

    assert (await sentry.issue("4242")).environment is None


async def test_issue_asked_by_short_id_is_answered_by_its_id(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242, environment="production")
    fake.add_issue(77, short_id="BACKEND-77")

    state = await sentry.issue("BACKEND-77")  # the fake, like Sentry, also finds an issue by its short ID

    assert (state.issue_id, state.short_id) == ("77", "BACKEND-77")
    assert fake.calls("GET")[-1].path == "/api/0/organizations/acme/issues/77/tags/environment/"


# ----- notes -----


async def test_note_is_posted(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242)

    await sentry.add_note("4242", NOTE)

    assert fake.notes(4242) == [NOTE]
    assert [r.json for r in fake.calls("POST", NOTES)] == [{"text": NOTE}]
    assert fake.issue(4242)["numComments"] == 1


async def test_duplicate_note_is_already_done_and_answers_the_saved_note(
    sentry: HttpSentryApi, fake: FakeSentry
) -> None:
    fake.add_issue(4242)

    first = await sentry.add_note("4242", NOTE)
    fake.add_note(4242, "Later note", user_id="7")
    again = await sentry.add_note("4242", NOTE)  # Sentry answers 400 "You have already posted that comment."

    assert again == first
    assert fake.notes(4242) == [NOTE, "Later note"]
    assert len(fake.calls("POST", NOTES)) == 2


async def test_other_rejected_note_is_an_error(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242)

    with pytest.raises(SentryRefused, match=r"refused the request \(400\).*text: This field may not be blank"):
        await sentry.add_note("4242", "   ")


async def test_note_is_not_sent_again_after_5xx(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242)
    fake.fail_next("POST", NOTES, 502, times=3)

    with pytest.raises(SentryUnavailable, match=r"failed \(502\)"):
        await sentry.add_note("4242", NOTE)

    assert len(fake.calls("POST", NOTES)) == 1


async def test_note_saved_before_a_5xx_is_done_when_the_caller_tries_again(
    sentry: HttpSentryApi, fake: FakeSentry
) -> None:
    fake.add_issue(4242)
    fake.fail_next("POST", NOTES, 503, commit=True)

    with pytest.raises(SentryUnavailable):
        await sentry.add_note("4242", NOTE)
    note_id = await sentry.add_note("4242", NOTE)  # a retried job: Sentry's duplicate check makes it harmless

    assert fake.notes(4242) == [NOTE]
    await sentry.edit_note("4242", note_id, "Edited")  # the id is that of the saved note
    assert fake.notes(4242) == ["Edited"]


async def test_note_timing_out_is_not_sent_again(connect: Connect, fake: FakeSentry) -> None:
    sentry = await connect(timeout_s=0.3)
    fake.add_issue(4242)
    fake.fail_next("POST", NOTES, 201, delay=1, commit=True)

    with pytest.raises(SentryUnavailable, match="did not answer in time"):
        await sentry.add_note("4242", NOTE)

    assert len(fake.calls("POST", NOTES)) == 1


async def test_rate_limited_note_is_sent_again(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    # The rate limiter answers before the endpoint runs, so nothing was saved.
    fake.add_issue(4242)
    fake.fail_next("POST", NOTES, 429)

    await sentry.add_note("4242", NOTE)

    assert len(fake.calls("POST", NOTES)) == 2
    assert fake.notes(4242) == [NOTE]


async def test_a_note_is_edited_and_deleted_by_its_id(connect: Connect, fake: FakeSentry) -> None:
    fake.scopes.add("event:admin")  # the Admin level of "Issue & Event", which deleting takes
    sentry = await connect()
    fake.add_issue(4242)
    note_id = await sentry.add_note("4242", NOTE)
    other = await sentry.add_note("4242", "Stays")

    await sentry.edit_note("4242", note_id, "Edited")
    assert fake.notes(4242) == ["Edited", "Stays"]
    assert [r.json for r in fake.calls("PUT", NOTES + note_id + "/")] == [{"text": "Edited"}]

    await sentry.delete_note("4242", note_id)
    await sentry.delete_note("4242", note_id)  # already gone: done
    assert fake.notes(4242) == ["Stays"]
    assert len(fake.calls("DELETE", NOTES + ".*")) == 2
    assert other != note_id


async def test_a_gone_note_or_anothers_cannot_be_edited(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242)
    theirs = fake.add_note(4242, "A person's note", user_id="7")

    with pytest.raises(IssueNotFound, match="no note 999"):
        await sentry.edit_note("4242", "999", "Edited")
    with pytest.raises(IssueNotFound):
        await sentry.edit_note("4242", theirs, "Edited")
    assert fake.notes(4242) == ["A person's note"]


async def test_deleting_a_note_without_the_admin_scope_says_which_permission(
    sentry: HttpSentryApi, fake: FakeSentry
) -> None:
    fake.add_issue(4242)
    note_id = await sentry.add_note("4242", NOTE)

    with pytest.raises(SentryRefused, match="'Issue & Event' permission Admin"):
        await sentry.delete_note("4242", note_id)
    assert fake.notes(4242) == [NOTE]


# ----- errors -----


async def test_bad_token_names_the_setting_and_scopes(connect: Connect, fake: FakeSentry) -> None:
    sentry = await connect(token="sntrys_wrong")
    fake.add_issue(4242)

    with pytest.raises(SentryRefused) as caught:
        await sentry.issue("4242")

    message = caught.value.message
    assert "SENTRY_API_TOKEN" in message
    assert "Invalid token" in message
    assert "event:read" in message
    assert "event:write" in message
    assert len(fake.calls("GET")) == 1  # a 401 is not retried


async def test_missing_write_scope_is_explained(connect: Connect, aiohttp_server: AiohttpServer) -> None:
    read_only = FakeSentry(token=TOKEN, scopes=["event:read"])
    read_only.add_issue(4242)
    server = await aiohttp_server(read_only.app())
    sentry = await connect(base_url=str(server.make_url("/")))

    await sentry.issue("4242")
    with pytest.raises(SentryRefused, match=r"SENTRY_API_TOKEN may not do this.*event:write"):
        await sentry.add_note("4242", NOTE)


async def test_unknown_issue_is_not_found(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    with pytest.raises(IssueNotFound, match="no issue 999"):
        await sentry.issue("999")
    with pytest.raises(IssueNotFound):
        await sentry.add_note("999", NOTE)
    assert len(fake.calls("GET")) == 1  # a 404 is not retried


async def test_wrong_organization_is_not_found(connect: Connect, fake: FakeSentry) -> None:
    sentry = await connect(organization="other-org")
    fake.add_issue(4242)

    with pytest.raises(IssueNotFound, match="'other-org'"):
        await sentry.issue("4242")


async def test_5xx_on_read_is_retried(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242, level="error")
    fake.fail_next("GET", ISSUE, 503, times=2)

    assert (await sentry.issue("4242")).level == "error"
    assert len(fake.calls("GET", ISSUE)) == 3


async def test_5xx_that_persists_is_unavailable(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242)
    fake.fail_next("GET", ISSUE, 500, times=10)

    with pytest.raises(SentryUnavailable, match=r"failed \(500\)"):
        await sentry.issue("4242")
    assert len(fake.calls("GET", ISSUE)) == 3


async def test_read_timing_out_is_retried_then_unavailable(connect: Connect, fake: FakeSentry) -> None:
    sentry = await connect(timeout_s=0.2)
    fake.add_issue(4242)
    fake.fail_next("GET", ISSUE, 200, delay=1, times=10)

    with pytest.raises(SentryUnavailable, match="did not answer in time"):
        await sentry.issue("4242")
    assert len(fake.calls("GET", ISSUE)) == 3


async def test_read_timing_out_once_succeeds(connect: Connect, fake: FakeSentry) -> None:
    sentry = await connect(timeout_s=0.3)
    fake.add_issue(4242, short_id="BACKEND-12")
    fake.fail_next("GET", ISSUE, 200, delay=1)

    assert (await sentry.issue("4242")).short_id == "BACKEND-12"


async def test_dropped_connection_on_read_is_retried(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242)
    fake.fail_next("GET", ISSUE, 500, drop=True)

    assert (await sentry.issue("4242")).issue_id == "4242"
    assert len(fake.calls("GET", ISSUE)) == 2


async def test_rate_limit_waits_for_the_window(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242)
    fake.fail_next("GET", ISSUE, 429)  # X-Sentry-Rate-Limit-Reset: now, no Retry-After

    await sentry.issue("4242")

    assert len(fake.calls("GET", ISSUE)) == 2


async def test_rate_limit_honours_retry_after(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242)
    fake.fail_next("GET", ISSUE, 429, retry_after=1, reset_in=60)

    started = time.monotonic()
    await sentry.issue("4242")

    assert time.monotonic() - started >= 0.9
    assert len(fake.calls("GET", ISSUE)) == 2


async def test_long_rate_limit_gives_up_at_once(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242)
    fake.fail_next("GET", ISSUE, 429, reset_in=60)

    with pytest.raises(SentryUnavailable, match=r"rate limiting this integration; try again in \d+ s"):
        await sentry.issue("4242")
    assert len(fake.calls("GET", ISSUE)) == 1


async def test_unreachable_sentry_is_unavailable(connect: Connect) -> None:
    sentry = await connect(base_url="http://127.0.0.1:9", timeout_s=1)

    with pytest.raises(SentryUnavailable, match=r"Could not reach Sentry at .* \(SENTRY_URL\)"):
        await sentry.issue("4242")


async def test_base_url_with_a_path_prefix(aiohttp_server: AiohttpServer, connect: Connect) -> None:
    # Self-hosted Sentry can live under a prefix; relative paths keep it.
    prefixed = FakeSentry(token=TOKEN)
    prefixed.add_issue(4242)
    outer = web.Application()
    outer.add_subapp("/sentry/", prefixed.app())
    server = await aiohttp_server(outer)
    sentry = await connect(base_url=str(server.make_url("/sentry")))

    assert (await sentry.issue("4242")).issue_id == "4242"


# ----- the fake's other endpoints, for the sync and link tests that build on it -----


async def test_fake_updates_status_and_assignee(aiohttp_server: AiohttpServer, fake: FakeSentry) -> None:
    fake.add_issue(4242, assignee="jane@example.com")
    team = fake.add_team("backend")
    server = await aiohttp_server(fake.app())
    async with ClientSession(headers=fake.headers()) as http:
        url = server.make_url(ISSUE)
        async with http.put(url, json={"status": "ignored", "statusDetails": {"untilEscalating": True}}) as resp:
            assert resp.status == 200
            assert await resp.json() == {
                "status": "ignored",
                "substatus": "archived_until_escalating",
                "statusDetails": {},
            }
        async with http.put(url, json={"assignedTo": f"team:{team['id']}"}) as resp:
            assert (await resp.json())["assignedTo"] == {"type": "team", "id": team["id"], "name": "backend"}
        async with http.put(url, json={"status": "resolvedInNextRelease"}) as resp:
            assert (await resp.json())["statusDetails"] == {"inNextRelease": True}
        async with http.put(url, json={"status": "closed"}) as resp:
            assert resp.status == 400
    assert (fake.issue(4242)["status"], fake.issue(4242)["substatus"]) == ("resolved", None)


async def test_fake_external_issues(aiohttp_server: AiohttpServer, fake: FakeSentry) -> None:
    fake.add_issue(4242)
    server = await aiohttp_server(fake.app())
    link = {"issueId": 4242, "webUrl": "https://www.notion.so/abc", "project": "Bugs", "identifier": "BUG-12"}
    async with ClientSession(headers=fake.headers()) as http:
        create = server.make_url(f"/api/0/sentry-app-installations/{fake.installation}/external-issues/")
        async with http.post(create, json=link) as resp:
            created = await resp.json()
            assert created["displayName"] == "Bugs#BUG-12"
            assert created["issueId"] == "4242"
        async with http.post(create, json=link | {"identifier": "BUG-13"}) as resp:
            assert (await resp.json())["id"] == created["id"]  # one per (issue, app)
        async with http.get(server.make_url("/api/0/organizations/acme/issues/4242/external-issues/")) as resp:
            assert [i["displayName"] for i in await resp.json()] == ["Bugs#BUG-13"]
        async with http.get(server.make_url(ISSUE), headers={"Authorization": ""}) as resp:
            assert resp.status == 401


# ----- writing status and assignee, reading members -----


async def test_status_writes_are_the_bodies_sentry_takes_and_change_its_activity(
    sentry: HttpSentryApi, fake: FakeSentry
) -> None:
    fake.add_issue(4242, status="unresolved", substatus="ongoing")

    await sentry.set_status("4242", "ignored")
    archived = await sentry.issue("4242")
    await sentry.set_status("4242", "resolved")

    assert [r.json for r in fake.calls("PUT", ISSUE)] == [
        {"status": "ignored", "substatus": "archived_forever", "statusDetails": {}},
        {"status": "resolved"},
    ]
    assert (archived.status, archived.substatus) == ("ignored", "archived_forever")
    assert archived.status_changed_at is not None


async def test_assign_and_unassign_name_the_user_by_id(sentry: HttpSentryApi, fake: FakeSentry) -> None:
    fake.add_issue(4242)
    user_id = fake.add_member("ada@example.com", "Ada")

    await sentry.assign("4242", user_id)
    assigned = await sentry.issue("4242")
    await sentry.assign("4242", None)

    assert (assigned.assignee_id, assigned.assignee_email) == (user_id, "ada@example.com")
    assert (await sentry.issue("4242")).assignee_id is None


async def test_members_are_read_page_by_page_without_invitations(connect: Connect, fake: FakeSentry) -> None:
    fake.scopes.add("member:read")
    sentry = await connect()
    ids = [fake.add_member(f"dev{n}@example.com") for n in range(150)]
    fake.add_member("invited@example.com", pending=True)

    members = await sentry.members()

    assert [m.user_id for m in members] == ids
    assert len(fake.calls("GET", r"/api/0/organizations/acme/members/")) == 2


async def test_members_without_member_read_say_which_permission_to_give(sentry: HttpSentryApi) -> None:
    with pytest.raises(SentryRefused, match="member:read"):
        await sentry.members()
