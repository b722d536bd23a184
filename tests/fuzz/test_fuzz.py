"""Fuzzing the HTTP surface with hypothesis (issue 3).

The promises under test, over the real app with the in-memory FakeIssueTracker:
- bad input never gets a 5xx, and every 4xx the app writes is JSON with a "message";
- nothing is written to Notion (create_issue, set_sentry_link, append) without a valid signature,
  and nothing is written when the answer is a 4xx;
- a body over MAX_BODY_BYTES is a 413 and a body at the limit is processed;
- the option routes always answer 200 with a JSON list;
- the service stays up: /healthz answers 200 after every test.
"""

import asyncio
import gzip
import json
import string
import unicodedata
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, assume, currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpClient
from structlog.testing import capture_logs
from yarl import URL

from adapters.memory import MemoryCache, MemoryLocks
from container import Container
from domain.models import Assignee, Entry
from domain.stale_while_revalidate import StaleWhileRevalidate
from entrypoints.http.app import MAX_BODY_BYTES
from entrypoints.http.middlewares import UNSIGNED
from tests.support.fakes import FakeWorkspace
from tests.support.sentry import INSTALLATION, SECRET, description, dumps, issue_link_body, sign, ui_headers
from tests.support.stack import app_for
from tests.support.stack import settings as service_settings

Client = TestClient[web.Request, web.Application]

CREATE, LINK, WEBHOOK = "/sentry/issue-link/create", "/sentry/issue-link/link", "/sentry/webhook"
ISSUES, ASSIGNEES = "/sentry/options/issues", "/sentry/options/assignees"
POSTS = (CREATE, LINK, WEBHOOK)
OPTION_ROUTES = (ISSUES, ASSIGNEES)
SIGNED_ROUTES = (*POSTS, *OPTION_ROUTES)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")  # HEAD answers carry no body to check
SIGNATURE_HEADERS = ("Sentry-App-Signature", "Sentry-Hook-Signature")
SECRETS = (SECRET, "previous-secret")  # both are configured by tests.e2e.conftest.settings()
WRITES = frozenset(
    {"create_entry", "set_sentry_link", "append", "update_entry", "add_comment", "edit_comment", "delete_comment"}
)
# Headers that change how the request is framed or decoded, not what it says; fuzzed on their own below.
FRAMING = frozenset(
    {"content-length", "transfer-encoding", "host", "connection", "content-encoding", "expect", "upgrade", "te"}
    | {"trailer", "keep-alive", "proxy-connection"}
    | {h.lower() for h in SIGNATURE_HEADERS}
)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(FUZZ, max_examples=40)


# ---------------------------------------------------------------------------------------------------------------
# The app, once per test (hypothesis runs every example against the same client and tracker)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tracker: FakeWorkspace) -> AsyncIterator[Client]:
    tracker.assignees = [
        Assignee(id="u-ada", name="Ada Lovelace", email="ada@example.org"),
        Assignee(id="u-zoe", name="Zoë Ünïcode"),
    ]
    container = Container(settings=service_settings())
    container.workspace.override(tracker)
    # Examples add an entry and search for it at once: a search answer shared for seconds would hide it.
    container.searches.override(StaleWhileRevalidate(cache=MemoryCache(keep_s=0), locks=MemoryLocks(), fresh_s=0))
    client = await aiohttp_client(app_for(container))
    yield client
    await assert_still_up(client)


@pytest.fixture
def entry(tracker: FakeWorkspace) -> Entry:
    tracker.add("Login fails")
    return tracker.add("Checkout crashes on Safari")


async def assert_still_up(client: Client) -> None:
    # A fresh connection: a request the server refused at the HTTP layer may have closed the pooled one.
    async with aiohttp.ClientSession() as fresh, fresh.get(client.make_url("/healthz")) as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}


# ---------------------------------------------------------------------------------------------------------------
# Checks


def note(outcome: str) -> None:
    if currently_in_test_context():
        event(outcome)  # counted by pytest --hypothesis-show-statistics


async def problem_message(resp: aiohttp.ClientResponse) -> str:
    raw = await resp.read()
    assert resp.content_type == "application/json", (resp.status, raw[:300])
    payload = json.loads(raw)
    assert isinstance(payload, dict), payload
    assert isinstance(payload.get("message"), str), payload
    assert payload["message"].strip(), payload
    return str(payload["message"])


def accepted(signature: str, body: bytes) -> bool:
    return signature.strip().lower() in {sign(body, s) for s in SECRETS}


def sent_title(body: bytes) -> str | None:
    try:
        doc = json.loads(body)
        title = doc["fields"]["title"]
    except (ValueError, TypeError, KeyError, RecursionError):
        return None
    return title if isinstance(title, str) else None


