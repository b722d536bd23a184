# Sentry's REST API as the internal integration (https://docs.sentry.io/api/). Sources in getsentry/sentry are named
# as S:<path>; the fields read here are those of the issue details endpoint,
# S:src/sentry/issues/endpoints/group_details.py::GroupDetailsEndpoint.get.
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog
from aiohttp_retry import RetryClient

from adapters.http_retry import BudgetedRetry, retry_after_s
from adapters.urls import without_credentials
from domain.errors import DomainError, IssueNotFound, SentryRefused, SentryTokenRefused, SentryUnavailable
from domain.models import Access, Finding, SentryIssueState, SentryMember, SentryStatus
from domain.ports import Dependency, SentryApi
from domain.sentry_events import epoch_s, iso_utc

log = structlog.get_logger(__name__)
JSON = dict[str, Any]

# S:src/sentry/issues/endpoints/group_notes.py::GroupNotesEndpoint.post answers this, with 400, to an
# identical note by the same user within an hour.
DUPLICATE_NOTE = "already posted that comment"
# S:src/sentry/issues/endpoints/bases/group.py::GroupPermission.scope_map: GET takes event:read,
# POST and PUT take event:write. The integration's "Issue & Event" permission grants them.
SCOPES = "event:read and event:write"
# Any of these lets the token read issues (details, status, assignee: the assignee's email is part of the issue,
# S:src/sentry/api/serializers/models/actor.py), and any of the second set lets it post notes.
READS = frozenset({"event:read", "event:write", "event:admin"})
WRITES = frozenset({"event:write", "event:admin"})
# What a check that could not reach Sentry, or not as the token, rules out, and how the sync features say it.
EVERYTHING: frozenset[Access] = frozenset({"read", "write", "members"})
UNCHECKED = "Sentry could not be checked"
TOKENS = "Sentry → Settings → Developer Settings → Custom Integrations → your internal integration → Tokens (New Token)"
# S:src/sentry/types/activity.py::STATUS_CHANGE_ACTIVITY_TYPES, as the activity serializer names them.
STATUS_ACTIVITY = frozenset(
    {
        "set_resolved",
        "set_unresolved",
        "set_ignored",
        "set_regression",
        "set_resolved_in_release",
        "set_resolved_by_age",
        "set_resolved_in_commit",
        "set_resolved_in_pull_request",
        "set_escalating",
    }
)
# Archiving with no condition; without a substatus Sentry infers it from statusDetails
# (S:src/sentry/issues/status_change.py::infer_substatus).
STATUS_BODIES: dict[str, JSON] = {
    "resolved": {"status": "resolved"},
    "unresolved": {"status": "unresolved"},
    "ignored": {"status": "ignored", "substatus": "archived_forever", "statusDetails": {}},
}
MEMBER_PAGES = 20  # 100 members a page (S:src/sentry/api/paginator.py): 2,000 members


def rate_limit_reset_s(response: aiohttp.ClientResponse) -> float | None:
    # Sentry's rate limiter answers 429 without Retry-After; every answer carries X-Sentry-Rate-Limit-Reset,
    # the end of the current window in Unix seconds (S:src/sentry/middleware/ratelimit.py).
    try:
        return max(0.0, float(response.headers.get("X-Sentry-Rate-Limit-Reset", "")) - time.time())
    except ValueError:
        return None


def _asked_s(response: aiohttp.ClientResponse) -> float | None:
    asked = retry_after_s(response)
    if asked is None and response.status == 429:
        asked = rate_limit_reset_s(response)
    return asked


# Reads are sent again after a 5xx, a 429 or a lost connection. A note is a write that Sentry may have
# saved before a 5xx or a timeout, so it is sent again only when Sentry cannot have run it: a failure to
# connect, or a 429, which the rate limiter answers before the endpoint runs (RatelimitMiddleware.process_view).
# A wait longer than `max_wait_s`, or than the caller has left, is not taken: the caller gets the 429 at once.
class SentryRetry(BudgetedRetry):
    def __init__(self, *, idempotent: bool, attempts: int = 3) -> None:
        super().__init__(
            idempotent=idempotent, throttled=frozenset({429}), attempts=attempts, max_wait_s=5.0, asked_wait=_asked_s
        )


