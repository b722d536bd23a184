"""In-memory fake of the parts of Sentry's REST API that the service calls (https://docs.sentry.io/api/).

Shapes follow getsentry/sentry: the issue is GroupSerializerSnuba's output plus what GroupDetailsEndpoint adds
(firstRelease, lastRelease, activity, ...), `assignedTo` is ActorSerializer's, tag details are TagKeySerializer's,
notes follow GroupNotesEndpoint (400 on the same note within an hour) and GroupNotesDetailsEndpoint (only
the token's own notes may be edited or deleted; deleting takes event:admin), external issues follow
PlatformExternalIssueSerializer. Auth is `Authorization: Bearer <token>` with GroupPermission's scopes.
Serve it with ``aiohttp_server(FakeSentry().app())``; build one per test.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from tests.support.fake_http import Fault, RecordedRequest, calls, drop_connection, receive

JsonObj = dict[str, Any]

NOT_FOUND = "The requested resource does not exist"
NO_CREDENTIALS = "Authentication credentials were not provided."
BAD_TOKEN = "Invalid token"
NO_PERMISSION = "You do not have permission to perform this action."
DUPLICATE_NOTE = "You have already posted that comment."
# S:src/sentry/middleware/ratelimit.py::DEFAULT_ERROR_MESSAGE, sent as a bare JSON string.
RATE_LIMITED = "You are attempting to use this endpoint too frequently. Limit is {limit} requests in 1 seconds"
# S:src/sentry/issues/endpoints/bases/group.py::GroupPermission.scope_map
SCOPES_FOR = {
    "GET": {"event:read", "event:write", "event:admin"},
    "POST": {"event:write", "event:admin"},
    "PUT": {"event:write", "event:admin"},
    "DELETE": {"event:admin"},
}
# S:src/sentry/core/endpoints/organization_member_index.py::MemberPermission (OrganizationPermission subclass)
MEMBER_SCOPES = {"member:read", "member:write", "member:admin"}
MEMBERS_PER_PAGE = 100  # the paginator's default per_page
STATUSES = ("resolved", "resolvedInNextRelease", "unresolved", "ignored")
SUBSTATUSES = (
    "archived_until_escalating",
    "archived_until_condition_met",
    "archived_forever",
    "escalating",
    "ongoing",
    "regressed",
    "new",
)
_ISSUES = r"/api/0/organizations/(?P<org>[^/]+)/(?:issues|groups)/(?P<issue_id>[^/]+)"


def ts(moment: datetime) -> str:
    """A datetime as Sentry's API renders it (DRF: ISO 8601, microseconds, Z)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Fault(Fault):
    reset_in: float
    drop: bool


@dataclass
class _Note:
    id: str
    issue_id: str
    user_id: str
    data: JsonObj
    created: datetime


@dataclass
class _Call:
    method: str
    params: dict[str, str]
    body: Any
    query: Mapping[str, str]


@dataclass
class _Paged:
    items: list[JsonObj]
    link: str


class SentryError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(str(body))
        self.status, self.body = status, body


def _detail(status: int, message: str) -> SentryError:
    return SentryError(status, {"detail": message})


Handler = Callable[[_Call], tuple[int, Any]]