async def check_signed_outcome(
    resp: aiohttp.ClientResponse, tracker: FakeWorkspace, before: int, path: str, body: bytes
) -> None:
    """A validly signed POST: never 5xx; a 4xx is a JSON message and wrote nothing; a 2xx did the right thing."""
    new = tracker.calls[before:]
    note(f"{path} answered {resp.status}")
    assert resp.status < 500, (resp.status, (await resp.read())[:500], body[:300])
    assert resp.status != 401, "a valid signature, in either header and with either secret, is accepted"
    if resp.status >= 400:
        await problem_message(resp)
        assert not WRITES & set(new), (resp.status, new)
        return
    payload = json.loads(await resp.read())
    if path == WEBHOOK:
        # Without Redis a webhook is applied at once; garbage about no linked issue writes nothing.
        assert resp.status in (200, 202)
        assert payload["received"] is True
        assert not WRITES & set(new), new
        return
    assert resp.status == (201 if "create_entry" in new else 200)  # a repeated create answers 200
    assert isinstance(payload, dict)
    assert set(payload) == {"webUrl", "project", "identifier"}
    assert all(isinstance(v, str) and v for v in payload.values()), payload
    (page,) = [p for p in tracker.pages.values() if p.issue.identifier == payload["identifier"]]
    assert page.issue.url == payload["webUrl"]
    title = page.issue.title
    assert title.strip(), "the tracker never gets a blank title"
    assert title == " ".join(title.split())
    if path == CREATE and "create_entry" in new:
        assert page is list(tracker.pages.values())[-1]
        if (expected := sent_title(body)) is not None:
            assert title == " ".join(expected.split())
        assert page.issue.sentry_url
        assert page.issue.sentry_url.startswith(("http://", "https://"))
    if path == LINK:
        assert page.issue.sentry_url, "a successful link leaves the entry linked"


async def check_options(resp: aiohttp.ClientResponse, tracker: FakeWorkspace, before: int) -> None:
    raw = await resp.read()
    assert resp.status == 200, (resp.status, raw[:500])
    options = json.loads(raw)
    assert isinstance(options, list)
    note(f"{len(options)} options")
    for option in options:
        assert isinstance(option, dict)
        assert isinstance(option.get("label"), str)
        assert isinstance(option.get("value"), str)
    assert not WRITES & set(tracker.calls[before:])


# ---------------------------------------------------------------------------------------------------------------
# Strategies

TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
PRINTABLE_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
# Header values aiohttp's client will send: no C0 controls, DEL, or surrogates; non-ASCII goes out as UTF-8.
HEADER_TEXT = st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="\u2028\u2029\x85")


