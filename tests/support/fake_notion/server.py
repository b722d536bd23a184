# The fake over HTTP: authentication, versions, routing, faults; and the test-facing seeding and inspection.
from __future__ import annotations

import asyncio
import copy
import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.support.fake_http import RecordedRequest, calls, drop_connection, receive
from tests.support.fake_notion.checks import (
    NOT_SHARED,
    JsonObj,
    NotionError,
    body_invalid,
    check_obj,
    invalid,
    parse_moment,
)
from tests.support.fake_notion.endpoints import Endpoints
from tests.support.fake_notion.rendering import plain_text
from tests.support.fake_notion.store import Call, NotionFault
from tests.support.fake_notion.ui import NotionUI

MAX_BODY_BYTES = 500 * 1000
FAULTS: dict[int, tuple[str, str]] = {
    400: ("validation_error", "Invalid request."),
    401: ("unauthorized", "API token is invalid."),
    403: ("restricted_resource", "API token does not have access to this resource."),
    404: ("object_not_found", f"Could not find object. {NOT_SHARED}"),
    409: ("conflict_error", "Conflict occurred while saving. Please try again."),
    429: ("rate_limited", "You have been rate limited. Please try again later."),
    500: ("internal_server_error", "Unexpected error occurred."),
    502: ("bad_gateway", "Bad Gateway"),
    503: ("service_unavailable", "Notion is unavailable, please try again later."),
    504: ("gateway_timeout", "Gateway Timeout"),
    529: ("service_overload", "Notion is temporarily overloaded, please try again later."),
}
COMMITTED_MESSAGE = (
    "The change was saved, but the response could not be built in time. "
    "Read the object again instead of repeating the write."
)
EDGE_HTML = "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center><hr><center>cloudflare</center>"
Handler = Callable[["FakeNotion", Call], JsonObj]


