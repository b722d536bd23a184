"""In-memory fake of the Notion REST API (data-source era, versions 2025-09-03 / 2026-03-11).

Follows Notion's reference (https://developers.notion.com/reference) and SDK (makenotion/notion-sdk-js): exact error
shapes and messages, content limits, sharing, capabilities and fault injection.
Serve it with ``aiohttp_server(FakeNotion().app())``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web
from multidict import CIMultiDict, MultiMapping

from tests.support.fake_http import RecordedRequest, calls, drop_connection, take_fault

JsonObj = dict[str, Any]
Predicate = Callable[["_Page"], bool]

# Distinguishes an absent key from an explicit null: Notion's messages print `undefined` vs `null`.
_UNDEFINED: Any = object()

NOT_SHARED = "Make sure the relevant pages and databases are shared with your integration."
MAX_TEXT = 2000
MAX_ARRAY = 100
MAX_BLOCKS = 1000
MAX_BODY_BYTES = 500 * 1000

READ_ONLY_TYPES = frozenset(
    {
        "unique_id",
        "formula",
        "rollup",
        "created_time",
        "created_by",
        "last_edited_time",
        "last_edited_by",
        "verification",
        "button",
    }
)
TEXT_TYPES = frozenset({"title", "rich_text", "url", "email", "phone_number"})
TEXT_OPS = frozenset({"equals", "does_not_equal", "contains", "does_not_contain", "starts_with", "ends_with"})
NUMBER_OPS = frozenset(
    {"equals", "does_not_equal", "greater_than", "less_than", "greater_than_or_equal_to", "less_than_or_equal_to"}
)
DATE_OPS = frozenset({"equals", "before", "after", "on_or_before", "on_or_after"})
DATE_RANGES = frozenset({"past_week", "past_month", "past_year", "next_week", "next_month", "next_year", "this_week"})
RICH_TEXT_BLOCKS = frozenset(
    {
        "paragraph",
        "heading_1",
        "heading_2",
        "heading_3",
        "heading_4",
        "bulleted_list_item",
        "numbered_list_item",
        "to_do",
        "toggle",
        "quote",
        "callout",
    }
)
OTHER_BLOCKS = frozenset({"code", "bookmark", "embed", "divider", "equation", "table_of_contents"})
CODE_LANGUAGES = (  # noqa: SIM905 -- makenotion/notion-sdk-js LanguageRequest verbatim, 90 lines as a literal
    "abap, abc, agda, arduino, ascii art, assembly, bash, basic, bnf, c, c#, c++, clojure, coffeescript, coq, css, "
    "dart, dhall, diff, docker, ebnf, elixir, elm, erlang, f#, flow, fortran, gherkin, glsl, go, graphql, groovy, "
    "haskell, hcl, html, idris, java, javascript, json, julia, kotlin, latex, less, lisp, livescript, llvm ir, lua, "
    "makefile, markdown, markup, matlab, mathematica, mermaid, nix, notion formula, objective-c, ocaml, pascal, "
    "perl, php, plain text, powershell, prolog, protobuf, purescript, python, r, racket, reason, ruby, rust, sass, "
    "scala, scheme, scss, shell, smalltalk, solidity, sql, swift, toml, typescript, vb.net, verilog, vhdl, "
    "visual basic, webassembly, xml, yaml, java/c/c++/c#"
).split(", ")
DEFAULT_ANNOTATIONS = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}
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
SEARCH_SORT_RULE = 'body.sort.timestamp should be "last_edited_time" when sorting by timestamp.'
EDGE_HTML = "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center><hr><center>cloudflare</center>"


class NotionError(Exception):
    def __init__(self, status: int, code: str, message: str, additional_data: JsonObj | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.additional_data = status, code, message, additional_data


def _js(value: Any) -> str:
    if value is _UNDEFINED:
        return "undefined"
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= 200 else text[:200] + "…"


def _invalid(message: str) -> NotionError:
    return NotionError(400, "validation_error", message)


def _body_invalid(path: str, should: str, value: Any, where: str = "body") -> NotionError:
    return _invalid(f"{where} failed validation: {path} should be {should}, instead was `{_js(value)}`.")


def _js_len(text: str) -> int:
    # Notion counts JavaScript string length (UTF-16 code units), so an emoji costs two.
    return len(text.encode("utf-16-le")) // 2


def _check_len(items: list[Any], path: str, limit: int = MAX_ARRAY) -> None:
    if len(items) > limit:
        raise _body_invalid(f"{path}.length", f"≤ `{limit}`", len(items))


def _check_str(value: Any, path: str, limit: int) -> str:
    if not isinstance(value, str):
        raise _body_invalid(path, "defined" if value is _UNDEFINED else "a string", value)
    if _js_len(value) > limit:
        raise _body_invalid(f"{path}.length", f"≤ `{limit}`", _js_len(value))
    return value


def _check_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _body_invalid(path, "defined" if value is _UNDEFINED else "an array", value)
    _check_len(value, path)
    return value


def _check_obj(value: Any, path: str) -> JsonObj:
    if not isinstance(value, dict):
        raise _body_invalid(path, "defined" if value is _UNDEFINED else "an object", value)
    return value


def _reject_unknown(body: JsonObj, allowed: Iterable[str], path: str = "body") -> None:
    for key, value in body.items():
        if key not in allowed:
            raise _body_invalid(f"{path}.{key}", "not present", value)


_UUID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def _parse_id(value: Any, path: str, where: str = "body") -> str:
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise _body_invalid(path, "a valid uuid", value, where)
    return str(uuid.UUID(value))


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_moment(value: Any) -> tuple[datetime, bool] | None:
    """(UTC datetime, is_date_only) or None when unparseable; naive values are UTC as Notion documents."""
    if not isinstance(value, str):
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.fromisoformat(value).replace(tzinfo=UTC), True
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), False


def _text_item(content: str) -> JsonObj:
    return {
        "type": "text",
        "text": {"content": content, "link": None},
        "annotations": dict(DEFAULT_ANNOTATIONS),
        "plain_text": content,
        "href": None,
    }


def _plain_text(items: list[JsonObj] | None) -> str:
    return "".join(item.get("plain_text", "") for item in items or [])


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    retry_after: int | float | str | None
    body: JsonObj | None
    commit: bool
    delay: float
    reset: bool
    non_json: bool
    rate_limit_reason: str

    @property
    def runs_handler(self) -> bool:
        # commit=True and non-error statuses let the real handler run (and persist) before the fault fires.
        return self.commit or self.status < 400


@dataclass
class _User:
    id: str
    name: str
    email: str | None
    kind: str
    guest: bool = False


@dataclass
class _Database:
    id: str
    title: str
    shared: bool
    parent_page_id: str
    created: datetime
    data_source_ids: list[str] = field(default_factory=list)


@dataclass
class _DataSource:
    id: str
    database_id: str
    name: str
    schema: dict[str, JsonObj]
    created: datetime
    next_number: int = 1


@dataclass
class _Page:
    id: str
    data_source_id: str
    values: dict[str, Any]
    created: datetime
    edited: datetime
    in_trash: bool = False
    icon: Any = None
    cover: Any = None


@dataclass
class _Block:
    id: str
    page_id: str
    parent: JsonObj
    type: str
    content: JsonObj
    created: datetime


@dataclass
class _Call:
    version: str
    params: dict[str, str]
    body: JsonObj
    query: MultiMapping[str]
    committed: JsonObj = field(default_factory=dict)


_BlockSpec = tuple[str, JsonObj, list[Any]]
Handler = Callable[[_Call], JsonObj]


class FakeNotion:
    """One fake workspace; all state lives in memory, so build one per test."""

    def __init__(
        self,
        *,
        token: str = "secret_test",
        version: str = "2026-03-11",
        versions: Iterable[str] = ("2025-09-03", "2026-03-11"),
        legacy_urls: bool = False,
        user_emails: bool = True,
        user_capability: bool = True,
        insert_content: bool = True,
        comments: bool = True,
        workspace_name: str = "Acme",
        bot_name: str = "Sentry Sync",
        seed: int | None = None,
    ) -> None:
        self.token = token
        self.version = version
        self.versions = tuple(dict.fromkeys((*versions, version)))
        self.legacy_urls = legacy_urls
        self.user_emails = user_emails
        self.user_capability = user_capability
        self.insert_content = insert_content
        self.comments_capability = comments
        self.workspace_name = workspace_name
        self.latency = 0.0
        self.search_delay = 0.0
        self.query_result_limit = 10_000
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.requests: list[RecordedRequest] = []
        self.comments: list[JsonObj] = []
        self._rng = random.Random(seed)
        self._faults: list[_Fault] = []
        self._users: dict[str, _User] = {}
        self._databases: dict[str, _Database] = {}
        self._data_sources: dict[str, _DataSource] = {}
        self._pages: dict[str, _Page] = {}
        self._ds_pages: dict[str, list[_Page]] = {}
        self._blocks: dict[str, _Block] = {}
        self._children: dict[str, list[str]] = {}
        self.workspace_id = self._new_id()
        self.bot_id = self.add_user(bot_name, bot=True)
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            (method, re.compile(pattern), handler)
            for method, pattern, handler in [
                ("GET", r"/v1/users/me", self._users_me),
                ("GET", r"/v1/users", self._list_users),
                ("GET", r"/v1/users/(?P<user_id>[^/]+)", self._get_user),
                ("GET", r"/v1/databases/(?P<database_id>[^/]+)", self._get_database),
                ("GET", r"/v1/data_sources/(?P<data_source_id>[^/]+)", self._get_data_source),
                ("POST", r"/v1/data_sources/(?P<data_source_id>[^/]+)/query", self._query),
                ("POST", r"/v1/pages", self._create_page),
                ("GET", r"/v1/pages/(?P<page_id>[^/]+)", self._get_page),
                ("PATCH", r"/v1/pages/(?P<page_id>[^/]+)", self._update_page),
                ("GET", r"/v1/blocks/(?P<block_id>[^/]+)/children", self._list_children),
                ("PATCH", r"/v1/blocks/(?P<block_id>[^/]+)/children", self._append_children),
                ("POST", r"/v1/search", self._search),
                ("POST", r"/v1/comments", self._create_comment),
                ("GET", r"/v1/comments", self._list_comments),
                ("PATCH", r"/v1/comments/(?P<comment_id>[^/]+)", self._update_comment),
                ("DELETE", r"/v1/comments/(?P<comment_id>[^/]+)", self._delete_comment),
            ]
        ]

    # ----- seeding and inspection (sync, for tests) -----

    def app(self) -> web.Application:
        # Large bodies must reach the handler so it can answer Notion's 400 instead of aiohttp's 413.
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        return app

    def headers(self, version: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Notion-Version": version or self.version}

    def add_user(self, name: str, email: str | None = None, *, bot: bool = False, guest: bool = False) -> str:
        user = _User(self._new_id(), name, email, "bot" if bot else "person", guest)
        self._users[user.id] = user
        return user.id

    def add_database(
        self,
        title: str,
        properties: Mapping[str, JsonObj] | None = None,
        *,
        shared: bool = True,
        data_sources: int = 1,
    ) -> tuple[str, str]:
        now = self.clock()
        db = _Database(self._new_id(), title, shared, self._new_id(), now)
        self._databases[db.id] = db
        for n in range(data_sources):
            schema = self._build_schema(properties if properties is not None else _default_properties())
            ds = _DataSource(self._new_id(), db.id, title if n == 0 else f"{title} {n + 1}", schema, now)
            self._data_sources[ds.id] = ds
            self._ds_pages[ds.id] = []
            db.data_source_ids.append(ds.id)
        return db.id, db.data_source_ids[0]

    def share(self, database_id: str, shared: bool = True) -> None:
        self._databases[str(uuid.UUID(database_id))].shared = shared

    def add_page(
        self,
        data_source_id: str,
        title: str,
        *,
        properties: Mapping[str, Any] | None = None,
        last_edited_time: datetime | str | None = None,
        in_trash: bool = False,
    ) -> JsonObj:
        ds = self._data_sources[str(uuid.UUID(data_source_id))]
        title_name = next(name for name, prop in ds.schema.items() if prop["type"] == "title")
        written = {title_name: {"title": [{"text": {"content": title}}]}, **(properties or {})}
        values, options = self._validate_properties(ds, written, "properties")
        page = self._new_page(ds, values, options)
        page.in_trash = in_trash
        if last_edited_time is not None:
            moment = last_edited_time
            if isinstance(moment, str):
                parsed = _parse_moment(moment)
                assert parsed is not None, f"bad timestamp {moment!r}"
                moment = parsed[0]
            page.edited = moment
        return copy.deepcopy(self._render_page(page, self.version))

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
            _Fault(
                method.upper(),
                re.compile(path_regex),
                status,
                times,
                retry_after,
                body,
                commit,
                delay,
                reset,
                non_json,
                rate_limit_reason,
            )
        )

    def heal(self) -> None:
        """Every fault still waiting is dropped: Notion is back."""
        self._faults.clear()

    def calls(self, method: str = "*", path_regex: str = ".*") -> list[RecordedRequest]:
        return calls(self.requests, method, path_regex)

    def page(self, page_id: str) -> JsonObj:
        return copy.deepcopy(self._render_page(self._pages[str(uuid.UUID(page_id))], self.version))

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
                lines.append(_plain_text(block.content.get("rich_text")))
                walk(block_id)

        walk(str(uuid.UUID(page_id)))
        return "\n".join(lines)

    # ----- HTTP plumbing -----

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        raw = await request.read()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        self.requests.append(
            RecordedRequest(request.method, request.path, dict(request.query), parsed, CIMultiDict(request.headers))
        )
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = take_fault(self._faults, request.method, request.path)
        if fault is not None and not fault.runs_handler:
            await asyncio.sleep(fault.delay)
            if fault.reset:
                return drop_connection(request)
            return self._fault_response(fault, request_id, {})
        call: _Call | None = None
        try:
            call, handler = self._prepare(request, raw)
            status, payload = 200, handler(call)
        except NotionError as exc:
            status, payload = exc.status, self._error_body(exc, request_id)
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.reset:
                return drop_connection(request)
            if fault.commit and status < 300 and call is not None:
                return self._fault_response(fault, request_id, call.committed)
        return web.json_response(payload, status=status, headers={"x-notion-request-id": request_id})

    def _fault_response(self, fault: _Fault, request_id: str, committed: JsonObj) -> web.StreamResponse:
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

    def _prepare(self, request: web.Request, raw: bytes) -> tuple[_Call, Handler]:
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
            raise _invalid(
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
                raise _body_invalid("body.length", f"≤ `{MAX_BODY_BYTES}`", len(raw))
            try:
                body = json.loads(raw)
            except ValueError:
                raise NotionError(400, "invalid_json", "Error parsing JSON body.") from None
            _check_obj(body, "body")
        return _Call(version, route[1], body, request.query), route[0]

    def _route(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        for verb, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if verb == method and match is not None:
                return handler, match.groupdict()
        return None

    # ----- lookups honouring sharing -----

    def _new_id(self) -> str:
        # Notion IDs are not all v4 UUIDs (see those in https://developers.notion.com/docs/upgrade-guide-2025-09-03),
        # so none of the version bits are set here either.
        return str(uuid.UUID(int=self._rng.getrandbits(128)))

    def _short_id(self) -> str:
        return quote("".join(self._rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz:;=?@[]{}", k=4)))

    def _shared_database(self, database_id: str) -> _Database:
        db = self._databases.get(database_id)
        if db is None or not db.shared:
            raise NotionError(404, "object_not_found", f"Could not find database with ID: {database_id}. {NOT_SHARED}")
        return db

    def _shared_data_source(self, data_source_id: str) -> _DataSource:
        ds = self._data_sources.get(data_source_id)
        if ds is None or not self._databases[ds.database_id].shared:
            raise NotionError(
                404, "object_not_found", f"Could not find data source with ID: {data_source_id}. {NOT_SHARED}"
            )
        return ds

    def _shared_page(self, page_id: str) -> _Page:
        page = self._pages.get(page_id)
        if page is None or not self._databases[self._data_sources[page.data_source_id].database_id].shared:
            raise NotionError(404, "object_not_found", f"Could not find page with ID: {page_id}. {NOT_SHARED}")
        return page

    def _shared_parent(self, block_id: str) -> _Page:
        """The page owning a page-or-block id; a block is visible when its page is."""
        page_id = self._blocks[block_id].page_id if block_id in self._blocks else block_id
        try:
            return self._shared_page(page_id)
        except NotionError:
            raise NotionError(
                404, "object_not_found", f"Could not find block with ID: {block_id}. {NOT_SHARED}"
            ) from None

    # ----- rendering -----

    def _trash(self, version: str, in_trash: bool) -> JsonObj:
        # 2026-03-11 renamed `archived` to `in_trash`; older versions carry both
        # (https://developers.notion.com/guides/get-started/upgrade-guide-2026-03-11).
        return {"in_trash": in_trash} if version >= "2026-03-11" else {"archived": in_trash, "in_trash": in_trash}

    def _url(self, title: str, object_id: str) -> str:
        hex_id = object_id.replace("-", "")
        if not self.legacy_urls:
            return f"https://app.notion.com/p/{hex_id}"
        slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")
        return f"https://www.notion.so/{slug}-{hex_id}" if slug else f"https://www.notion.so/{hex_id}"

    def _user_ref(self) -> JsonObj:
        return {"object": "user", "id": self.bot_id}

    def _render_user(self, user: _User) -> JsonObj:
        out: JsonObj = {"object": "user", "id": user.id, "name": user.name, "avatar_url": None, "type": user.kind}
        if user.kind == "bot":
            out["bot"] = {}
        else:
            out["person"] = {"email": user.email} if self.user_emails and user.email else {}
        return out

    def _render_database(self, db: _Database, version: str) -> JsonObj:
        return {
            "object": "database",
            "id": db.id,
            "title": [_text_item(db.title)],
            "description": [],
            "parent": {"type": "page_id", "page_id": db.parent_page_id},
            "is_inline": False,
            **self._trash(version, False),
            "is_locked": False,
            "created_time": _ts(db.created),
            "last_edited_time": _ts(db.created),
            "created_by": self._user_ref(),
            "last_edited_by": self._user_ref(),
            "data_sources": [{"id": i, "name": self._data_sources[i].name} for i in db.data_source_ids],
            "icon": None,
            "cover": None,
            "url": self._url(db.title, db.id),
            "public_url": None,
        }

    def _render_data_source(self, ds: _DataSource, version: str) -> JsonObj:
        db = self._databases[ds.database_id]
        return {
            "object": "data_source",
            "id": ds.id,
            "title": [_text_item(ds.name)],
            "description": [],
            "parent": {"type": "database_id", "database_id": db.id},
            "database_parent": {"type": "page_id", "page_id": db.parent_page_id},
            "is_inline": False,
            **self._trash(version, False),
            "created_time": _ts(ds.created),
            "last_edited_time": _ts(ds.created),
            "created_by": self._user_ref(),
            "last_edited_by": self._user_ref(),
            "icon": None,
            "cover": None,
            "url": self._url(ds.name, db.id),
            "public_url": None,
            "properties": ds.schema,
        }

    def _render_page(self, page: _Page, version: str, only: set[str] | None = None) -> JsonObj:
        ds = self._data_sources[page.data_source_id]
        properties = {
            name: {"id": prop["id"], "type": prop["type"], prop["type"]: self._render_value(page, prop)}
            for name, prop in ds.schema.items()
            if not only or name in only or prop["id"] in only or unquote(prop["id"]) in only
        }
        title = _plain_text(page.values.get("title"))  # the title property's id is always "title" here
        return {
            "object": "page",
            "id": page.id,
            "created_time": _ts(page.created),
            "last_edited_time": _ts(page.edited),
            "created_by": self._user_ref(),
            "last_edited_by": self._user_ref(),
            "cover": page.cover,
            "icon": page.icon,
            "parent": {"type": "data_source_id", "data_source_id": ds.id, "database_id": ds.database_id},
            **self._trash(version, page.in_trash),
            "is_locked": False,
            "url": self._url(title, page.id),
            "public_url": None,
            "properties": properties,
        }

    def _render_value(self, page: _Page, prop: JsonObj) -> Any:
        kind, value = prop["type"], page.values.get(prop["id"])
        if kind in ("title", "rich_text", "files"):
            return value or []
        if kind == "multi_select":
            return [self._option_out(prop, option_id) for option_id in value or []]
        if kind in ("select", "status"):
            return None if value is None else self._option_out(prop, value)
        if kind == "people":
            return [self._person_ref(user_id) for user_id in value or []]
        if kind == "relation":
            return [{"id": page_id} for page_id in value or []]
        if kind == "unique_id":
            return {"prefix": prop["unique_id"]["prefix"], "number": value}
        if kind in ("created_time", "last_edited_time"):
            return _ts(page.created if kind == "created_time" else page.edited)
        if kind in ("created_by", "last_edited_by"):
            return self._render_user(self._users[self.bot_id])
        if kind == "checkbox":
            return bool(value)
        if kind == "formula":
            return {"type": "string", "string": None}
        if kind == "rollup":
            return {"type": "array", "array": [], "function": "show_original"}
        return value

    def _person_ref(self, user_id: str) -> JsonObj:
        user = self._users.get(user_id)
        # Without the user-info capability Notion shrinks users to {object, id}.
        if user is None or not self.user_capability:
            return {"object": "user", "id": user_id}
        return self._render_user(user)

    @staticmethod
    def _option_out(prop: JsonObj, option_id: str) -> JsonObj:
        option = next(o for o in prop[prop["type"]]["options"] if o["id"] == option_id)
        return {"id": option["id"], "name": option["name"], "color": option["color"]}

    def _render_block(self, block: _Block, version: str) -> JsonObj:
        return {
            "object": "block",
            "id": block.id,
            "parent": block.parent,
            "created_time": _ts(block.created),
            "last_edited_time": _ts(block.created),
            "created_by": self._user_ref(),
            "last_edited_by": self._user_ref(),
            "has_children": bool(self._children.get(block.id)),
            **self._trash(version, False),
            "type": block.type,
            block.type: block.content,
        }

    @staticmethod
    def _list(results: list[JsonObj], next_cursor: str | None, kind: str) -> JsonObj:
        return {
            "object": "list",
            "results": results,
            "next_cursor": next_cursor,
            "has_more": next_cursor is not None,
            "type": kind,
            kind: {},
        }

    # ----- pagination -----

    @staticmethod
    def _window(ids: list[str], start_cursor: Any, page_size: Any, where: str) -> tuple[int, int]:
        if where == "query" and page_size is not None:
            try:
                page_size = int(page_size)
            except ValueError:
                raise _body_invalid("query.page_size", "a number", page_size, "query") from None
        if page_size is None:
            page_size = MAX_ARRAY
        if not isinstance(page_size, int) or isinstance(page_size, bool):
            raise _body_invalid(f"{where}.page_size", "a number", page_size, where)
        if page_size > MAX_ARRAY:
            suffix = " or `undefined`" if where == "query" else ""
            raise _body_invalid(f"{where}.page_size", f"≤ `{MAX_ARRAY}`{suffix}", page_size, where)
        if page_size < 1:
            raise _body_invalid(f"{where}.page_size", "≥ `1`", page_size, where)
        start = 0
        if start_cursor is not None:
            if not isinstance(start_cursor, str) or start_cursor not in ids:
                raise _invalid(f"The start_cursor provided is invalid: {start_cursor}")
            start = ids.index(start_cursor)
        return start, min(start + page_size, len(ids))

    def _paginate_query(self, items: list[Any], ids: list[str], call: _Call, kind: str) -> tuple[list[Any], JsonObj]:
        start, end = self._window(ids, call.query.get("start_cursor"), call.query.get("page_size"), "query")
        return items[start:end], self._list([], ids[end] if end < len(ids) else None, kind)

    def _paginate_body(self, items: list[Any], ids: list[str], call: _Call, kind: str) -> tuple[list[Any], JsonObj]:
        start, end = self._window(ids, call.body.get("start_cursor"), call.body.get("page_size"), "body")
        return items[start:end], self._list([], ids[end] if end < len(ids) else None, kind)

    # ----- users -----

    def _users_me(self, call: _Call) -> JsonObj:
        me = self._render_user(self._users[self.bot_id])
        me["bot"] = {
            "owner": {"type": "workspace", "workspace": True},
            "workspace_id": self.workspace_id,
            "workspace_name": self.workspace_name,
            "workspace_limits": {"max_file_upload_size_in_bytes": 5 * 1024**3},
        }
        return me

    def _require_user_capability(self) -> None:
        if not self.user_capability:
            raise NotionError(403, "restricted_resource", "API token does not have access to this resource.")

    def _list_users(self, call: _Call) -> JsonObj:
        self._require_user_capability()
        members = [u for u in self._users.values() if not u.guest]
        chunk, out = self._paginate_query(members, [u.id for u in members], call, "user")
        out["results"] = [self._render_user(u) for u in chunk]
        return out

    def _get_user(self, call: _Call) -> JsonObj:
        self._require_user_capability()
        user_id = _parse_id(call.params["user_id"], "path.user_id", "path")
        if user_id not in self._users:
            raise NotionError(404, "object_not_found", f"Could not find user with ID: {user_id}.")
        return self._render_user(self._users[user_id])

    # ----- databases and data sources -----

    def _get_database(self, call: _Call) -> JsonObj:
        db = self._shared_database(_parse_id(call.params["database_id"], "path.database_id", "path"))
        return self._render_database(db, call.version)

    def _get_data_source(self, call: _Call) -> JsonObj:
        ds = self._shared_data_source(_parse_id(call.params["data_source_id"], "path.data_source_id", "path"))
        return self._render_data_source(ds, call.version)

    def _query(self, call: _Call) -> JsonObj:
        ds = self._shared_data_source(_parse_id(call.params["data_source_id"], "path.data_source_id", "path"))
        body = call.body
        allowed = {"filter", "sorts", "start_cursor", "page_size", "in_trash", "result_type"}
        _reject_unknown(body, allowed | ({"archived"} if call.version < "2026-03-11" else set()))
        want_trash = body.get("in_trash", body.get("archived", False)) is True
        pages = [p for p in self._ds_pages[ds.id] if p.in_trash == want_trash]
        if body.get("filter") is not None:
            predicate = self._compile_filter(ds, body["filter"], "body.filter", 0)
            pages = [p for p in pages if predicate(p)]
        if body.get("sorts") is not None:
            pages = self._sort(ds, pages, body["sorts"])
        # A single query stops at query_result_limit results, saying so in request_status
        # (https://developers.notion.com/guides/data-apis/query-large-data-sources).
        truncated = len(pages) > self.query_result_limit
        pages = pages[: self.query_result_limit]
        chunk, out = self._paginate_body(pages, [p.id for p in pages], call, "page_or_data_source")
        only = set(call.query.getall("filter_properties[]", [])) | set(call.query.getall("filter_properties", []))
        out["results"] = [self._render_page(p, call.version, only or None) for p in chunk]
        out["request_status"] = {"type": "complete"}
        if truncated and not out["has_more"]:
            out["request_status"] = {"type": "incomplete", "incomplete_reason": "query_result_limit_reached"}
        return out

    def _find_prop(self, ds: _DataSource, key: Any) -> JsonObj | None:
        if not isinstance(key, str):
            return None
        if key in ds.schema:
            return ds.schema[key]
        return next((p for p in ds.schema.values() if key in (p["id"], unquote(p["id"]))), None)

    def _compile_filter(self, ds: _DataSource, spec: Any, path: str, depth: int) -> Predicate:
        spec = _check_obj(spec, path)
        for op in ("and", "or"):
            if op in spec:
                # Compound filters nest at most two levels deep
                # (https://developers.notion.com/reference/filter-data-source-entries).
                if depth >= 2:
                    raise _body_invalid(f"{path}.{op}", "not present", spec[op])
                subs = _check_list(spec[op], f"{path}.{op}")
                preds = [self._compile_filter(ds, s, f"{path}.{op}[{i}]", depth + 1) for i, s in enumerate(subs)]
                if op == "and":
                    return lambda page: all(pred(page) for pred in preds)
                return lambda page: any(pred(page) for pred in preds)
        if "timestamp" in spec:
            stamp = spec["timestamp"]
            if stamp not in ("created_time", "last_edited_time"):
                raise _body_invalid(f"{path}.timestamp", '`"created_time"` or `"last_edited_time"`', stamp)
            if "property" in spec:
                raise _body_invalid(f"{path}.property", "not present", spec["property"])
            test = self._date_condition(spec.get(stamp, _UNDEFINED), f"{path}.{stamp}")
            return lambda page: test(page.created if stamp == "created_time" else page.edited)
        if "property" not in spec:
            raise _body_invalid(f"{path}.property", "defined", _UNDEFINED)
        prop = self._find_prop(ds, spec["property"])
        if prop is None:
            raise _invalid(f"Could not find property with name or id: {spec['property']}")
        kind = next((k for k in spec if k not in ("property", "type")), None)
        if kind is None:
            raise _body_invalid(f"{path}.{prop['type']}", "defined", _UNDEFINED)
        if kind != prop["type"]:
            raise _invalid(
                "The property type in the database does not match the property type of the filter provided: "
                f"database property {prop['type']} does not match filter {kind}"
            )
        return self._property_condition(prop, spec[kind], f"{path}.{kind}")

    def _property_condition(self, prop: JsonObj, cond: Any, path: str) -> Predicate:
        cond = _check_obj(cond, path)
        if len(cond) != 1:
            extra = list(cond)[1:]
            if extra:
                raise _body_invalid(f"{path}.{extra[0]}", "not present", cond[extra[0]])
            raise _body_invalid(path, "an object with one condition", cond)
        op, arg = next(iter(cond.items()))
        cpath = f"{path}.{op}"
        kind, pid = prop["type"], prop["id"]
        if op in ("is_empty", "is_not_empty"):
            if arg is not True:
                raise _body_invalid(cpath, "`true`", arg)
            want_empty = op == "is_empty"
            return lambda page: self._is_empty(page, prop) == want_empty
        if kind in TEXT_TYPES:
            if op not in TEXT_OPS:
                raise _body_invalid(cpath, "not present", arg)
            needle = _check_str(arg, cpath, MAX_TEXT).casefold()
            text_test = _text_test(op, needle)
            if kind in ("title", "rich_text"):
                return lambda page: text_test(_plain_text(page.values.get(pid)).casefold())
            return lambda page: text_test((page.values.get(pid) or "").casefold())
        if kind in ("number", "unique_id"):
            if op not in NUMBER_OPS:
                raise _body_invalid(cpath, "not present", arg)
            if not isinstance(arg, int | float) or isinstance(arg, bool):
                raise _body_invalid(cpath, "a number", arg)
            num_test = _number_test(op, arg)
            return lambda page: page.values.get(pid) is not None and num_test(page.values[pid])
        if kind == "checkbox":
            if op not in ("equals", "does_not_equal") or not isinstance(arg, bool):
                raise _body_invalid(cpath, "a boolean", arg)
            return lambda page: bool(page.values.get(pid)) == (arg if op == "equals" else not arg)
        if kind in ("select", "status", "multi_select"):
            return self._option_condition(prop, op, arg, cpath)
        if kind in ("people", "created_by", "last_edited_by"):
            if op not in ("contains", "does_not_contain"):
                raise _body_invalid(cpath, "not present", arg)
            # "me" is the token's user; internal connections have none, so it matches nothing
            # (https://developers.notion.com/reference/filter-data-source-entries).
            target = arg if arg == "me" else _parse_id(arg, cpath)
            contains = op == "contains"
            return lambda page: (target in self._people(page, prop)) == contains
        if kind in ("date", "created_time", "last_edited_time"):
            test = self._date_condition(cond, path)
            return lambda page: test(self._moment(page, prop))
        raise _invalid(f"The fake Notion cannot filter on {kind} properties.")

    def _option_condition(self, prop: JsonObj, op: str, arg: Any, path: str) -> Predicate:
        kind, pid = prop["type"], prop["id"]
        ops = ("contains", "does_not_contain") if kind == "multi_select" else ("equals", "does_not_equal")
        if op not in ops:
            raise _body_invalid(path, "not present", arg)
        names = [arg] if isinstance(arg, str) else arg
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _body_invalid(path, "a string or an array of strings", arg)
        config = prop[kind]
        wanted = {o["id"] for o in config["options"] if o["name"] in names}
        # Status filters also accept group names (https://developers.notion.com/reference/filter-data-source-entries).
        for group in config.get("groups", []):
            if group["name"] in names:
                wanted |= set(group["option_ids"])
        positive = op in ("equals", "contains")
        if kind == "multi_select":
            return lambda page: bool(wanted & set(page.values.get(pid) or [])) == positive
        return lambda page: (page.values.get(pid) in wanted) == positive

    def _date_condition(self, cond: Any, path: str) -> Callable[[datetime | None], bool]:
        cond = _check_obj(cond, path)
        if len(cond) != 1:
            raise _body_invalid(path, "an object with one condition", cond)
        op, arg = next(iter(cond.items()))
        cpath = f"{path}.{op}"
        if op in ("is_empty", "is_not_empty"):
            if arg is not True:
                raise _body_invalid(cpath, "`true`", arg)
            return lambda moment: (moment is None) == (op == "is_empty")
        now = self.clock()
        if op in DATE_RANGES:
            if arg != {}:
                raise _body_invalid(cpath, "an empty object", arg)
            if op == "this_week":
                week = now.isocalendar()[:2]
                return lambda m: m is not None and m.isocalendar()[:2] == week
            span = {"week": 7, "month": 31, "year": 365}[op.split("_")[1]]
            low, high = (
                (now - timedelta(days=span), now) if op.startswith("past") else (now, now + timedelta(days=span))
            )
            return lambda m: m is not None and low <= m <= high
        if op not in DATE_OPS:
            raise _body_invalid(cpath, "not present", arg)
        parsed = _relative_date(arg, now) or _parse_moment(arg)
        if parsed is None:
            raise _body_invalid(cpath, "a valid ISO 8601 date string", arg)
        target, date_only = parsed
        compare = _number_test(
            {
                "before": "less_than",
                "after": "greater_than",
                "on_or_before": "less_than_or_equal_to",
                "on_or_after": "greater_than_or_equal_to",
            }.get(op, op),
            target.date().toordinal() if date_only else target.timestamp(),
        )
        if date_only:
            return lambda m: m is not None and compare(m.astimezone(UTC).date().toordinal())
        return lambda m: m is not None and compare(m.timestamp())

    def _is_empty(self, page: _Page, prop: JsonObj) -> bool:
        kind, value = prop["type"], page.values.get(prop["id"])
        if kind in ("created_time", "last_edited_time", "created_by", "last_edited_by", "checkbox"):
            return False
        if kind in ("title", "rich_text"):
            return _plain_text(value) == ""
        return value is None or value == "" or value == []

    def _people(self, page: _Page, prop: JsonObj) -> list[str]:
        if prop["type"] in ("created_by", "last_edited_by"):
            return [self.bot_id]
        people: list[str] = page.values.get(prop["id"]) or []
        return people

    @staticmethod
    def _moment(page: _Page, prop: JsonObj) -> datetime | None:
        if prop["type"] == "created_time":
            return page.created
        if prop["type"] == "last_edited_time":
            return page.edited
        value = page.values.get(prop["id"])
        parsed = _parse_moment(value["start"]) if value else None
        return parsed[0] if parsed else None

    def _sort(self, ds: _DataSource, pages: list[_Page], sorts: Any) -> list[_Page]:
        keys: list[tuple[Callable[[_Page], Any], bool]] = []
        for i, sort in enumerate(_check_list(sorts, "body.sorts")):
            path = f"body.sorts[{i}]"
            sort = _check_obj(sort, path)
            direction = sort.get("direction", _UNDEFINED)
            if direction not in ("ascending", "descending"):
                raise _body_invalid(f"{path}.direction", '`"ascending"` or `"descending"`', direction)
            if "timestamp" in sort:
                stamp = sort["timestamp"]
                if stamp not in ("created_time", "last_edited_time"):
                    raise _body_invalid(f"{path}.timestamp", '`"created_time"` or `"last_edited_time"`', stamp)
                keys.append((_timestamp_key(stamp), direction == "descending"))
                continue
            prop = self._find_prop(ds, sort.get("property"))
            if prop is None:
                raise _invalid(f"Could not find sort property with name or id: {sort.get('property')}")
            keys.append((self._sort_key(prop), direction == "descending"))
        result = list(pages)
        # Stable sorts applied from the least significant key; empty values stay last in both directions.
        for key, descending in reversed(keys):
            keyed = [(key(page), page) for page in result]
            present = sorted((kp for kp in keyed if kp[0] is not None), key=lambda kp: kp[0], reverse=descending)
            result = [page for _, page in present] + [page for value, page in keyed if value is None]
        return result

    def _sort_key(self, prop: JsonObj) -> Callable[[_Page], Any]:
        kind, pid = prop["type"], prop["id"]
        if kind in ("title", "rich_text"):
            return lambda page: _plain_text(page.values.get(pid)).casefold() or None
        if kind in ("select", "status", "multi_select"):
            # Notion orders options by their position in the schema, not alphabetically.
            order = {o["id"]: n for n, o in enumerate(prop[kind]["options"])}

            def option_rank(page: _Page) -> int | None:
                value = page.values.get(pid)
                first = value[0] if isinstance(value, list) and value else value
                return order.get(first) if isinstance(first, str) else None

            return option_rank
        if kind in ("date", "created_time", "last_edited_time"):
            return lambda page: self._moment(page, prop)
        if kind == "people":
            return lambda page: next(
                (self._users[u].name.casefold() for u in page.values.get(pid) or [] if u in self._users), None
            )
        if kind == "checkbox":
            return lambda page: bool(page.values.get(pid))
        if kind in TEXT_TYPES:
            return lambda page: page.values.get(pid) or None
        return lambda page: page.values.get(pid)

    # ----- pages -----

    def _create_page(self, call: _Call) -> JsonObj:
        body = call.body
        _reject_unknown(body, ("parent", "properties", "children", "icon", "cover"))
        ds = self._parent_data_source(body.get("parent", _UNDEFINED))
        if not self.insert_content:
            raise NotionError(403, "restricted_resource", "API token does not have access to this resource.")
        values, options = self._validate_properties(ds, body.get("properties", {}), "body.properties")
        specs = self._validate_children(body["children"]) if "children" in body else []
        page = self._new_page(ds, values, options)
        page.icon, page.cover = body.get("icon"), body.get("cover")
        self._materialize(page.id, page.id, specs, None)
        call.committed = {"committed_resource_id": page.id}
        return self._render_page(page, call.version)

    def _parent_data_source(self, parent: Any) -> _DataSource:
        parent = _check_obj(parent, "body.parent")
        kind = parent.get("type") or next((k for k in ("data_source_id", "database_id") if k in parent), None)
        if kind == "database_id":
            # Still accepted on new versions, but only while the database has a single data source
            # (https://developers.notion.com/docs/upgrade-guide-2025-09-03).
            db = self._shared_database(_parse_id(parent.get("database_id", _UNDEFINED), "body.parent.database_id"))
            if len(db.data_source_ids) != 1:
                raise NotionError(
                    400,
                    "validation_error",
                    "Databases with multiple data sources are not supported in this API version.",
                    {
                        "error_type": "multiple_data_sources_for_database",
                        "database_id": db.id,
                        "child_data_source_ids": list(db.data_source_ids),
                        "minimum_api_version": "2025-09-03",
                    },
                )
            return self._data_sources[db.data_source_ids[0]]
        if kind != "data_source_id":
            raise _body_invalid("body.parent.data_source_id", "defined", _UNDEFINED)
        return self._shared_data_source(
            _parse_id(parent.get("data_source_id", _UNDEFINED), "body.parent.data_source_id")
        )

    def _new_page(self, ds: _DataSource, values: dict[str, Any], options: list[tuple[JsonObj, JsonObj]]) -> _Page:
        now = self.clock()
        for prop, option in options:
            prop[prop["type"]]["options"].append(option)
        for prop in ds.schema.values():
            if prop["type"] == "unique_id":
                values[prop["id"]] = ds.next_number
            # New rows start in the status's default option, the first of its "To-do" group.
            if prop["type"] == "status" and prop["id"] not in values and prop["status"]["options"]:
                groups = prop["status"]["groups"]
                values[prop["id"]] = next(
                    (g["option_ids"][0] for g in groups if g["option_ids"]), prop["status"]["options"][0]["id"]
                )
        ds.next_number += 1
        page = _Page(self._new_id(), ds.id, values, now, now)
        self._pages[page.id] = page
        self._ds_pages[ds.id].append(page)
        return page

    def _get_page(self, call: _Call) -> JsonObj:
        page = self._shared_page(_parse_id(call.params["page_id"], "path.page_id", "path"))
        only = set(call.query.getall("filter_properties[]", [])) | set(call.query.getall("filter_properties", []))
        return self._render_page(page, call.version, only or None)

    def _update_page(self, call: _Call) -> JsonObj:
        page = self._shared_page(_parse_id(call.params["page_id"], "path.page_id", "path"))
        body = call.body
        allowed = {"properties", "in_trash", "icon", "cover", "is_locked"}
        _reject_unknown(body, allowed | ({"archived"} if call.version < "2026-03-11" else set()))
        trash = body.get("in_trash", body.get("archived"))
        if trash is not None and not isinstance(trash, bool):
            raise _body_invalid("body.in_trash", "a boolean", trash)
        if page.in_trash and trash is not False:
            raise _invalid("Can't edit block that is archived. You must unarchive the block before editing.")
        ds = self._data_sources[page.data_source_id]
        values, options = self._validate_properties(ds, body.get("properties", {}), "body.properties")
        for prop, option in options:
            prop[prop["type"]]["options"].append(option)
        page.values.update(values)
        page.icon = body.get("icon", page.icon)
        page.cover = body.get("cover", page.cover)
        if trash is not None:
            page.in_trash = trash
        page.edited = self.clock()
        return self._render_page(page, call.version)

    def _validate_properties(
        self, ds: _DataSource, raw: Any, path: str
    ) -> tuple[dict[str, Any], list[tuple[JsonObj, JsonObj]]]:
        """Checked values keyed by property id, plus select options to add once the whole write is valid."""
        raw = _check_obj(raw, path)
        values: dict[str, Any] = {}
        new_options: list[tuple[JsonObj, JsonObj]] = []
        for key, value in raw.items():
            prop = self._find_prop(ds, key)
            if prop is None:
                raise _invalid(f"{key} is not a property that exists.")
            kind = prop["type"]
            if kind in READ_ONLY_TYPES:
                raise _invalid(f"{prop['name']} is a {kind} property, which cannot be set through the API.")
            value = _check_obj(value, f"{path}.{key}")
            if value.get("type", kind) != kind or kind not in value:
                raise _invalid(f"{prop['name']} is expected to be {kind}.")
            values[prop["id"]] = self._property_value(prop, value[kind], f"{path}.{key}.{kind}", new_options)
        return values, new_options

    def _property_value(self, prop: JsonObj, value: Any, path: str, new_options: list[tuple[JsonObj, JsonObj]]) -> Any:
        kind = prop["type"]
        if kind in ("title", "rich_text"):
            return self._rich_text(value, path)
        if value is None and kind not in ("people", "multi_select", "relation", "files", "checkbox", "status"):
            return None
        if kind in ("url", "email", "phone_number"):
            return _check_str(value, path, MAX_TEXT if kind == "url" else 200)
        if kind == "number":
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise _body_invalid(path, "a number", value)
            return value
        if kind == "checkbox":
            if not isinstance(value, bool):
                raise _body_invalid(path, "a boolean", value)
            return value
        if kind in ("people", "relation"):
            return [
                _parse_id(_check_obj(p, f"{path}[{i}]").get("id", _UNDEFINED), f"{path}[{i}].id")
                for i, p in enumerate(_check_list(value, path))
            ]
        if kind in ("select", "status"):
            return self._option(prop, value, path, new_options)
        if kind == "multi_select":
            return [self._option(prop, o, f"{path}[{i}]", new_options) for i, o in enumerate(_check_list(value, path))]
        if kind == "date":
            value = _check_obj(value, path)
            if _parse_moment(value.get("start")) is None:
                raise _body_invalid(f"{path}.start", "a valid ISO 8601 date string", value.get("start", _UNDEFINED))
            if value.get("end") is not None and _parse_moment(value["end"]) is None:
                raise _body_invalid(f"{path}.end", "a valid ISO 8601 date string", value["end"])
            return {"start": value["start"], "end": value.get("end"), "time_zone": value.get("time_zone")}
        if kind == "files":
            return _check_list(value, path)
        raise _invalid(f"The fake Notion cannot write {kind} properties.")

    def _option(self, prop: JsonObj, value: Any, path: str, new_options: list[tuple[JsonObj, JsonObj]]) -> str:
        kind = prop["type"]
        value = _check_obj(value, path)
        options = prop[kind]["options"] + [o for p, o in new_options if p is prop]
        if "id" in value:
            found = next((o for o in options if o["id"] == value["id"]), None)
            if found is None:
                raise _invalid(f"Invalid {kind} option id: {value['id']}")
            return str(found["id"])
        name = _check_str(value.get("name", _UNDEFINED), f"{path}.name", 100)
        if "," in name:
            raise _invalid(f"Invalid {kind} option, commas not allowed: {name}")
        found = next((o for o in options if o["name"] == name), None)
        if found is not None:
            return str(found["id"])
        if kind == "status":
            # Unlike select, Notion does not invent status options: only select's are documented as created
            # (https://developers.notion.com/reference/page-property-values).
            raise _invalid(f'Invalid status option. Status option "{name}" does not exist for property {prop["name"]}.')
        option = {"id": self._short_id(), "name": name, "color": "default", "description": None}
        new_options.append((prop, option))
        return str(option["id"])

    # ----- rich text and blocks -----

    def _rich_text(self, items: Any, path: str) -> list[JsonObj]:
        out: list[JsonObj] = []
        for i, item in enumerate(_check_list(items, path)):
            ipath = f"{path}[{i}]"
            item = _check_obj(item, ipath)
            kind = item.get("type") or next((k for k in ("text", "mention", "equation") if k in item), None)
            annotations = {**DEFAULT_ANNOTATIONS, **_check_obj(item.get("annotations", {}), f"{ipath}.annotations")}
            if kind == "text":
                text = _check_obj(item.get("text", _UNDEFINED), f"{ipath}.text")
                content = _check_str(text.get("content", _UNDEFINED), f"{ipath}.text.content", MAX_TEXT)
                link = text.get("link")
                if link is not None:
                    link = _check_obj(link, f"{ipath}.text.link")
                    _check_str(link.get("url", _UNDEFINED), f"{ipath}.text.link.url", MAX_TEXT)
                out.append(
                    {
                        "type": "text",
                        "text": {"content": content, "link": link},
                        "annotations": annotations,
                        "plain_text": content,
                        "href": link["url"] if link else None,
                    }
                )
            elif kind == "equation":
                equation = _check_obj(item.get("equation", _UNDEFINED), f"{ipath}.equation")
                expression = _check_str(equation.get("expression", _UNDEFINED), f"{ipath}.equation.expression", 1000)
                out.append(
                    {
                        "type": "equation",
                        "equation": {"expression": expression},
                        "annotations": annotations,
                        "plain_text": expression,
                        "href": None,
                    }
                )
            elif kind == "mention":
                mention = _check_obj(item.get("mention", _UNDEFINED), f"{ipath}.mention")
                out.append(
                    {"type": "mention", "mention": mention, "annotations": annotations, "plain_text": "", "href": None}
                )
            else:
                raise _body_invalid(f"{ipath}.text", "defined", _UNDEFINED)
        return out

    def _validate_children(self, children: Any, path: str = "body.children") -> list[_BlockSpec]:
        counter = [0]
        specs = self._block_specs(children, path, 1, counter)
        if counter[0] > MAX_BLOCKS:
            raise _body_invalid(f"{path}.blocks.length", f"≤ `{MAX_BLOCKS}`", counter[0])
        return specs

    def _block_specs(self, blocks: Any, path: str, depth: int, counter: list[int]) -> list[_BlockSpec]:
        specs: list[_BlockSpec] = []
        for i, block in enumerate(_check_list(blocks, path)):
            bpath = f"{path}[{i}]"
            block = _check_obj(block, bpath)
            known = RICH_TEXT_BLOCKS | OTHER_BLOCKS
            kind = block.get("type") or next((k for k in block if k in known), None)
            if kind not in known:
                raise _body_invalid(
                    f"{bpath}.type", "a block type supported by the fake", block.get("type", _UNDEFINED)
                )
            cpath = f"{bpath}.{kind}"
            raw = _check_obj(block.get(kind, _UNDEFINED), cpath)
            counter[0] += 1
            content: JsonObj = {}
            if kind in RICH_TEXT_BLOCKS or kind == "code":
                content["rich_text"] = self._rich_text(raw.get("rich_text", _UNDEFINED), f"{cpath}.rich_text")
            if kind in RICH_TEXT_BLOCKS:
                content["color"] = raw.get("color", "default")
                if kind == "to_do":
                    content["checked"] = bool(raw.get("checked", False))
                if kind.startswith("heading_"):
                    content["is_toggleable"] = bool(raw.get("is_toggleable", False))
                if kind == "callout":
                    content["icon"] = raw.get("icon")
            if kind == "code":
                language = raw.get("language", _UNDEFINED)
                if language not in CODE_LANGUAGES:
                    choices = ", ".join(f'`"{name}"`' for name in CODE_LANGUAGES[:-1])
                    raise _body_invalid(f"{cpath}.language", f'{choices}, or `"{CODE_LANGUAGES[-1]}"`', language)
                content["language"] = language
            if kind in ("code", "bookmark", "embed"):
                content["caption"] = self._rich_text(raw.get("caption", []), f"{cpath}.caption")
            if kind in ("bookmark", "embed"):
                content["url"] = _check_str(raw.get("url", _UNDEFINED), f"{cpath}.url", MAX_TEXT)
            if kind == "equation":
                content["expression"] = _check_str(raw.get("expression", _UNDEFINED), f"{cpath}.expression", 1000)
            children: list[_BlockSpec] = []
            if "children" in raw:
                # Only two levels of children fit in one request; deeper content needs later appends.
                if depth >= 2 or kind not in RICH_TEXT_BLOCKS:
                    raise _body_invalid(f"{cpath}.children", "not present", raw["children"])
                children = self._block_specs(raw["children"], f"{cpath}.children", depth + 1, counter)
            specs.append((kind, content, children))
        return specs

    def _materialize(self, parent_id: str, page_id: str, specs: list[_BlockSpec], index: int | None) -> list[_Block]:
        siblings = self._children.setdefault(parent_id, [])
        parent = (
            {"type": "page_id", "page_id": parent_id}
            if parent_id == page_id
            else {"type": "block_id", "block_id": parent_id}
        )
        now = self.clock()
        created: list[_Block] = []
        for kind, content, children in specs:
            block = _Block(self._new_id(), page_id, parent, kind, content, now)
            self._blocks[block.id] = block
            created.append(block)
            self._materialize(block.id, page_id, children, None)
        at = len(siblings) if index is None else index
        siblings[at:at] = [b.id for b in created]
        return created

    def _list_children(self, call: _Call) -> JsonObj:
        block_id = _parse_id(call.params["block_id"], "path.block_id", "path")
        self._shared_parent(block_id)
        ids = self._children.get(block_id, [])
        chunk, out = self._paginate_query(ids, ids, call, "block")
        out["results"] = [self._render_block(self._blocks[b], call.version) for b in chunk]
        return out

    def _append_children(self, call: _Call) -> JsonObj:
        block_id = _parse_id(call.params["block_id"], "path.block_id", "path")
        page = self._shared_parent(block_id)
        body = call.body
        # 2026-03-11 replaced `after` with `position`
        # (https://developers.notion.com/guides/get-started/upgrade-guide-2026-03-11).
        placement = "position" if call.version >= "2026-03-11" else "after"
        _reject_unknown(body, ("children", placement))
        if "children" not in body:
            raise _body_invalid("body.children", "defined", _UNDEFINED)
        if not self.insert_content:
            raise NotionError(403, "restricted_resource", "API token does not have access to this resource.")
        if page.in_trash:
            raise _invalid("Can't edit block that is archived. You must unarchive the block before editing.")
        specs = self._validate_children(body["children"])
        index = self._insert_index(block_id, body, placement)
        created = self._materialize(block_id, page.id, specs, index)
        page.edited = self.clock()
        call.committed = {"committed_resource_id": block_id, "committed_child_ids": [b.id for b in created]}
        return self._list([self._render_block(b, call.version) for b in created], None, "block")

    def _insert_index(self, parent_id: str, body: JsonObj, placement: str) -> int | None:
        siblings = self._children.get(parent_id, [])
        if placement == "after":
            after = body.get("after")
            if after is None:
                return None
            anchor, anchor_path = _parse_id(after, "body.after"), "body.after"
        else:
            position = _check_obj(body.get("position", {"type": "end"}), "body.position")
            kind = position.get("type", _UNDEFINED)
            if kind == "end":
                return None
            if kind == "start":
                return 0
            if kind != "after_block":
                raise _body_invalid("body.position.type", '`"start"`, `"end"`, or `"after_block"`', kind)
            target = _check_obj(position.get("after_block", _UNDEFINED), "body.position.after_block")
            anchor_path = "body.position.after_block.id"
            anchor = _parse_id(target.get("id", _UNDEFINED), anchor_path)
        if anchor not in siblings:
            raise _invalid(f"{anchor_path} {anchor} is not a child of block {parent_id}.")
        return siblings.index(anchor) + 1

    # ----- search and comments -----

    def _search(self, call: _Call) -> JsonObj:
        body = call.body
        _reject_unknown(body, ("query", "filter", "sort", "start_cursor", "page_size"))
        query = body.get("query") or ""
        if not isinstance(query, str):
            raise _body_invalid("body.query", "a string", query)
        wanted = None
        if body.get("filter") is not None:
            flt = _check_obj(body["filter"], "body.filter")
            wanted = flt.get("value", _UNDEFINED)
            if wanted not in ("page", "data_source"):
                raise _body_invalid("body.filter.value", '`"page"` or `"data_source"`', wanted)
        descending = True
        if body.get("sort") is not None:
            sort = _check_obj(body["sort"], "body.sort")
            if sort.get("timestamp") != "last_edited_time":
                raise _invalid(f"body failed validation: {SEARCH_SORT_RULE}")
            direction = sort.get("direction", _UNDEFINED)
            if direction not in ("ascending", "descending"):
                raise _body_invalid("body.sort.direction", '`"ascending"` or `"descending"`', direction)
            descending = direction == "descending"
        # Search matches titles by terms, any term (observed), and its index lags behind writes
        # (https://developers.notion.com/reference/search-optimizations-and-limitations).
        terms = query.casefold().split()
        indexed_before = self.clock() - timedelta(seconds=self.search_delay)
        found: list[tuple[datetime, str, JsonObj]] = []
        for ds in self._data_sources.values():
            db = self._databases[ds.database_id]
            if (
                db.shared
                and wanted in (None, "data_source")
                and _matches(db.title, terms)
                and ds.created <= indexed_before
            ):
                found.append((ds.created, ds.id, self._render_data_source(ds, call.version)))
        if wanted in (None, "page"):
            title_ids = {ds.id: _title_id(ds) for ds in self._data_sources.values()}
            for page in self._pages.values():
                if page.in_trash or page.created > indexed_before:
                    continue
                ds = self._data_sources[page.data_source_id]
                if self._databases[ds.database_id].shared and _matches(
                    _plain_text(page.values.get(title_ids[ds.id])), terms
                ):
                    found.append((page.edited, page.id, self._render_page(page, call.version)))
        found.sort(key=lambda hit: hit[0], reverse=descending)
        chunk, out = self._paginate_body(found, [hit[1] for hit in found], call, "page_or_data_source")
        out["results"] = [hit[2] for hit in chunk]
        return out

    def _create_comment(self, call: _Call) -> JsonObj:
        body = call.body
        _reject_unknown(body, ("parent", "discussion_id", "rich_text", "markdown", "display_name", "attachments"))
        if not self.comments_capability:
            raise NotionError(403, "restricted_resource", "Insufficient permissions for this endpoint.")
        targets = [k for k in ("parent", "discussion_id") if k in body]
        if len(targets) != 1:
            raise _body_invalid("body.parent", "defined", _UNDEFINED)
        if "parent" in body:
            parent = _check_obj(body["parent"], "body.parent")
            key = "page_id" if "page_id" in parent else "block_id"
            target_id = _parse_id(parent.get(key, _UNDEFINED), f"body.parent.{key}")
            (self._shared_page if key == "page_id" else self._shared_parent)(target_id)
            parent_out, discussion_id = {"type": key, key: target_id}, self._new_id()
        else:
            discussion_id = _parse_id(body["discussion_id"], "body.discussion_id")
            earlier = next((c for c in self.comments if c["discussion_id"] == discussion_id), None)
            if earlier is None:
                raise NotionError(404, "object_not_found", f"Could not find discussion with ID: {discussion_id}.")
            parent_out = earlier["parent"]
        if "markdown" in body:
            rich_text = [_text_item(_check_str(body["markdown"], "body.markdown", MAX_TEXT))]
        else:
            rich_text = self._rich_text(body.get("rich_text", _UNDEFINED), "body.rich_text")
        display = _check_obj(body.get("display_name", {"type": "integration"}), "body.display_name")
        if display.get("type") == "custom":
            resolved = _check_obj(display.get("custom", _UNDEFINED), "body.display_name.custom").get("name")
        else:
            resolved = self._users[self.bot_id].name
        now = _ts(self.clock())
        comment = {
            "object": "comment",
            "id": self._new_id(),
            "parent": parent_out,
            "discussion_id": discussion_id,
            "created_time": now,
            "last_edited_time": now,
            "created_by": self._user_ref(),
            "rich_text": rich_text,
            "display_name": {"type": display.get("type", "integration"), "resolved_name": resolved},
        }
        self.comments.append(comment)
        return comment

    def _list_comments(self, call: _Call) -> JsonObj:
        # Open comments of a page or block, oldest first (https://developers.notion.com/docs/working-with-comments).
        if not self.comments_capability:
            raise NotionError(403, "restricted_resource", "Insufficient permissions for this endpoint.")
        block_id = _parse_id(call.query.get("block_id", _UNDEFINED), "query.block_id", "query")
        self._shared_parent(block_id)
        found = [c for c in self.comments if c["parent"].get(c["parent"]["type"]) == block_id]
        chunk, out = self._paginate_query(found, [c["id"] for c in found], call, "comment")
        out["results"] = chunk
        return out

    def _update_comment(self, call: _Call) -> JsonObj:
        # Only the content can change: the SDK's update body is `rich_text` or `markdown`
        # (makenotion/notion-sdk-js src/api-endpoints/comments.ts).
        comment_id = _parse_id(call.params["comment_id"], "path.comment_id", "path")
        body = call.body
        _reject_unknown(body, ("rich_text", "markdown"))
        if "markdown" in body:
            rich_text = [_text_item(_check_str(body["markdown"], "body.markdown", MAX_TEXT))]
        else:
            rich_text = self._rich_text(body.get("rich_text", _UNDEFINED), "body.rich_text")
        comment = self._shared_comment(comment_id)
        comment["rich_text"] = rich_text
        comment["last_edited_time"] = _ts(self.clock())
        return comment

    def _delete_comment(self, call: _Call) -> JsonObj:
        # The SDK types the answer as the comment object itself, with no trash flag
        # (makenotion/notion-sdk-js src/api-endpoints/comments.ts).
        comment = self._shared_comment(_parse_id(call.params["comment_id"], "path.comment_id", "path"))
        self.comments.remove(comment)
        return comment

    def _shared_comment(self, comment_id: str) -> JsonObj:
        if not self.comments_capability:
            raise NotionError(403, "restricted_resource", "Insufficient permissions for this endpoint.")
        comment = next((c for c in self.comments if c["id"] == comment_id), None)
        if comment is not None:
            parent = comment["parent"]
            try:
                self._shared_parent(parent[parent["type"]])
            except NotionError:
                comment = None
        if comment is None:
            raise NotionError(404, "object_not_found", f"Could not find comment with ID: {comment_id}. {NOT_SHARED}")
        return comment

    # ----- schema building -----

    def _build_schema(self, properties: Mapping[str, JsonObj]) -> dict[str, JsonObj]:
        schema: dict[str, JsonObj] = {}
        for name, config in properties.items():
            kind = config.get("type") or next(iter(config))
            schema[name] = {
                "id": "title" if kind == "title" else self._short_id(),
                "name": name,
                "description": None,
                "type": kind,
                kind: self._normalize_config(kind, copy.deepcopy(config.get(kind) or {})),
            }
        if not any(p["type"] == "title" for p in schema.values()):
            # Every data source has exactly one title property
            # (https://developers.notion.com/reference/property-schema-object).
            schema = {
                "Name": {"id": "title", "name": "Name", "description": None, "type": "title", "title": {}}
            } | schema
        return schema

    def _normalize_config(self, kind: str, config: JsonObj) -> JsonObj:
        if kind == "unique_id":
            return {"prefix": config.get("prefix")}
        if kind not in ("select", "multi_select", "status"):
            return config
        default = ["Not started", "In progress", "Done"] if kind == "status" else []
        options = [
            {
                "id": self._short_id(),
                "color": "default",
                "description": None,
                **({"name": o} if isinstance(o, str) else o),
            }
            for o in config.get("options", default)
        ]
        if kind != "status":
            return {"options": options}
        by_name = {o["name"]: o["id"] for o in options}
        groups = config.get("groups") or [
            {"name": "To-do", "color": "gray", "option_ids": [options[0]["name"]] if options else []},
            {"name": "In progress", "color": "blue", "option_ids": [o["name"] for o in options[1:-1]]},
            {"name": "Complete", "color": "green", "option_ids": [options[-1]["name"]] if len(options) > 1 else []},
        ]
        return {
            "options": options,
            "groups": [
                {
                    "id": self._short_id(),
                    "name": g["name"],
                    "color": g.get("color", "default"),
                    # Seed configs may name options; responses always carry option ids.
                    "option_ids": [by_name.get(o, o) for o in g.get("option_ids", [])],
                }
                for g in groups
            ],
        }


def _default_properties() -> dict[str, JsonObj]:
    return {
        "Name": {"title": {}},
        "ID": {"unique_id": {"prefix": "BUG"}},
        "Assignee": {"people": {}},
        "Sentry Link": {"url": {}},
        "Status": {"status": {}},
    }


def _title_id(ds: _DataSource) -> str:
    return next(str(p["id"]) for p in ds.schema.values() if p["type"] == "title")


def _matches(title: str, terms: list[str]) -> bool:
    folded = title.casefold()
    return not terms or any(term in folded for term in terms)


def _timestamp_key(stamp: str) -> Callable[[_Page], datetime]:
    return (lambda page: page.created) if stamp == "created_time" else (lambda page: page.edited)


def _text_test(op: str, needle: str) -> Callable[[str], bool]:
    # Case-insensitive: https://developers.notion.com/reference/filter-data-source-entries does not say, so clients must
    # re-check anyway.
    tests: dict[str, Callable[[str], bool]] = {
        "equals": lambda s: s == needle,
        "does_not_equal": lambda s: s != needle,
        "contains": lambda s: needle in s,
        "does_not_contain": lambda s: needle not in s,
        "starts_with": lambda s: s.startswith(needle),
        "ends_with": lambda s: s.endswith(needle),
    }
    return tests[op]


def _number_test(op: str, target: float) -> Callable[[float], bool]:
    tests: dict[str, Callable[[float], bool]] = {
        "equals": lambda n: n == target,
        "does_not_equal": lambda n: n != target,
        "greater_than": lambda n: n > target,
        "less_than": lambda n: n < target,
        "greater_than_or_equal_to": lambda n: n >= target,
        "less_than_or_equal_to": lambda n: n <= target,
    }
    return tests[op]


def _relative_date(value: Any, now: datetime) -> tuple[datetime, bool] | None:
    offsets = {
        "today": 0,
        "tomorrow": 1,
        "yesterday": -1,
        "one_week_ago": -7,
        "one_week_from_now": 7,
        "one_month_ago": -30,
        "one_month_from_now": 30,
    }
    if not isinstance(value, str) or value not in offsets:
        return None
    day = (now + timedelta(days=offsets[value])).replace(hour=0, minute=0, second=0, microsecond=0)
    return day, True