IDEMPOTENT = SentryRetry(idempotent=True)
SEND_ONCE = SentryRetry(idempotent=False)
# The environment is a nice-to-have: one try, and the issue is answered without it if that fails.
OPTIONAL = SentryRetry(idempotent=True, attempts=1)


@contextlib.asynccontextmanager
async def open_sentry_client(*, token: str, base_url: str, timeout_s: float = 10) -> AsyncIterator[RetryClient]:
    session = aiohttp.ClientSession(
        base_url=base_url.rstrip("/") + "/",  # keeps a self-hosted prefix such as https://example.com/sentry
        headers={
            "Authorization": f"Bearer {token}",  # https://docs.sentry.io/api/auth/
            "Accept": "application/json",
            "User-Agent": "sentry-notion",
        },
        timeout=aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(timeout_s, 5.0)),
        raise_for_status=False,
    )
    async with RetryClient(client_session=session, retry_options=IDEMPOTENT) as client:
        yield client


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any
    wait_s: float | None = None
    next_path: str | None = None  # the next page, when the Link header says it has results


class HttpSentryApi(SentryApi, Dependency):
    def __init__(
        self,
        client: RetryClient,
        *,
        organization: str,
        base_url: str,
        assignees_from_notion: bool = False,
        comments_from_notion: bool = False,
    ) -> None:
        # The two flags say what check asks of the token beyond issues and notes: member:read to match Notion's
        # assignees, event:admin to delete the notes of deleted Notion comments.
        self._client, self._organization = client, organization
        self._where = f"{without_credentials(base_url)} (SENTRY_URL)"
        self._assignees_from_notion, self._comments_from_notion = assignees_from_notion, comments_from_notion

    name = "Sentry"
    required = False  # webhooks are still applied without it, from what they carry

    async def diagnose(self, *, thorough: bool) -> list[Finding]:
        # Read-only probes. The API's index (S:src/sentry/api/endpoints/index.py) takes any valid token, with
        # no scope, and answers {"version": "0", "auth": {"scopes": [...]}, "user": ...}: it tells a wrong URL,
        # a refused token and missing scopes apart without touching an issue.
        try:
            index = await self._send("GET", "api/0/", OPTIONAL)
        except SentryUnavailable as exc:
            return [Finding(check="Sentry", ok=False, detail=exc.message, rules_out=EVERYTHING, because=UNCHECKED)]
        if index.status == 401:
            return [
                Finding(
                    check="Sentry token",
                    ok=False,
                    detail=f"{self._where} does not accept SENTRY_API_TOKEN: it is mistyped or was revoked",
                    fix=f"Copy a token of the internal integration: {TOKENS}.",
                    rules_out=EVERYTHING,
                    because="Sentry does not accept SENTRY_API_TOKEN",
                )
            ]
        if index.status == 429 or index.status >= 500:
            message = self._error(index, "").message
            return [Finding(check="Sentry", ok=False, detail=message, rules_out=EVERYTHING, because=UNCHECKED)]
        body = index.body if isinstance(index.body, dict) else {}
        if index.status != 200 or body.get("version") != "0":
            return [
                Finding(
                    check="Sentry",
                    ok=False,
                    detail=f"{self._where} did not answer as Sentry's API does (HTTP {index.status})",
                    fix="Set SENTRY_URL to the address you open Sentry at, such as https://sentry.io.",
                    rules_out=EVERYTHING,
                    because="SENTRY_URL is not Sentry's API",
                )
            ]
        auth: JSON = body["auth"] if isinstance(body.get("auth"), dict) else {}
        scopes = frozenset(str(scope) for scope in auth.get("scopes") or ())
        shown = ", ".join(sorted(scopes)) or "none"
        token = Finding(check="Sentry token", ok=True, detail=f"accepted by {self._where}; scopes {shown}")
        organization = await self._organization_finding(scopes)
        found = [token, organization, *_scope_findings(scopes)]
        if self._assignees_from_notion and organization.ok:
            found.append(await self._members_finding())
        if self._comments_from_notion:
            found.append(_deletes_finding(scopes))
        return found

    async def _members_finding(self) -> Finding:
        # Asked of the members endpoint itself (OrganizationMemberPermission: member:read, member:write or
        # member:admin), which is what matching Notion's assignees reads.
        check = "Sentry scope member:read"
        org = quote(self._organization, safe="")
        members: frozenset[Access] = frozenset({"members"})
        try:
            answer = await self._send("GET", f"api/0/organizations/{org}/members/?per_page=1", OPTIONAL)
        except SentryUnavailable as exc:
            return Finding(
                check=check, ok=False, detail=f"not checked: {exc.message}", rules_out=members, because=UNCHECKED
            )
        if answer.status == 200:
            return Finding(check=check, ok=True, detail="the token may list members, to match Notion's assignees")
        if answer.status == 403:
            return Finding(
                check=check,
                ok=False,
                detail="missing: the token may not list members, so Notion's assignees cannot reach Sentry",
                fix="Give the internal integration the permission Member: Read and save it; if the token still lacks "
                "the scope, create a new one. Or set NOTION_CONFIG sync.assignee to false.",
                rules_out=members,
                because="the token lacks member:read",
            )
        detail = f"not checked: {self._error(answer, '').message}"
        return Finding(check=check, ok=False, detail=detail, rules_out=members, because=UNCHECKED)

    async def _organization_finding(self, scopes: frozenset[str]) -> Finding:
        # The organization's issue list (OrganizationGroupIndexEndpoint, OrganizationEventPermission) looks the
        # organization up before it checks scopes (OrganizationEndpoint.convert_args): 404 is a slug that no
        # organization has, 403 with event:read a token that is not installed there.
        org = quote(self._organization, safe="")
        check = "Sentry organization"
        try:
            answer = await self._send("GET", f"api/0/organizations/{org}/issues/?limit=1", OPTIONAL)
        except SentryUnavailable as exc:
            return Finding(check=check, ok=False, detail=exc.message, rules_out=EVERYTHING, because=UNCHECKED)
        if answer.status == 200:
            return Finding(check=check, ok=True, detail=f"{self._organization!r}: the token reads its issues")
        where = f"SENTRY_ORG {self._organization!r}"
        if answer.status == 404:
            return Finding(
                check=check,
                ok=False,
                detail=f"{where} is not an organization at {self._where}",
                fix="Set SENTRY_ORG to the slug in your Sentry links: https://<slug>.sentry.io or "
                ".../organizations/<slug>/.",
                rules_out=EVERYTHING,
                because=f"{where} is not an organization",
            )
        if answer.status == 403 and scopes & READS:
            return Finding(
                check=check,
                ok=False,
                detail=f"the token may not read {where}: its integration belongs to another organization",
                fix="Set SENTRY_ORG to the organization the internal integration was created in.",
                rules_out=EVERYTHING,
                because=f"the token may not read {where}",
            )
        if answer.status == 403:  # no scope to read issues with: the scope's own line rules that out
            return Finding(check=check, ok=False, detail=f"not checked: the token may not read issues of {where}")
        message = self._error(answer, "").message
        return Finding(check=check, ok=False, detail=message, rules_out=EVERYTHING, because=UNCHECKED)

    async def issue(self, issue_id: str) -> SentryIssueState:
        answer = await self._send("GET", self._path(issue_id), IDEMPOTENT)
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise self._error(answer, issue_id)
        group: JSON = answer.body
        # A merged issue answers as the issue it was merged into (get_group_with_redirect): ask about that one.
        current = str(group.get("id") or issue_id)
        return issue_state(group, issue_id=current, environment=await self._environment(current))

    async def add_note(self, issue_id: str, text: str) -> str:
        # The notes endpoint (GroupNotesEndpoint) is private but is what the issue page's comment box uses; it
        # answers the new note as ActivitySerializer renders it, with its id.
        answer = await self._send("POST", self._path(issue_id, "comments/"), SEND_ONCE, json={"text": text})
        if answer.status in (200, 201) and isinstance(answer.body, dict) and answer.body.get("id"):
            return str(answer.body["id"])
        if answer.status == 400 and DUPLICATE_NOTE in _detail(answer.body):
            # The same note is already there (a retried job, or a write whose answer was lost): that one is ours.
            log.info("sentry_note_already_posted", issue_id=issue_id)
            return await self._posted(issue_id, text)
        raise self._error(answer, issue_id)

    async def set_status(self, issue_id: str, status: SentryStatus) -> None:
        # Setting a status is idempotent (update an issue, S:src/sentry/issues/endpoints/group_details.py::put),
        # so the PUT may be sent again after a lost answer.
        await self._update(issue_id, STATUS_BODIES[status])

    async def assign(self, issue_id: str, user_id: str | None) -> None:
        # "user:<id>" names the actor exactly; an empty value unassigns
        # (https://docs.sentry.io/api/events/update-an-issue/).
        await self._update(issue_id, {"assignedTo": f"user:{user_id}" if user_id else ""})

    async def members(self) -> list[SentryMember]:
        # S:src/sentry/core/endpoints/organization_member_index.py, paged by cursor in Link headers
        # (S:src/sentry/api/base.py::Endpoint.build_cursor_link); pending invitations have no user yet.
        org = quote(self._organization, safe="")
        path: str | None = f"api/0/organizations/{org}/members/?per_page=100"
        found: list[SentryMember] = []
        for _ in range(MEMBER_PAGES):
            if path is None:
                break
            answer = await self._send("GET", path, IDEMPOTENT)
            if answer.status != 200 or not isinstance(answer.body, list):
                raise self._error(answer, "", scopes="member:read")
            found += [m for item in answer.body if (m := _member(item)) is not None]
            path = answer.next_path
        return found

    async def _update(self, issue_id: str, body: JSON) -> None:
        answer = await self._send("PUT", self._path(issue_id), IDEMPOTENT, json=body)
        if answer.status != 200:
            raise self._error(answer, issue_id)

    async def link_external_issue(
        self, installation_id: str, issue_id: str, *, web_url: str, project: str, identifier: str
    ) -> None:
        # The external-issues endpoint (S:…/endpoints/installation_external_issues.py), which upserts on (issue, app)
        # in current Sentry: sending it again changes nothing, so it may be retried.
        path = f"api/0/sentry-app-installations/{quote(installation_id, safe='')}/external-issues/"
        body = {"issueId": int(issue_id), "webUrl": web_url, "project": project, "identifier": identifier}
        answer = await self._send("POST", path, IDEMPOTENT, json=body)
        if answer.status not in (200, 201):
            raise self._error(answer, issue_id)

    async def edit_note(self, issue_id: str, note_id: str, text: str) -> None:
        # GroupNotesDetailsEndpoint.put finds the note among the token's proxy user's own: another's is a 404 too.
        path = self._path(issue_id, f"comments/{quote(note_id, safe='')}/")
        answer = await self._send("PUT", path, IDEMPOTENT, json={"text": text})
        if answer.status != 200:
            raise self._error(answer, issue_id, what=f"note {note_id} of the integration on issue {issue_id}")

    async def delete_note(self, issue_id: str, note_id: str) -> None:
        # GroupPermission gives DELETE only to event:admin, the Admin level of "Issue & Event".
        path = self._path(issue_id, f"comments/{quote(note_id, safe='')}/")
        answer = await self._send("DELETE", path, IDEMPOTENT)
        if answer.status in (204, 404):
            return  # 404: already gone (or never the integration's, which it may not delete anyway)
        if answer.status == 403:
            raise SentryRefused(
                "SENTRY_API_TOKEN may not delete notes. Give the internal integration the 'Issue & Event' "
                "permission Admin (scope event:admin) for deletions in Notion to delete their Sentry notes."
            )
        raise self._error(answer, issue_id)

    async def _posted(self, issue_id: str, text: str) -> str:
        # Newest first (GroupNotesEndpoint.get orders by -datetime); a duplicate is at most an hour old, so well
        # within the first page.
        answer = await self._send("GET", self._path(issue_id, "comments/"), IDEMPOTENT)
        if answer.status != 200 or not isinstance(answer.body, list):
            raise self._error(answer, issue_id)
        for note in answer.body:
            if isinstance(note, dict) and (note.get("data") or {}).get("text") == text and note.get("id"):
                return str(note["id"])
        raise SentryUnavailable(f"Sentry refused a note as posted already but does not list it on {issue_id}.")

    async def _environment(self, issue_id: str) -> str | None:
        # Sentry keeps an event's environment as its `environment` tag. "Retrieve Tag Details"
        # (S:src/sentry/issues/endpoints/group_tagkey_details.py, public) answers that tag's top values over the
        # whole issue, most events first (tagstore snuba backend, orderby "-count"), in a few hundred bytes; the
        # latest event (GroupEventDetailsEndpoint "latest") would name one event's environment and carry its
        # whole stack trace. An issue without any environment answers 404 (GroupTagKeyNotFound).
        try:
            answer = await self._send("GET", self._path(issue_id, "tags/environment/"), OPTIONAL)
        except SentryUnavailable as exc:
            log.info("sentry_environment_skipped", issue_id=issue_id, error=exc.message)
            return None
        if answer.status != 200 or not isinstance(answer.body, dict):
            if answer.status != 404:
                log.info("sentry_environment_skipped", issue_id=issue_id, status=answer.status)
            return None
        return top_value(answer.body)

    def _path(self, issue_id: str, tail: str = "") -> str:
        org, issue = quote(self._organization, safe=""), quote(str(issue_id), safe="")
        return f"api/0/organizations/{org}/issues/{issue}/{tail}"

    async def _send(self, method: str, path: str, retry: SentryRetry, *, json: JSON | None = None) -> _Answer:
        try:
            async with self._client.request(method, path, retry_options=retry, json=json) as resp:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
                return _Answer(
                    resp.status, body, _asked_s(resp) if resp.status == 429 else None, _next_path(resp, method, path)
                )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SentryUnavailable(
                f"Sentry did not answer in time at {self._where}; try again."
                if isinstance(exc, TimeoutError)
                else f"Could not reach Sentry at {self._where}; check it and that this host reaches it."
            ) from exc

    def _error(self, answer: _Answer, issue_id: str, *, scopes: str = SCOPES, what: str = "") -> DomainError:
        detail = _detail(answer.body)
        said = f" (Sentry says: {detail})" if detail else ""
        if answer.status == 401:
            return SentryTokenRefused(
                f"Sentry does not accept SENTRY_API_TOKEN{said}. Set it to a token of the internal integration "
                f"(Settings → Developer Settings), whose permissions give the scopes {scopes}."
            )
        if answer.status == 403:
            permission = (
                "'Member' permission Read" if scopes == "member:read" else "'Issue & Event' permission Read & Write"
            )
            return SentryTokenRefused(
                f"SENTRY_API_TOKEN may not do this{said}. Give the internal integration the {permission} "
                f"(scopes {scopes}), in organization {self._organization!r}."
            )
        if answer.status == 404:
            return IssueNotFound(
                f"Sentry has no {what or f'issue {issue_id}'} in organization {self._organization!r}, "
                "or the token cannot see it."
            )
        if answer.status == 429:
            after = f" in {answer.wait_s:.0f} s" if answer.wait_s is not None else ""
            return SentryUnavailable(f"Sentry is rate limiting this integration; try again{after}.", answer.wait_s)
        if answer.status >= 500:
            return SentryUnavailable(f"Sentry failed ({answer.status}); try again.")
        if answer.status < 300:  # not JSON: a proxy's page, or SENTRY_URL points at something else
            return SentryUnavailable(f"Sentry's answer was not the expected JSON; check SENTRY_URL.{said}")
        return SentryRefused(f"Sentry refused the request ({answer.status}){said}.")