def huge(alphabet: st.SearchStrategy[str], low: int, high: int) -> st.SearchStrategy[str]:
    # A short random unit repeated: drawing thousands of characters one by one would dominate the run time.
    return st.builds(
        lambda unit, n: (unit * (n // len(unit) + 1))[:n],
        st.text(alphabet, min_size=1, max_size=16),
        st.integers(low, high),
    )


header_names = st.text(TOKEN_CHARS, min_size=1, max_size=30).filter(lambda n: n.lower() not in FRAMING)
header_values = st.one_of(
    st.text(PRINTABLE_ASCII, max_size=100),
    st.text(HEADER_TEXT, max_size=100),
    huge(PRINTABLE_ASCII, 1000, 2500),
)
arbitrary_headers = st.dictionaries(header_names, header_values, max_size=8)

# Wrong signatures in ASCII. Non-ASCII ones hit bug 1 (test_a_non_ascii_signature_is_a_401_not_a_500).
bad_signatures = st.one_of(
    st.just(""),
    st.text(PRINTABLE_ASCII, max_size=80),
    st.text("0123456789abcdefABCDEF", min_size=64, max_size=64),
    st.text(string.hexdigits + "xyz", min_size=63, max_size=65),
    huge(PRINTABLE_ASCII, 1000, 7000),  # huge, but under aiohttp's 8190-byte field limit
    st.builds(sign, st.binary(max_size=40), st.sampled_from(("another-secret", "", SECRET))),
    st.builds(lambda b: " " + sign(b).upper() + "\t", st.binary(max_size=40)),
)
signature_headers = st.fixed_dictionaries(
    {}, optional={"Sentry-App-Signature": bad_signatures, "Sentry-Hook-Signature": bad_signatures}
)

random_paths = (
    st.text(string.ascii_letters + string.digits + "-_~/", max_size=60)
    .map(lambda p: "/" + p)
    .filter(lambda p: not p.startswith("//"))  # "//host" is a scheme-relative URL, not a path
    .filter(lambda p: not any(u.strip("/") and u.strip("/") in p for u in UNSIGNED) and p not in UNSIGNED)
)
paths = st.one_of(
    st.sampled_from(SIGNED_ROUTES),
    st.sampled_from(SIGNED_ROUTES).map(lambda p: p + "/"),
    st.sampled_from(SIGNED_ROUTES).map(str.upper),
    random_paths,
)


def create_body(**fields: object) -> bytes:
    return issue_link_body(
        {"title": "TypeError: x is undefined", "description": description("BACKEND-1A", 4242, "stack")} | fields
    )


WEBHOOK_BODY = b'{"action":"resolved","installation":{"uuid":"' + INSTALLATION.encode() + b'"},"data":{},"actor":{}}'
VALID_BODIES = (create_body(), issue_link_body({"issue": "00000000-0000-0000-0000-000000000002"}), WEBHOOK_BODY)

invalid_utf8 = st.builds(
    lambda good, bad, at: good[:at] + bad + good[at:],
    st.sampled_from(VALID_BODIES),
    st.sampled_from((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80", b"\x00", b"\xfe\xff")),
    st.integers(0, 400),
)
arbitrary_bodies = st.one_of(
    st.binary(max_size=2000),
    invalid_utf8,
    st.sampled_from(VALID_BODIES),
    st.sampled_from(VALID_BODIES).map(lambda b: b"\xef\xbb\xbf" + b),  # UTF-8 BOM
    st.sampled_from(VALID_BODIES).map(lambda b: b.decode().encode("utf-16")),
)

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(20, 4000).map(lambda digits: -int("9" * digits)),  # Python refuses more than 4300 digits
    st.integers(20, 4000).map(lambda digits: int("9" * digits)),
    st.floats(allow_nan=True, allow_infinity=True),  # json.dumps writes NaN / Infinity tokens
    st.text(),
    st.sampled_from(("", "   ", "\u0000", "\ud800", "\udfff", "https://x", "javascript:alert(1)")),
    st.integers(2000, 3000).map(lambda n: "a" * n),
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)


def encode(value: Any, style: str) -> bytes:
    if style == "sentry":
        return dumps(value)
    if style == "utf8":
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(value, indent=2).encode()


encodings = st.sampled_from(("sentry", "utf8", "pretty"))

CREATE_TEMPLATE: dict[str, Any] = json.loads(create_body(assignee="u-ada"))
LINK_TEMPLATE: dict[str, Any] = json.loads(issue_link_body({"issue": "00000000-0000-0000-0000-000000000002"}))
FIELD_PATHS: dict[str, list[tuple[str, ...]]] = {
    CREATE: [("fields",), ("fields", "title"), ("fields", "description"), ("fields", "assignee")],
    LINK: [("fields",), ("fields", "issue")],
}
COMMON_PATHS = [
    ("issueId",),
    ("installationId",),
    ("webUrl",),
    ("project",),
    ("project", "slug"),
    ("project", "id"),
    ("actor",),
    ("actor", "type"),
    ("actor", "id"),
    ("actor", "name"),
]
# Values that are wrong, or right in a surprising way, for the fields of a Sentry body.
field_values = st.one_of(
    json_values,
    st.text(HEADER_TEXT, min_size=1, max_size=200),
    st.sampled_from(
        (
            "https://acme.sentry.io/issues/1/",
            "http://x",
            "https://" + "a" * 2100,
            "javascript://x",
            "https://a b",
            "00000000-0000-0000-0000-000000000001",
            "00000000000000000000000000000002",
            "https://app.notion.com/p/Login-00000000000000000000000000000002",
            "not a page",
            "[x]",
            "\t\n",
            "\u200b",
            4242.0,
            -1,
            0,
            2**63,
            "4242",
        )
    ),
)


@st.composite
def mutated_bodies(draw: st.DrawFn, path: str) -> bytes:
    """A valid Sentry body with 1–4 fields deleted, nulled, retyped or joined by extra keys."""
    doc = json.loads(json.dumps(CREATE_TEMPLATE if path == CREATE else LINK_TEMPLATE))
    # A fresh Sentry issue most of the time, so creates really create and links really link.
    doc["issueId"] = draw(st.integers(1, 10**9))
    doc["webUrl"] = f"https://acme.sentry.io/issues/{doc['issueId']}/"
    where = st.sampled_from(FIELD_PATHS[path] + COMMON_PATHS)
    for _ in range(draw(st.integers(1, 4))):
        keys = draw(where)
        parent: Any = doc
        for key in keys[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        op = draw(st.sampled_from(("delete", "null", "replace", "replace", "extra")))
        if op == "delete":
            parent.pop(keys[-1], None)
        elif op == "null":
            parent[keys[-1]] = None
        elif op == "replace":
            parent[keys[-1]] = draw(field_values)
        else:
            parent[draw(st.text(max_size=12))] = draw(json_values)
    return encode(doc, draw(encodings))


# Characters Python's urlsplit rejects inside a netloc: "[" and "]", and non-ASCII characters whose NFKC form
# holds one of "/?#@:" (e.g. "℀" → "a/c", "＃" → "#"). Searches holding them hit bug 2.
def urlsplit_safe(text: str) -> bool:
    return not any(
        c in "[]" or (not c.isascii() and set(unicodedata.normalize("NFKC", c)) & set("/?#@:")) for c in text
    )


URL_RAW = string.ascii_letters + string.digits + "%&=+;-_.~!$'()*,/:@?"
query_keys = st.one_of(
    st.sampled_from(("query", "installationId", "projectSlug", "dependentData")), st.text(max_size=10)
)
query_texts = st.one_of(
    st.text(max_size=120),  # unicode, control characters, NUL
    st.text(HEADER_TEXT, max_size=40),
    st.integers(0, 6000).map(lambda n: "x y" * (n // 3)),  # long
    st.sampled_from(("BUG-12", "#12", "bug-000000000000001", "١٢", "00000000-0000-0000-0000-000000000002")),
    st.sampled_from(("https://app.notion.com/p/00000000000000000000000000000002", "notion.so/?p=xyz", "a@b:c")),
    st.sampled_from(("Crash [iOS]", "[", "a]b", "℀", "＃1", "https://[::1", "notion.so:99999/x")),  # bug 2 inputs
)


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    pairs = draw(st.lists(st.tuples(query_keys, query_texts), max_size=6))  # repeated keys happen
    encoded = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs)
    raw = draw(st.text(URL_RAW, max_size=200))  # bare &, =, malformed %-escapes, %ff
    query = draw(st.sampled_from((encoded, raw, f"{encoded}&{raw}", f"{raw}&{encoded}")))
    assume(len(query) < 7500)  # aiohttp refuses request lines over 8190 bytes before the app sees them
    return query


async def get_raw(client: Client, path: str, query: str) -> aiohttp.ClientResponse:
    url = URL(f"{client.make_url(path)}?{query}", encoded=True)
    with capture_logs():  # not rendered: a logged traceback costs more than the request
        return await client.session.get(url, headers=ui_headers(b""))


# ---------------------------------------------------------------------------------------------------------------
# Unsigned and badly signed requests


@FUZZ
@given(
    method=st.sampled_from(METHODS),
    path=paths,
    headers=arbitrary_headers,
    signatures=signature_headers,
    body=arbitrary_bodies,
)
async def test_unsigned_or_badly_signed_requests_are_refused_and_write_nothing(
    client: Client,
    tracker: FakeWorkspace,
    method: str,
    path: str,
    headers: dict[str, str],
    signatures: dict[str, str],
    body: bytes,
) -> None:
    assume(not any(accepted(v, body) for v in signatures.values()))

    resp = await client.request(method, path, data=body, headers=headers | signatures, allow_redirects=False)

    assert resp.status in (401, 404, 405), (resp.status, await resp.text())
    await problem_message(resp)
    assert tracker.calls == []


@FEW
@given(path=st.sampled_from(SIGNED_ROUTES), signature=st.text(HEADER_TEXT, min_size=1, max_size=80))
@example(path=WEBHOOK, signature="é")
@example(path=CREATE, signature=sign(create_body()).replace("a", "\u0430"))  # Cyrillic а
async def test_a_non_ascii_signature_is_a_401_not_a_500(
    client: Client, tracker: FakeWorkspace, path: str, signature: str
) -> None:
    assume(not signature.isascii())
    method = "GET" if path in OPTION_ROUTES else "POST"

    with capture_logs():
        resp = await client.request(method, path, data=create_body(), headers={"Sentry-App-Signature": signature})

    assert resp.status == 401, (resp.status, await resp.text())
    await problem_message(resp)
    assert tracker.calls == []


# ---------------------------------------------------------------------------------------------------------------
# Validly signed garbage


@FUZZ
@given(
    path=st.sampled_from(POSTS),
    body=arbitrary_bodies,
    secret=st.sampled_from(SECRETS),
    header=st.sampled_from(SIGNATURE_HEADERS),
    content_type=st.sampled_from(("application/json", "text/plain", "", "application/x-www-form-urlencoded")),
    extra=arbitrary_headers,
)
async def test_signed_arbitrary_bytes_never_get_a_5xx(
    client: Client,
    tracker: FakeWorkspace,
    path: str,
    body: bytes,
    secret: str,
    header: str,
    content_type: str,
    extra: dict[str, str],
) -> None:
    headers = extra | {"Content-Type": content_type, header: sign(body, secret)}
    before = len(tracker.calls)

    resp = await client.post(path, data=body, headers=headers)

    await check_signed_outcome(resp, tracker, before, path, body)


@FUZZ
@given(path=st.sampled_from(POSTS), value=json_values, style=encodings)
async def test_signed_arbitrary_json_never_gets_a_5xx(
    client: Client, tracker: FakeWorkspace, path: str, value: Any, style: str
) -> None:
    body = encode(value, style)
    before = len(tracker.calls)

    resp = await client.post(path, data=body, headers=ui_headers(body))

    await check_signed_outcome(resp, tracker, before, path, body)


@FUZZ
@given(data=st.data(), path=st.sampled_from((CREATE, LINK)))
async def test_signed_mutated_sentry_bodies_never_get_a_5xx_and_write_only_on_success(
    client: Client, tracker: FakeWorkspace, entry: Entry, data: st.DataObject, path: str
) -> None:
    body = data.draw(mutated_bodies(path))
    before = len(tracker.calls)

    resp = await client.post(path, data=body, headers=ui_headers(body))

    await check_signed_outcome(resp, tracker, before, path, body)


def nested(depth: int, open_: bytes, close: bytes, inner: bytes = b"") -> bytes:
    return open_ * depth + inner + close * depth


def in_body(fragment: bytes, key: bytes = b'"title"') -> bytes:
    return create_body().replace(key + b':"TypeError: x is undefined"', key + b":" + fragment, 1)


PATHOLOGICAL: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b" \r\n\t ",
    "null": b"null",
    "number": b"0",
    "string": b'"x"',
    "nan": b"NaN",
    "minus-infinity": b"-Infinity",
    "array-1000-deep": nested(1000, b"[", b"]"),
    "array-100000-deep": nested(100_000, b"[", b"]"),
    "array-unclosed": b"[" * 100_000,
    "object-1000-deep": nested(1000, b'{"a":', b"}", b"0"),
    "title-1000-deep": in_body(nested(1000, b"[", b"]")),
    "extra-key-199-deep": create_body().replace(b'{"fields":', b'{"x":' + nested(199, b"[", b"]") + b',"fields":'),
    "extra-key-1000-deep": create_body().replace(b'{"fields":', b'{"x":' + nested(1000, b"[", b"]") + b',"fields":'),
    "title-900k": in_body(b'"' + b"A" * 900_000 + b'"'),
    "title-900k-escapes": in_body(b'"' + b"\\u00e9" * 150_000 + b'"'),
    "title-nan": in_body(b"NaN"),
    "title-infinity": in_body(b"Infinity"),
    "title-lone-surrogate": in_body(b'"\\ud800 crash"'),
    "title-nul": in_body(b'"\\u0000"'),
    "title-bad-escape": in_body(b'"\\x41"'),
    "title-unterminated": in_body(b'"abc'),
    "title-raw-newline": in_body(b'"a\nb"'),
    "title-invalid-utf8": in_body(b'"\xff\xfe"'),
    "issue-id-4000-digits": create_body().replace(b'"issueId":4242', b'"issueId":1' + b"0" * 4000),
    "issue-id-5000-digits": create_body().replace(b'"issueId":4242', b'"issueId":' + b"9" * 5000),
    "issue-id-nan": create_body().replace(b'"issueId":4242', b'"issueId":NaN'),
    "issue-id-float": create_body().replace(b'"issueId":4242', b'"issueId":4242.5'),
    "issue-id-exponent": create_body().replace(b'"issueId":4242', b'"issueId":1e400'),
    "project-id-huge": create_body().replace(b'"id":17', b'"id":' + b"7" * 5000),
    "duplicate-keys": create_body().replace(b'{"fields":', b'{"fields":{"title":7},"fields":'),
    "trailing-garbage": create_body() + b"x",
    "trailing-newline": create_body() + b"\n",
    "two-documents": create_body() + create_body(),
    "webhook-action-huge": b'{"action":"' + b"a" * 900_000 + b'"}',
    "webhook-installation-deep": b'{"action":"x","installation":' + nested(1000, b'{"uuid":', b"}", b'"u"') + b"}",
}


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("name", list(PATHOLOGICAL))
async def test_signed_pathological_json_never_gets_a_5xx(
    client: Client, tracker: FakeWorkspace, path: str, name: str
) -> None:
    body = PATHOLOGICAL[name]
    assert len(body) <= MAX_BODY_BYTES
    before = len(tracker.calls)

    resp = await client.post(path, data=body, headers=ui_headers(body))

    await check_signed_outcome(resp, tracker, before, path, body)


# ---------------------------------------------------------------------------------------------------------------
# Option routes


@FUZZ
@given(path=st.sampled_from(OPTION_ROUTES), query=query_strings())
async def test_option_routes_always_answer_a_json_list(
    client: Client, tracker: FakeWorkspace, entry: Entry, path: str, query: str
) -> None:
    before = len(tracker.calls)

    resp = await get_raw(client, path, query)

    await check_options(resp, tracker, before)


@FEW
@given(
    before=st.text(string.ascii_letters + string.digits + " -", max_size=20),
    bad=st.sampled_from(("[", "]", "℀", "＃", "﹖", "／", "＠", "：")),
    after=st.text(string.ascii_letters + string.digits + " -", max_size=20),
)
@example(before="Crash ", bad="[", after="iOS]")
@example(before="", bad="[", after="BUG-12] checkout")
@example(before="", bad="℀", after="")
async def test_a_search_with_brackets_or_nfkc_punctuation_finds_the_entry(
    client: Client, tracker: FakeWorkspace, before: str, bad: str, after: str
) -> None:
    text = " ".join((before + bad + after).split())
    assume(not urlsplit_safe(text.lower()))
    wanted = tracker.add(text)
    calls = len(tracker.calls)

    resp = await get_raw(client, ISSUES, "installationId=x&query=" + quote_plus(text))

    await check_options(resp, tracker, calls)
    assert wanted.page_id in [o["value"] for o in json.loads(await resp.read())]


# ---------------------------------------------------------------------------------------------------------------
# Body size limit


@pytest.mark.parametrize("path", [*POSTS, "/nope"])
@pytest.mark.parametrize("signed", [True, False])
async def test_a_body_over_the_limit_is_a_413_and_writes_nothing(
    client: Client, tracker: FakeWorkspace, path: str, signed: bool
) -> None:
    body = create_body() + b" " * (MAX_BODY_BYTES + 1 - len(create_body()))
    assert len(body) == MAX_BODY_BYTES + 1
    headers = ui_headers(body) if signed else {"Content-Type": "application/json"}

    resp = await client.post(path, data=body, headers=headers)

    assert resp.status == 413
    assert await problem_message(resp)
    assert tracker.calls == []


async def test_a_chunked_body_over_the_limit_is_a_413(client: Client, tracker: FakeWorkspace) -> None:
    chunk = b"x" * 65536
    chunks = MAX_BODY_BYTES // len(chunk) + 1
    whole = chunk * chunks

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(chunks):
            yield chunk

    resp = await client.post(CREATE, data=stream(), headers=ui_headers(whole))

    assert resp.status == 413
    assert await problem_message(resp)
    assert tracker.calls == []


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_body_that_inflates_over_the_limit_is_a_413(
    client: Client, tracker: FakeWorkspace, encoding: str
) -> None:
    plain = b"[" + b"0," * (MAX_BODY_BYTES) + b"0]"
    body = gzip.compress(plain) if encoding == "gzip" else zlib.compress(plain)
    assert len(body) < MAX_BODY_BYTES

    resp = await client.post(CREATE, data=body, headers=ui_headers(plain) | {"Content-Encoding": encoding})

    assert resp.status == 413
    assert await problem_message(resp)
    assert tracker.calls == []


async def test_a_sentry_body_of_exactly_the_limit_is_processed(client: Client, tracker: FakeWorkspace) -> None:
    frame = "    at handler (/app/src/server.js:42:17)\n"
    stack = frame * ((MAX_BODY_BYTES - 2000) // (len(frame) + 1))  # JSON writes each newline as two bytes
    body = create_body(description=description("BACKEND-1A", 4242, stack))
    stack += "x" * (MAX_BODY_BYTES - len(body))
    body = create_body(description=description("BACKEND-1A", 4242, stack))
    assert len(body) == MAX_BODY_BYTES

    resp = await client.post(CREATE, data=body, headers=ui_headers(body))

    assert resp.status == 201, await resp.text()
    assert tracker.calls.count("create_entry") == 1
    (page,) = tracker.pages.values()
    assert page.issue.title == "TypeError: x is undefined"


async def test_garbage_just_under_the_limit_is_a_400_not_a_413(client: Client, tracker: FakeWorkspace) -> None:
    body = b"\xff" * (MAX_BODY_BYTES - 1)

    resp = await client.post(CREATE, data=body, headers=ui_headers(body))

    assert resp.status == 400
    assert "Invalid JSON" in await problem_message(resp)
    assert tracker.calls == []


# ---------------------------------------------------------------------------------------------------------------
# Framing: bad Content-Encoding, oversized request lines and headers


async def send_alone(client: Client, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
    # Its own connection: aiohttp closes one whose payload it could not decode.
    with capture_logs():
        async with aiohttp.ClientSession() as fresh, fresh.post(client.make_url(path), data=body, headers=headers) as r:
            return r.status, r.content_type, await r.read()


@pytest.mark.parametrize(
    ("encoding", "body", "signed"),
    [
        ("gzip", b"not gzip", False),
        ("gzip", b"not gzip", True),
        ("gzip", b"\x1f\x8b\x08\x00garbage after the magic", True),
        ("deflate", b"not deflate at all", True),
    ],
)
async def test_an_undecodable_content_encoding_is_a_4xx_not_a_500(
    client: Client, tracker: FakeWorkspace, encoding: str, body: bytes, signed: bool
) -> None:
    headers = {"Content-Encoding": encoding} | ({"Sentry-App-Signature": sign(body)} if signed else {})

    status, content_type, raw = await send_alone(client, WEBHOOK, body, headers)

    assert 400 <= status < 500, (status, raw)
    assert content_type == "application/json"
    assert json.loads(raw)["message"]
    assert tracker.calls == []


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (CREATE + "?" + "q" * 9000, {}),
        (CREATE, {"Sentry-App-Signature": "a" * 9000}),
        (CREATE, {"X-Filler": "b" * 9000}),
        (CREATE, {f"X-H{i}": "v" * 100 for i in range(200)}),
    ],
    ids=["long-request-line", "huge-signature", "huge-header", "many-headers"],
)
async def test_oversized_request_lines_and_headers_are_refused_before_the_app(
    client: Client, tracker: FakeWorkspace, path: str, headers: dict[str, str]
) -> None:
    # aiohttp's HTTP parser answers these itself, in text/plain, before any middleware runs.
    status, _, raw = await send_alone(client, path, create_body(), headers | {"Content-Type": "application/json"})

    assert 400 <= status < 500, (status, raw[:300])
    assert tracker.calls == []


# ---------------------------------------------------------------------------------------------------------------
# Stays up


async def test_the_service_stays_up_through_a_burst_of_garbage(client: Client, tracker: FakeWorkspace) -> None:
    big = b"x" * (MAX_BODY_BYTES + 1)
    deep = nested(100_000, b"[", b"]")
    requests = [
        *(client.post(CREATE, data=b"\xff" * n, headers={"Sentry-App-Signature": "0" * 64}) for n in range(20)),
        *(client.post(path, data=deep, headers=ui_headers(deep)) for path in POSTS for _ in range(5)),
        *(client.post(path, data=big, headers=ui_headers(big)) for path in POSTS),
        *(client.get(f"{path}?query=x", headers=ui_headers(b"")) for path in OPTION_ROUTES for _ in range(10)),
        *(client.post(CREATE, data=create_body(), headers=ui_headers(create_body())) for _ in range(10)),
    ]

    answers = await asyncio.gather(*requests)

    assert all(r.status < 500 for r in answers), sorted(r.status for r in answers)
    assert tracker.calls.count("create_entry") == 1
    await assert_still_up(client)


# ---------------------------------------------------------------------------------------------------------------
# What a Sentry user types into the description, and what Sentry's webhooks carry as their time


MARKUP = ("`", "```", "~~~", "[", "]", "(", ")", "](", "](http://", "*", "**", "#", ">", "- ", "1. ", " ", "\t", "\n")
markup_runs = st.tuples(st.sampled_from((*MARKUP, "a", "http://x")), st.integers(1, 2000)).map(lambda r: r[0] * r[1])
hostile_descriptions = st.lists(st.one_of(st.sampled_from(MARKUP), markup_runs), max_size=20).map("".join)


@FEW
@given(text=hostile_descriptions)
async def test_any_description_creates_the_entry_with_its_words(
    client: Client, tracker: FakeWorkspace, text: str
) -> None:
    issue_id = next(ISSUE_IDS)
    body = issue_link_body({"title": "Crash", "description": text}, issue_id=issue_id)

    resp = await asyncio.wait_for(client.post(CREATE, data=body, headers=ui_headers(body)), 10)

    assert resp.status == 201, await resp.text()
    page = next(p for p in tracker.pages.values() if p.issue.sentry_url == f"https://acme.sentry.io/issues/{issue_id}/")
    shown = Counter(c for block in page.body for span in block.spans for c in span.text + (span.link or ""))
    typed = Counter(c for c in text if c.isalpha())
    # Text after a fence marker on its own line is its language, or dropped (CommonMark); all else arrives.
    fenced = any(line.lstrip()[:3] in ("```", "~~~") for line in text.splitlines())
    note("has fence lines" if fenced else "no fence lines")
    assert fenced or not typed - shown


ISSUE_IDS = iter(range(700_000, 10_000_000))
DIGITS = st.text(st.sampled_from("0123456789"), min_size=1, max_size=12)
timestamps = st.one_of(
    DIGITS,
    st.text(HEADER_TEXT, max_size=30),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e20", "abc", "", " ", "１７６４８０００００", "1764800000.0", "0x6930"]),
)


@FUZZ
@given(timestamp=timestamps)
async def test_a_webhook_is_taken_only_with_a_timestamp_as_sentry_writes_it(
    client: Client, tracker: FakeWorkspace, timestamp: str
) -> None:
    tracker.pages.clear()
    linked = tracker.add("Login fails", sentry_url="https://acme.sentry.io/issues/4242/")
    body = dumps(
        {
            "action": "resolved",
            "installation": {"uuid": INSTALLATION},
            "data": {"issue": {"id": "4242", "status": "resolved", "count": timestamp[:8]}},
            "actor": {"type": "user", "id": 1, "name": "Jane"},
        }
    )
    headers = {"Sentry-Hook-Resource": "issue", "Sentry-Hook-Signature": sign(body)}
    headers["Sentry-Hook-Timestamp"] = timestamp

    resp = await client.post(WEBHOOK, data=body, headers=headers)

    text = timestamp.strip()
    # What str(int(time.time())) gives, this century: no sign, no leading zero, no fraction.
    valid = text.isascii() and text.isdigit() and text == str(int(text)) and 946_684_800 <= int(text) < 4_102_444_800
    note("taken" if valid else "refused")
    if valid:
        assert resp.status in (200, 202), await resp.text()
    else:
        assert resp.status == 400
        assert "Sentry-Hook-Timestamp" in await problem_message(resp)
        assert tracker.pages[linked.page_id].status == "Not started"


# ---------------------------------------------------------------------------------------------------------------
# The alert rule's settings check, and the alert webhooks


ALERT_RULE = "/sentry/alert-rule-action"
DATABASE_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"  # configured by tests.support.stack.settings()
rule_fields = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(("database", "assignee", "comment_on_repeat")) | st.text(max_size=8),
            "value": st.sampled_from((DATABASE_ID, DATABASE_ID.replace("-", ""), "u-ada", "yes")) | json_leaves,
        },
        optional={"label": json_leaves},
    ),
    max_size=4,
)


@FUZZ
@given(fields=rule_fields | json_values, installation=st.just(INSTALLATION) | json_leaves, style=encodings)
@example(
    fields=[{"name": "database", "value": DATABASE_ID}, {"name": "assignee", "value": "u-ada"}],
    installation=INSTALLATION,
    style="sentry",
)
async def test_signed_alert_rule_saves_never_get_a_5xx_and_always_answer_a_message(
    client: Client, tracker: FakeWorkspace, fields: Any, installation: Any, style: str
) -> None:
    body = encode({"fields": fields, "installationId": installation}, style)
    before = len(tracker.calls)

    resp = await client.post(ALERT_RULE, data=body, headers=ui_headers(body))

    note(f"{ALERT_RULE} answered {resp.status}")
    assert resp.status in (200, 400), (resp.status, await resp.text())
    message = await problem_message(resp)
    if resp.status == 200:
        assert message.startswith("Notion entries will be created in ")
    assert not WRITES & set(tracker.calls[before:])


@FUZZ
@given(resource=st.sampled_from(("event_alert", "metric_alert")), action=json_leaves, data=json_values)
@example(
    resource="event_alert", action="triggered", data={"event": {"issue_id": "12", "web_url": "https://x/issues/12/"}}
)
@example(resource="metric_alert", action="resolved", data={"metric_alert": {"id": 3}, "web_url": "https://x"})
async def test_signed_alert_webhooks_never_get_a_5xx(
    client: Client, tracker: FakeWorkspace, resource: str, action: Any, data: Any
) -> None:
    body = dumps({"action": action, "installation": {"uuid": INSTALLATION}, "data": data, "actor": {}})
    headers = {"Sentry-Hook-Resource": resource, "Sentry-Hook-Signature": sign(body)}

    with capture_logs():
        resp = await client.post(WEBHOOK, data=body, headers=headers | {"Sentry-Hook-Timestamp": "1764000000"})

    assert resp.status in (200, 202, 400), (resp.status, await resp.text())
    if resp.status == 400:
        await problem_message(resp)