class FakeNotion(Endpoints, NotionUI):
    """One fake workspace; all state lives in memory, so build one per test."""

    def app(self) -> web.Application:
        # Large bodies must reach the handler so it can answer Notion's 400 instead of aiohttp's 413.
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        return app

    def headers(self, version: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Notion-Version": version or self.version}

    def add_page(
        self,
        data_source_id: str,
        title: str,
        *,
        properties: Mapping[str, Any] | None = None,
        last_edited_time: datetime | str | None = None,
        in_trash: bool = False,
    ) -> JsonObj:
        page = self._page_from_ui(data_source_id, title, properties, None)
        page.in_trash = in_trash
        if last_edited_time is not None:
            moment = last_edited_time
            if isinstance(moment, str):
                parsed = parse_moment(moment)
                assert parsed is not None, f"bad timestamp {moment!r}"
                moment = parsed[0]
            page.edited = moment
        return self.page(page.id)

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        retry_after: int | float | str | None = None,
        body: JsonObj | None = None,
        commit: bool = False,
        delay: float = 0.0,
        reset: bool = False,
        non_json: bool = False,
        rate_limit_reason: str = "public_api_request_rate_limit",
    ) -> None:
        """Make the next `times` requests whose method and path (re.fullmatch; method "*" = any) match misbehave.

        status < 400 answers normally (use it with `delay`/`reset`); `commit` runs the write first and then
        answers `status` (503 gets Notion's retry guidance). A 429 always carries Retry-After (default 0).
        """
        self._faults.append(
            NotionFault(
                method=method.upper(),
                pattern=re.compile(path_regex),
                status=status,
                times=times,
                delay=delay,
                retry_after=retry_after,
                body=body,
                commit=commit,
                reset=reset,
                non_json=non_json,
                rate_limit_reason=rate_limit_reason,
            )
        )

    def heal(self) -> None:
        """Every fault still waiting is dropped: Notion is back."""
        self._faults.clear()

    def calls(self, method: str = "*", path_regex: str = ".*") -> list[RecordedRequest]:
        return calls(self.requests, method, path_regex)

    def pages(self, data_source_id: str, *, in_trash: bool = False) -> list[JsonObj]:
        pages = self._ds_pages[str(uuid.UUID(data_source_id))]
        return [copy.deepcopy(self._render_page(p, self.version)) for p in pages if p.in_trash == in_trash]

    def blocks(self, parent_id: str) -> list[JsonObj]:
        ids = self._children.get(str(uuid.UUID(parent_id)), [])
        return [copy.deepcopy(self._render_block(self._blocks[b], self.version)) for b in ids]

    def page_text(self, page_id: str) -> str:
        """Plain text of a page body, one line per block, depth-first."""
        lines: list[str] = []

        def walk(parent_id: str) -> None:
            for block_id in self._children.get(parent_id, []):
                block = self._blocks[block_id]
                lines.append(plain_text(block.content.get("rich_text")))
                walk(block_id)

        walk(str(uuid.UUID(page_id)))
        return "\n".join(lines)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        raw, fault = await receive(request, request.path, self.requests, self._faults, self.latency)
        if fault is not None and not fault.runs_handler:
            await asyncio.sleep(fault.delay)
            if fault.reset:
                return drop_connection(request)
            return self._fault_response(fault, request_id, {})
        call: Call | None = None
        try:
            call, handler = self._prepare(request, raw)
            status, payload = 200, handler(self, call)
        except NotionError as exc:
            status, payload = exc.status, self._error_body(exc, request_id)
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.reset:
                return drop_connection(request)
            if fault.commit and status < 300 and call is not None:
                return self._fault_response(fault, request_id, call.committed)
        return web.json_response(payload, status=status, headers={"x-notion-request-id": request_id})

    def _fault_response(self, fault: NotionFault, request_id: str, committed: JsonObj) -> web.StreamResponse:
        code, message = FAULTS.get(fault.status, ("internal_server_error", "Unexpected error occurred."))
        if fault.non_json:
            # An edge (Cloudflare) answer: HTML, no Notion request id.
            text = EDGE_HTML.format(f"{fault.status} {message}")
            headers = {"cf-ray": f"{uuid.uuid4().hex[:16]}-SJC"}
            return web.Response(status=fault.status, text=text, content_type="text/html", headers=headers)
        headers = {"x-notion-request-id": request_id}
        additional: JsonObj = {}
        retry_after = fault.retry_after
        if fault.status == 429:
            retry_after = 0 if retry_after is None else retry_after
            additional["rate_limit_reason"] = fault.rate_limit_reason
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
            additional["retry_after"] = str(retry_after)
        if fault.commit and fault.status == 503:
            message = COMMITTED_MESSAGE
            additional |= {
                "from": "publicApi.pageObjectPointerToPageObject.beforePreload",
                "elapsed_ms": "55012",
                "deadline_ms": "55000",
                "retry_guidance": ["Read the object again to confirm the saved change.", "Do not repeat the write."],
                **committed,
            }
        error = NotionError(fault.status, code, message, additional or None)
        payload = fault.body if fault.body is not None else self._error_body(error, request_id)
        return web.json_response(payload, status=fault.status, headers=headers)

    @staticmethod
    def _error_body(exc: NotionError, request_id: str) -> JsonObj:
        body: JsonObj = {
            "object": "error",
            "status": exc.status,
            "code": exc.code,
            "message": exc.message,
            "request_id": request_id,
        }
        if exc.additional_data is not None:
            body["additional_data"] = exc.additional_data
        return body

    def _prepare(self, request: web.Request, raw: bytes) -> tuple[Call, Handler]:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise NotionError(401, "unauthorized", "API token is invalid.")
        version = request.headers.get("Notion-Version")
        if version is None:
            raise NotionError(
                400,
                "missing_version",
                "Notion-Version header failed validation: Notion-Version header should be defined, "
                "instead was `undefined`.",
            )
        if version not in self.versions:
            accepted = ", ".join(f'`"{v}"`' for v in self.versions)
            raise invalid(
                f"Notion-Version header failed validation: Notion-Version header should be one of {accepted}, "
                f'instead was `"{version}"`.'
            )
        # Data-source endpoints do not exist before 2025-09-03
        # (https://developers.notion.com/docs/upgrade-guide-2025-09-03).
        if version < "2025-09-03" and request.path.startswith("/v1/data_sources"):
            raise NotionError(400, "invalid_request_url", "Invalid request URL.")
        route = self._route(request.method, request.path)
        if route is None:
            raise NotionError(400, "invalid_request_url", "Invalid request URL.")
        body: Any = {}
        if request.method in ("POST", "PATCH") and raw:
            if len(raw) > MAX_BODY_BYTES:
                raise body_invalid("body.length", f"≤ `{MAX_BODY_BYTES}`", len(raw))
            try:
                body = json.loads(raw)
            except ValueError:
                raise NotionError(400, "invalid_json", "Error parsing JSON body.") from None
            check_obj(body, "body")
        return Call(version, route[1], body, request.query), route[0]

    def _route(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        for verb, pattern, handler in ROUTES:
            match = pattern.fullmatch(path)
            if verb == method and match is not None:
                return handler, match.groupdict()
        return None


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"/v1/users/me"), FakeNotion._users_me),
    ("GET", re.compile(r"/v1/users"), FakeNotion._list_users),
    ("GET", re.compile(r"/v1/users/(?P<user_id>[^/]+)"), FakeNotion._get_user),
    ("GET", re.compile(r"/v1/databases/(?P<database_id>[^/]+)"), FakeNotion._get_database),
    ("GET", re.compile(r"/v1/data_sources/(?P<data_source_id>[^/]+)"), FakeNotion._get_data_source),
    ("POST", re.compile(r"/v1/data_sources/(?P<data_source_id>[^/]+)/query"), FakeNotion._query),
    ("POST", re.compile(r"/v1/pages"), FakeNotion._create_page),
    ("GET", re.compile(r"/v1/pages/(?P<page_id>[^/]+)"), FakeNotion._get_page),
    ("PATCH", re.compile(r"/v1/pages/(?P<page_id>[^/]+)"), FakeNotion._update_page),
    ("GET", re.compile(r"/v1/blocks/(?P<block_id>[^/]+)/children"), FakeNotion._list_children),
    ("PATCH", re.compile(r"/v1/blocks/(?P<block_id>[^/]+)/children"), FakeNotion._append_children),
    ("POST", re.compile(r"/v1/search"), FakeNotion._search),
    ("POST", re.compile(r"/v1/comments"), FakeNotion._create_comment),
    ("GET", re.compile(r"/v1/comments"), FakeNotion._list_comments),
    ("GET", re.compile(r"/v1/comments/(?P<comment_id>[^/]+)"), FakeNotion._get_comment),
    ("PATCH", re.compile(r"/v1/comments/(?P<comment_id>[^/]+)"), FakeNotion._update_comment),
    ("DELETE", re.compile(r"/v1/comments/(?P<comment_id>[^/]+)"), FakeNotion._delete_comment),
]