def _scope_findings(scopes: frozenset[str]) -> list[Finding]:
    # (scopes that suffice, the scope named, what it is for, the permission level that grants it)
    needs: tuple[tuple[frozenset[str], str, str, str, Access], ...] = (
        (READS, "event:read", "read issues: live details, status and assignee, reconcile", "Read", "read"),
        (
            WRITES,
            "event:write",
            "post notes and update issues (back-links; status, assignee and comments from Notion)",
            "Read & Write",
            "write",
        ),
    )
    return [
        Finding(check=f"Sentry scope {scope}", ok=True, detail=f"the token may {what}")
        if scopes & accepted
        else Finding(
            check=f"Sentry scope {scope}",
            ok=False,
            detail=f"missing: the token may not {what}",
            fix=f"Give the internal integration the permission Issue & Event: {level} and save it; "
            "if the token still lacks the scope, create a new one.",
            rules_out=frozenset({access}),
            because=f"the token lacks {scope}",
        )
        for accepted, scope, what, level, access in needs
    ]


def _deletes_finding(scopes: frozenset[str]) -> Finding:
    # GroupPermission gives DELETE only to event:admin; without it a note is rewritten instead, which is enough.
    check = "Sentry scope event:admin"
    if "event:admin" in scopes:
        return Finding(check=check, ok=True, detail="the token may delete the notes of comments deleted in Notion")
    return Finding(
        check=check,
        ok=True,
        warning=True,
        detail="missing (optional): a comment deleted in Notion leaves its note, marked deleted, instead of "
        "deleting it",
        fix="To delete such notes, give the internal integration the permission Issue & Event: Admin and create a "
        "new token.",
    )