class FakeSentry:
    """One organization with one internal integration installed; all state lives in memory."""

    def __init__(
        self,
        *,
        token: str = "sntrys_test",
        organization: str = "acme",
        scopes: Iterable[str] = ("event:read", "event:write"),
        app_slug: str = "notion-bridge",
        installation: str = "a8e5d37a-696c-4c54-adb5-b3f28d64c7de",
        web_url: str = "https://acme.sentry.io",
    ) -> None:
        self.token = token
        self.organization = organization
        self.scopes = set(scopes)
        self.app_slug = app_slug
        self.installation = installation
        self.web_url = web_url.rstrip("/")
        self.proxy_user_id = "901"  # the integration's proxy user: notes and changes are made as it
        self.latency = 0.0
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._issues: dict[str, JsonObj] = {}
        self._environments: dict[str, dict[str, int]] = {}
        self._notes: list[_Note] = []
        self._external: dict[str, JsonObj] = {}  # by issue id: one per (issue, app), as ExternalIssueCreator upserts
        self._users: dict[str, JsonObj] = {}
        self._teams: dict[str, JsonObj] = {}
        self._members: list[JsonObj] = []
        self._next_id = 1000
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            (method, re.compile(pattern + "/"), handler)
            for method, pattern, handler in [
                ("GET", _ISSUES, self._get_issue),
                ("PUT", _ISSUES, self._update_issue),
                ("GET", _ISSUES + r"/tags/(?P<key>[^/]+)", self._get_tag),
                ("GET", _ISSUES + r"/comments", self._list_notes),
                ("POST", _ISSUES + r"/comments", self._create_note),
                ("PUT", _ISSUES + r"/comments/(?P<note_id>[^/]+)", self._edit_note),
                ("DELETE", _ISSUES + r"/comments/(?P<note_id>[^/]+)", self._delete_note),
                ("GET", _ISSUES + r"/external-issues", self._list_external_issues),
                ("GET", r"/api/0/organizations/(?P<org>[^/]+)/members", self._list_members),
                (
                    "POST",
                    r"/api/0/sentry-app-installations/(?P<uuid>[^/]+)/external-issues",
                    self._create_external_issue,
                ),
            ]
        ]

    # ----- seeding and inspection (sync, for tests) -----

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._serve)
        return app

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def add_issue(
        self,
        issue_id: str | int,
        *,
        short_id: str | None = None,
        title: str = "ZeroDivisionError: division by zero",
        status: str = "unresolved",
        substatus: str | None = "ongoing",
        assignee: str | None = None,
        level: str = "error",
        count: int = 1,
        user_count: int = 0,
        first_seen: datetime | str | None = None,
        last_seen: datetime | str | None = None,
        releases: Sequence[str] = (),
        environment: str | Mapping[str, int] | None = None,
        project: str = "backend",
    ) -> JsonObj:
        """Stores an issue and returns its stored dict: edit it to shape later answers.

        `assignee` is a user's email, or `#slug` for a team (Sentry's search syntax). `releases` are the
        versions the issue was seen in, oldest first. `environment` names where its events happened, or maps
        environments to event counts.
        """
        issue_id = str(issue_id)
        now = self.clock()
        first = first_seen or now - timedelta(days=2)
        last = last_seen or now
        first_release = self._release(releases[0], project) if releases else None
        # get_first_last_release: the last release is looked up only when there is a first one.
        last_release = self._release(releases[-1], project) if releases else None
        issue: JsonObj = {
            "id": issue_id,
            "shareId": None,
            "shortId": short_id or f"{project.upper()}-{issue_id}",
            "title": title,
            "culprit": "app.views in index",
            "permalink": f"{self.web_url}/issues/{issue_id}/",
            "logger": None,
            "level": level,
            "status": status,
            "statusDetails": {},
            "substatus": substatus,
            "isPublic": False,
            "platform": "python",
            "project": {"id": "17", "name": project, "slug": project, "platform": "python"},
            "type": "error",
            "metadata": {"type": title.split(":", 1)[0], "value": title.split(": ", 1)[-1], "title": title},
            "numComments": 0,
            "assignedTo": self._actor(assignee) if assignee else None,
            "isBookmarked": False,
            "isSubscribed": False,
            "subscriptionDetails": None,
            "hasSeen": False,
            "annotations": [],
            "issueType": "error",
            "issueCategory": "error",
            "priority": "high",
            "priorityLockedAt": None,
            "isUnhandled": False,
            "count": str(count),  # a string: GroupSerializerBase._convert_seen_stats
            "userCount": user_count,
            "firstSeen": first if isinstance(first, str) else ts(first),
            "lastSeen": last if isinstance(last, str) else ts(last),
            "firstRelease": first_release,
            "lastRelease": last_release,
            "activity": [],
            "seenBy": [],
            "userReportCount": 0,
            "participants": [],
        }
        self._issues[issue_id] = issue
        if isinstance(environment, str):
            self._environments[issue_id] = {environment: count}
        elif environment:
            self._environments[issue_id] = dict(environment)
        return issue

    def add_user(self, email: str, name: str | None = None) -> JsonObj:
        if email not in self._users:
            self._users[email] = {"type": "user", "id": self._new_id(), "name": name or email, "email": email}
        return self._users[email]

    def add_member(self, email: str, name: str | None = None, *, pending: bool = False) -> str:
        """A member of the organization (OrganizationMemberSerializer); a pending invitation has no user.
        Answers the user's id, or "" for an invitation."""
        user = None if pending else self.add_user(email, name)
        self._members.append(
            {
                "id": self._new_id(),
                "email": email,
                "name": name or email,
                "user": None if user is None else {"id": user["id"], "email": email, "name": user["name"]},
                "orgRole": "member",
                "pending": pending,
                "expired": False,
                "dateCreated": ts(self.clock()),
                "inviteStatus": "requested_to_be_invited" if pending else "approved",
            }
        )
        return "" if user is None else str(user["id"])

    def add_team(self, slug: str) -> JsonObj:
        if slug not in self._teams:
            self._teams[slug] = {"type": "team", "id": self._new_id(), "name": slug}
        return self._teams[slug]

    def issue(self, issue_id: str | int) -> JsonObj:
        return copy.deepcopy(self._issues[str(issue_id)])

    def notes(self, issue_id: str | int | None = None) -> list[str]:
        return [n.data["text"] for n in self._notes if issue_id is None or n.issue_id == str(issue_id)]

    def note_ids(self, issue_id: str | int) -> list[str]:
        return [n.id for n in self._notes if n.issue_id == str(issue_id)]

    def external_issue(self, issue_id: str | int) -> JsonObj | None:
        found = self._external.get(str(issue_id))
        return copy.deepcopy(found) if found else None

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        delay: float = 0.0,
        retry_after: int | float | str | None = None,
        reset_in: float = 0.0,
        body: Any = None,
        commit: bool = False,
        drop: bool = False,
    ) -> None:
        """Make the next `times` requests whose method and path (re.fullmatch; method "*" = any) misbehave.

        status < 400 answers normally after `delay` (use it to provoke client timeouts); `commit` runs the
        handler first (a note is saved) and then answers `status`; `drop` closes the connection instead of
        answering. A 429 carries X-Sentry-Rate-Limit-Reset `reset_in` seconds ahead, and Retry-After only
        when given, like Sentry's rate limiter.
        """
        self._faults.append(
            _Fault(
                method=method.upper(),
                pattern=re.compile(path_regex),
                status=status,
                times=times,
                delay=delay,
                retry_after=retry_after,
                body=body,
                commit=commit,
                reset_in=reset_in,
                drop=drop,
            )
        )

    def calls(self, method: str = "*", path_regex: str = ".*") -> list[RecordedRequest]:
        return calls(self.requests, method, path_regex)

    # ----- serving -----

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        # Paths are taken below the app's mount point, so the fake also serves under a prefix (add_subapp).
        path = "/" + request.match_info["tail"]
        raw, fault = await receive(request, path, self.requests, self._faults, self.latency)
        if fault is not None and not fault.runs_handler:
            await asyncio.sleep(fault.delay)
            return drop_connection(request) if fault.drop else self._fault_response(fault)
        try:
            status, payload = self._handle(request, path, raw)
        except SentryError as exc:
            status, payload = exc.status, exc.body
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.drop:
                return drop_connection(request)
            if fault.commit:
                return self._fault_response(fault)
        if status == 204:
            return web.Response(status=204)
        if isinstance(payload, _Paged):
            return web.json_response(payload.items, status=status, headers={"Link": payload.link})
        return web.json_response(payload, status=status)

    def _handle(self, request: web.Request, path: str, raw: bytes) -> tuple[int, Any]:
        if path == "/api/0/" and request.method == "GET":
            return self._index(request)
        if (listed := re.fullmatch(r"/api/0/organizations/([^/]+)/issues/", path)) and request.method == "GET":
            self._authenticate(request)
            return self._list_issues(request, listed.group(1))
        members = path.rstrip("/").endswith("/members")
        self._authorize(request, MEMBER_SCOPES if members else SCOPES_FOR.get(request.method, set()))
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is not None and method == request.method:
                body: Any = None
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError as exc:
                        raise _detail(400, f"JSON parse error - {exc}") from exc
                return handler(_Call(request.method, match.groupdict(), body, request.query))
        # Django answers 404 to unknown paths, and every API path ends with a slash.
        raise _detail(404, NOT_FOUND)

    def _authorize(self, request: web.Request, scopes: set[str]) -> None:
        self._authenticate(request)
        if not scopes & self.scopes:
            raise _detail(403, NO_PERMISSION)

    def _authenticate(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header:
            raise _detail(401, NO_CREDENTIALS)
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or token.strip() != self.token:
            raise _detail(401, BAD_TOKEN)

    def _index(self, request: web.Request) -> tuple[int, Any]:
        # S:src/sentry/api/endpoints/index.py::IndexEndpoint: no permission classes, so any valid token (or
        # none) is answered, with the token's scopes; a token that does not authenticate is still a 401.
        if not request.headers.get("Authorization"):
            return 200, {"version": "0", "auth": None, "user": None}
        self._authenticate(request)
        user = {"id": self.proxy_user_id, "name": self.app_slug, "username": self.app_slug, "isActive": True}
        return 200, {"version": "0", "auth": {"scopes": sorted(self.scopes)}, "user": user}

    def _list_issues(self, request: web.Request, organization: str) -> tuple[int, Any]:
        # OrganizationGroupIndexEndpoint (OrganizationEventPermission: the GET scopes of SCOPES_FOR), most
        # recently seen first, at most `limit`. OrganizationEndpoint.convert_args looks the organization up
        # before it checks scopes, so an unknown slug is a 404 whatever the token may do.
        if organization != self.organization:
            raise _detail(404, NOT_FOUND)
        if not SCOPES_FOR["GET"] & self.scopes:
            raise _detail(403, NO_PERMISSION)
        limit = int(request.query.get("limit", "100"))
        issues = sorted(self._issues.values(), key=lambda i: str(i["lastSeen"]), reverse=True)
        return 200, copy.deepcopy(issues[:limit])

    def _fault_response(self, fault: _Fault) -> web.StreamResponse:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body = fault.body
        if fault.status == 429:
            headers |= {
                "X-Sentry-Rate-Limit-Limit": "5",
                "X-Sentry-Rate-Limit-Remaining": "0",
                "X-Sentry-Rate-Limit-Reset": str(int(time.time() + fault.reset_in)),
            }
            body = RATE_LIMITED.format(limit=5) if body is None else body
        elif body is None:
            body = {"detail": "Internal Error"} if fault.status >= 500 else {"detail": f"fault {fault.status}"}
        return web.json_response(body, status=fault.status, headers=headers)

    # ----- handlers -----

    def _find(self, call: _Call) -> JsonObj:
        if call.params["org"] != self.organization:
            raise _detail(404, NOT_FOUND)
        wanted = call.params["issue_id"]
        # get_group_with_redirect also takes the short ID (e.g. BACKEND-12) when the organization is known.
        issue = self._issues.get(wanted) or next(
            (i for i in self._issues.values() if i["shortId"].casefold() == wanted.casefold()), None
        )
        if issue is None:
            raise _detail(404, NOT_FOUND)
        return issue

    def _get_issue(self, call: _Call) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._find(call))

    def _update_issue(self, call: _Call) -> tuple[int, Any]:
        issue = self._find(call)
        body = call.body if isinstance(call.body, dict) else {}
        result: JsonObj = {}
        if "status" in body:
            status, details = body["status"], body.get("statusDetails") or {}
            if status not in STATUSES:
                raise SentryError(400, {"status": [f'"{status}" is not a valid choice.']})
            substatus = body.get("substatus")
            if substatus is not None and substatus not in SUBSTATUSES:
                raise SentryError(400, {"substatus": [f'"{substatus}" is not a valid choice.']})
            # S:src/sentry/issues/status_change.py::infer_substatus
            if status not in ("ignored", "unresolved"):
                substatus = None
            elif substatus is None and status == "ignored":
                substatus = "archived_until_escalating" if details.get("untilEscalating") else "archived_forever"
            elif substatus is None:
                substatus = "ongoing"
            if (issue["status"], issue["substatus"]) != (status, substatus):
                # Each change adds an activity, newest first (S:src/sentry/types/activity.py).
                kind = {"resolved": "set_resolved", "unresolved": "set_unresolved", "ignored": "set_ignored"}
                self._activity(issue, kind.get(status, "set_resolved_in_release"))
            issue["status"] = "resolved" if status == "resolvedInNextRelease" else status
            issue["substatus"] = substatus
            issue["statusDetails"] = {"inNextRelease": True} if status == "resolvedInNextRelease" else {}
            result |= {"status": issue["status"], "substatus": substatus, "statusDetails": issue["statusDetails"]}
        if "assignedTo" in body:
            self._assign(issue, body["assignedTo"])
            result["assignedTo"] = issue["assignedTo"]
        return 200, result

    def set_status(self, issue_id: str | int, status: str, substatus: str | None = None) -> None:
        """A change made in Sentry's UI: the status and the activity that records when."""
        issue = self._issues[str(issue_id)]
        issue.update(status=status, substatus=substatus)
        self._activity(issue, {"resolved": "set_resolved", "ignored": "set_ignored"}.get(status, "set_unresolved"))

    def assign(self, issue_id: str | int, user_id: str | None) -> None:
        """A change made in Sentry's UI: the assignee (None: nobody) and the activity that records when."""
        self._assign(self._issues[str(issue_id)], f"user:{user_id}" if user_id else "")

    def _assign(self, issue: JsonObj, target: Any) -> None:
        issue["assignedTo"] = self._resolve_actor(target) if target else None
        self._activity(issue, "assigned" if target else "unassigned")

    def _activity(self, issue: JsonObj, kind: str) -> None:
        user = {"id": self.proxy_user_id, "name": self.app_slug}
        entry = {"id": self._new_id(), "user": user, "type": kind, "data": {}, "dateCreated": ts(self.clock())}
        issue["activity"].insert(0, entry)

    def _list_members(self, call: _Call) -> tuple[int, Any]:
        if call.params["org"] != self.organization:
            raise _detail(404, NOT_FOUND)
        # Cursor "<value>:<offset>:<is_prev>" as S:src/sentry/utils/cursors.py writes it; the Link header says
        # whether a next page has results.
        cursor = str(call.query.get("cursor", "0:0:0")).split(":")
        offset = int(cursor[1]) if len(cursor) == 3 and cursor[1].isdigit() else 0
        size = min(int(call.query.get("per_page", MEMBERS_PER_PAGE)), MEMBERS_PER_PAGE)
        page = self._members[offset : offset + size]
        more = offset + size < len(self._members)
        link = (
            f"<{self.web_url}/api/0/organizations/{self.organization}/members/?cursor=0:{offset + size}:0>; "
            f'rel="next"; results="{str(more).lower()}"; cursor="0:{offset + size}:0"'
        )
        return 200, _Paged(copy.deepcopy(page), link)

    def _get_tag(self, call: _Call) -> tuple[int, Any]:
        issue = self._find(call)
        key = call.params["key"]
        if key != "environment":
            raise _detail(404, NOT_FOUND)
        counts = self._environments.get(issue["id"])
        if not counts:
            raise _detail(404, NOT_FOUND)  # GroupTagKeyNotFound → ResourceDoesNotExist
        ranked = sorted(counts.items(), key=lambda item: -item[1])
        return 200, {
            "key": key,
            "name": "Environment",
            "uniqueValues": len(counts),
            "totalValues": sum(counts.values()),
            "topValues": [
                {
                    "key": key,
                    "name": value,
                    "value": value,
                    "count": n,
                    "lastSeen": issue["lastSeen"],
                    "firstSeen": issue["firstSeen"],
                }
                for value, n in ranked[:9]
            ],
        }

    def _list_notes(self, call: _Call) -> tuple[int, Any]:
        issue = self._find(call)
        notes = sorted((n for n in self._notes if n.issue_id == issue["id"]), key=lambda n: n.created, reverse=True)
        return 200, [self._render_note(n) for n in notes]

    def _create_note(self, call: _Call) -> tuple[int, Any]:
        issue = self._find(call)
        body = call.body if isinstance(call.body, dict) else {}
        text = body.get("text")
        if text is None:
            raise SentryError(400, {"text": ["This field is required."]})
        if not isinstance(text, str) or not text.strip():
            raise SentryError(400, {"text": ["This field may not be blank."]})
        data = {"text": text}
        since = self.clock() - timedelta(hours=1)
        if any(
            n.issue_id == issue["id"] and n.user_id == self.proxy_user_id and n.data == data and n.created >= since
            for n in self._notes
        ):
            raise _detail(400, DUPLICATE_NOTE)
        note = _Note(self._new_id(), issue["id"], self.proxy_user_id, data, self.clock())
        self._notes.append(note)
        issue["numComments"] += 1
        return 201, self._render_note(note)

    def add_note(self, issue_id: str | int, text: str, *, user_id: str) -> str:
        """A note someone else (`user_id`) left on the issue."""
        note = _Note(self._new_id(), str(issue_id), user_id, {"text": text}, self.clock())
        self._notes.append(note)
        return note.id

    def _own_note(self, call: _Call) -> _Note:
        # GroupNotesDetailsEndpoint looks only among the requesting user's notes: another's is a 404 too.
        issue = self._find(call)
        note = next(
            (
                n
                for n in self._notes
                if n.id == call.params["note_id"] and n.issue_id == issue["id"] and n.user_id == self.proxy_user_id
            ),
            None,
        )
        if note is None:
            raise _detail(404, NOT_FOUND)
        return note

    def _edit_note(self, call: _Call) -> tuple[int, Any]:
        note = self._own_note(call)
        text = (call.body if isinstance(call.body, dict) else {}).get("text")
        if not isinstance(text, str) or not text.strip():
            raise SentryError(400, {"text": ["This field may not be blank."]})
        note.data["text"] = text
        return 200, self._render_note(note)

    def _delete_note(self, call: _Call) -> tuple[int, Any]:
        note = self._own_note(call)
        self._notes.remove(note)
        self._find(call)["numComments"] -= 1
        return 204, None

    def _list_external_issues(self, call: _Call) -> tuple[int, Any]:
        issue = self._find(call)
        found = self._external.get(issue["id"])
        return 200, [copy.deepcopy(found)] if found else []

    def _create_external_issue(self, call: _Call) -> tuple[int, Any]:
        if call.params["uuid"] != self.installation:
            raise _detail(404, NOT_FOUND)
        body = call.body if isinstance(call.body, dict) else {}
        errors = {
            name: ["This field is required."]
            for name in ("issueId", "webUrl", "project", "identifier")
            if body.get(name) in (None, "")
        }
        if not errors and not str(body["webUrl"]).startswith("http"):
            errors["webUrl"] = ["Invalid URL."]
        if errors:
            raise SentryError(400, errors)
        issue_id = str(body["issueId"])
        if issue_id not in self._issues:
            raise _detail(404, NOT_FOUND)
        earlier = self._external.get(issue_id)
        self._external[issue_id] = {
            "id": earlier["id"] if earlier else self._new_id(),
            "issueId": issue_id,
            "serviceType": self.app_slug,
            "displayName": f"{body['project']}#{body['identifier']}",
            "webUrl": body["webUrl"],
        }
        return 200, copy.deepcopy(self._external[issue_id])

    # ----- helpers -----

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _actor(self, who: str) -> JsonObj:
        return dict(self.add_team(who[1:]) if who.startswith("#") else self.add_user(who))

    def _resolve_actor(self, target: Any) -> JsonObj:
        # assignedTo takes "user:<id>", "team:<id>", a username or an email
        # (https://docs.sentry.io/api/events/update-an-issue/).
        text = str(target)
        kind, _, ident = text.partition(":")
        if kind in ("user", "team") and ident:
            pool = self._users if kind == "user" else self._teams
            found = next((a for a in pool.values() if a["id"] == ident), None)
        else:
            found = self._users.get(text)
        if found is None:
            raise SentryError(400, {"assignedTo": ["Unknown actor input"]})
        return dict(found)

    def _release(self, version: str, project: str) -> JsonObj:
        created = ts(self.clock() - timedelta(days=3))
        return {
            "version": version,
            "shortVersion": version,
            "ref": None,
            "url": None,
            "dateReleased": None,
            "dateCreated": created,
            "data": {},
            "newGroups": 0,
            "owner": None,
            "commitCount": 0,
            "lastCommit": None,
            "deployCount": 0,
            "lastDeploy": None,
            "authors": [],
            "projects": [{"id": 17, "slug": project, "name": project, "platform": "python"}],
            "firstEvent": created,
            "lastEvent": created,
        }

    def _render_note(self, note: _Note) -> JsonObj:
        mine = note.user_id == self.proxy_user_id
        return {
            "id": note.id,
            "user": {"id": self.proxy_user_id, "name": self.app_slug, "email": f"{self.app_slug}@proxy-user.sentry.io"}
            if mine
            else {"id": note.user_id, "name": f"user {note.user_id}", "email": f"user{note.user_id}@example.com"},
            "type": "note",
            "data": dict(note.data),
            "dateCreated": ts(note.created),
        }
