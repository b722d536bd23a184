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
from domain.errors import DomainError, IssueNotFound, SentryRefused, SentryUnavailable
from domain.models import SentryIssueState
from domain.ports import SentryApi
from domain.sentry_events import iso_utc

log = structlog.get_logger(__name__)
JSON = dict[str, Any]

# S:src/sentry/issues/endpoints/group_notes.py::GroupNotesEndpoint.post answers this, with 400, to an
# identical note by the same user within an hour.
DUPLICATE_NOTE = "already posted that comment"
# S:src/sentry/issues/endpoints/bases/group.py::GroupPermission.scope_map: GET takes event:read,
# POST and PUT take event:write. The integration's "Issue & Event" permission grants them.
SCOPES = "event:read and event:write"


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


class HttpSentryApi(SentryApi):
    def __init__(self, client: RetryClient, *, organization: str) -> None:
        self._client, self._organization = client, organization

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
                return _Answer(resp.status, body, _asked_s(resp) if resp.status == 429 else None)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SentryUnavailable(
                "Sentry did not answer in time; try again."
                if isinstance(exc, TimeoutError)
                else "Could not reach Sentry; check SENTRY_URL and that this host reaches it."
            ) from exc

    def _error(self, answer: _Answer, issue_id: str, *, what: str = "") -> DomainError:
        detail = _detail(answer.body)
        said = f" (Sentry says: {detail})" if detail else ""
        if answer.status == 401:
            return SentryRefused(
                f"Sentry does not accept SENTRY_API_TOKEN{said}. Set it to a token of the internal integration "
                f"(Settings → Developer Settings), whose permissions give the scopes {SCOPES}."
            )
        if answer.status == 403:
            return SentryRefused(
                f"SENTRY_API_TOKEN may not do this{said}. Give the internal integration the 'Issue & Event' "
                f"permission Read & Write (scopes {SCOPES}), in organization {self._organization!r}."
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


def issue_state(group: JSON, *, issue_id: str, environment: str | None) -> SentryIssueState:
    # Keys of GroupSerializerBase.serialize and _convert_seen_stats (S:src/sentry/api/serializers/models/group.py):
    # `count` is a string, `userCount` a number, `assignedTo` the ActorSerializer's {type, id, name, email?}
    # (S:src/sentry/api/serializers/models/actor.py; teams have no email). firstRelease and lastRelease are added
    # by the details endpoint (get_first_last_release): a release serialized with its `version`, or null.
    assignee = group.get("assignedTo")
    assignee = assignee if isinstance(assignee, dict) else {}
    is_team = assignee.get("type") == "team"
    return SentryIssueState(
        issue_id=issue_id,
        short_id=str(group.get("shortId") or ""),
        status=str(group.get("status") or "unresolved"),
        substatus=_text(group.get("substatus")),
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