def issue_state(group: JSON, *, issue_id: str, environment: str | None) -> SentryIssueState:
    # Keys of GroupSerializerBase.serialize and _convert_seen_stats (S:src/sentry/api/serializers/models/group.py):
    # `count` is a string, `userCount` a number, `assignedTo` the ActorSerializer's {type, id, name, email?}
    # (S:src/sentry/api/serializers/models/actor.py; teams have no email). firstRelease and lastRelease are added
    # by the details endpoint (get_first_last_release): a release serialized with its `version`, or null.
    # `activity` (GroupDetailsEndpoint.get) lists the issue's latest activities with their dateCreated: the
    # newest status change among them is Sentry's own record of when the status last changed.
    assignee = group.get("assignedTo")
    assignee = assignee if isinstance(assignee, dict) else {}
    is_team = assignee.get("type") == "team"
    return SentryIssueState(
        issue_id=issue_id,
        short_id=str(group.get("shortId") or ""),
        status=str(group.get("status") or "unresolved"),
        substatus=_text(group.get("substatus")),
        status_changed_at=_status_changed_at(group.get("activity")),
        assignee_id=None if is_team else _text(str(assignee.get("id") or "")),
        assignee_email=None if is_team else _text(assignee.get("email")),
        assignee_is_team=is_team,
        level=_text(group.get("level")),
        events=_count(group.get("count")),
        users=_count(group.get("userCount")),
        first_seen=iso_utc(group.get("firstSeen")),  # as Notion gives dates back, so unchanged ones compare equal
        last_seen=iso_utc(group.get("lastSeen")),
        release=_version(group.get("lastRelease")) or _version(group.get("firstRelease")),
        environment=environment,
    )


def _status_changed_at(activity: Any) -> float | None:
    times = [
        moment
        for item in activity or ()
        if isinstance(item, dict) and item.get("type") in STATUS_ACTIVITY
        if (moment := epoch_s(item.get("dateCreated"))) is not None
    ]
    return max(times, default=None)


def _member(item: Any) -> SentryMember | None:
    # OrganizationMemberSerializer: `user` is null for an invitation not yet accepted.
    user = item.get("user") if isinstance(item, dict) else None
    if not isinstance(user, dict) or not user.get("id"):
        return None
    email = _text(user.get("email")) or _text(item.get("email"))
    return SentryMember(user_id=str(user["id"]), email=email) if email else None


def _next_path(response: aiohttp.ClientResponse, method: str, path: str) -> str | None:
    # Link: <https://sentry.io/api/0/...?cursor=0:100:0>; rel="next"; results="true"; cursor="0:100:0"
    if method != "GET":
        return None
    for link in response.headers.getall("Link", []):
        for part in link.split(","):
            if 'rel="next"' in part and 'results="true"' in part and (cursor := _cursor(part)):
                base = path.split("?", 1)[0]
                return f"{base}?per_page=100&cursor={quote(cursor, safe=':')}"
    return None


def _cursor(part: str) -> str | None:
    for field in part.split(";"):
        name, _, value = field.strip().partition("=")
        if name == "cursor":
            return value.strip('"') or None
    return None


def top_value(tag: JSON) -> str | None:
    # Sorted already, but by Sentry's query rather than by contract: pick the most frequent value here.
    values = [v for v in tag.get("topValues") or () if isinstance(v, dict) and _text(v.get("value"))]
    if not values:
        return None
    return _text(max(values, key=lambda v: _count(v.get("count")) or 0).get("value"))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _version(release: Any) -> str | None:
    return _text(release.get("version")) if isinstance(release, dict) else None


def _detail(body: Any) -> str:
    # DRF errors are {"detail": "..."}, field errors {"text": ["..."]}, and the rate limiter's a bare JSON string.
    if isinstance(body, str):
        return body
    if isinstance(body, dict):
        if isinstance(body.get("detail"), str):
            return str(body["detail"])
        return "; ".join(
            f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}" for key, value in body.items()
        )
    return ""
