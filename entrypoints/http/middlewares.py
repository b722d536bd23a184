import asyncio
import contextlib
import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable, Iterator

import pydantic
import structlog
from aiohttp import web

from domain import notion_events
from domain.errors import (
    Conflict,
    DomainError,
    InvalidLink,
    InvalidWebhook,
    IssueNotFound,
    RateLimited,
    TrackerMisconfigured,
    TrackerUnavailable,
)
from entrypoints.http.metrics import REQUEST_SECONDS, REQUESTS
from entrypoints.http.schemas import describe

log = structlog.get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadSignature(Exception):
    pass


class Overloaded(Exception):
    pass


STATUS: dict[type[Exception], int] = {
    BadSignature: 401,
    InvalidWebhook: 400,
    IssueNotFound: 404,
    Conflict: 409,
    InvalidLink: 422,
    TrackerMisconfigured: 424,
    TrackerUnavailable: 503,
}
SIGNATURE_HEADERS = ("Sentry-App-Signature", "Sentry-Hook-Signature")
SECRETS = web.AppKey("client_secrets", tuple[str, ...])
NOTION_SECRETS = web.AppKey("notion_webhook_secrets", tuple[str, ...])
# Notion's format, hex lowercased as its SDK does before comparing (makenotion/notion-sdk-js src/webhooks.ts).
NOTION_SIGNATURE = re.compile(rb"sha256=[0-9a-f]{64}")
UNSIGNED = frozenset({"/healthz", "/readyz", "/metrics"})
MAX_BODY_BYTES = 1024 * 1024  # a 60,000-character stack trace is a tenth of this
SMALL_BODY_BYTES = 64 * 1024  # Sentry's requests are a few KB


# Bodies must be read before their signature can be checked, so anyone who reaches the service can make it
# buffer them: this bounds the bytes held by bodies still being read, and how long one may take to arrive.
class BodyBudget:
    # Bodies being read before their signature is checked share this many bytes. A request that does not fit is
    # refused at once: one that waited would keep buffering what its sender pushes meanwhile.
    def __init__(
        self, *, total_bytes: int = 8 * MAX_BODY_BYTES, max_body: int = MAX_BODY_BYTES, read_timeout_s: float = 10.0
    ) -> None:
        self.total_bytes, self.max_body, self.read_timeout_s = total_bytes, max_body, read_timeout_s
        self.held = self.peak = 0

    @contextlib.contextmanager
    def hold(self, size: int) -> Iterator[None]:
        # Large bodies leave an eighth of the budget to small ones, so big unsigned uploads cannot crowd out Sentry.
        limit = self.total_bytes if size <= SMALL_BODY_BYTES else self.total_bytes - self.total_bytes // 8
        if self.held + size > limit:
            raise Overloaded("Too many request bodies are arriving at once; try again in a moment.")
        self.held += size
        self.peak = max(self.peak, self.held)
        try:
            yield
        finally:
            self.held -= size


BODY_BUDGET = web.AppKey("body_budget", BodyBudget)


def problem(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"message": message}, status=status, headers=headers)


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    structlog.contextvars.clear_contextvars()
    calls: list[str] = []
    structlog.contextvars.bind_contextvars(
        request_id=request.headers.get("Request-ID", ""), method=request.method, notion_calls=calls
    )
    started, status = time.perf_counter(), 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource else "unmatched"  # unknown paths must not grow the label set
        seconds = time.perf_counter() - started
        REQUESTS.labels(route=route, status=str(status)).inc()
        REQUEST_SECONDS.labels(route=route).observe(seconds)
        log.info("request", route=route, status=status, duration_ms=round(seconds * 1000, 1))


@web.middleware
async def errors_to_http(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except pydantic.ValidationError as exc:
        return problem(400, describe(exc))
    except RateLimited as exc:
        return problem(503, exc.message, {"Retry-After": str(max(1, round(exc.retry_after_s)))})
    except Overloaded as exc:
        response = problem(503, str(exc), {"Retry-After": "1"})
        response.force_close()
        return response
    except (DomainError, BadSignature) as exc:
        status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)
        log.warning("request_failed", error=type(exc).__name__, detail=str(exc))
        response = problem(status, str(exc))
        if isinstance(exc, BadSignature):
            response.force_close()  # an unsigned body left unread is not drained for the next request
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # Its headers say what to do instead (a 405's Allow); its plain-text Content-Type gives way to the JSON's.
        return problem(exc.status, exc.reason, {k: v for k, v in exc.headers.items() if k.lower() != "content-type"})
    except Exception:
        log.exception("unhandled_error")
        return problem(500, "The Notion integration failed unexpectedly; the error is in its logs.")


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@web.middleware
async def verify_signature(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in UNSIGNED:
        return await handler(request)
    budget = request.app[BODY_BUDGET]
    declared = request.content_length
    if declared is not None and declared > budget.max_body:
        raise web.HTTPRequestEntityTooLarge(
            budget.max_body, declared, reason=f"The request body is larger than {budget.max_body} bytes."
        )
    if (unrouted := request.match_info.http_exception) is not None:
        raise unrouted  # an unknown path or method is a 404 or 405, not an authentication failure
    if request.path.startswith("/notion/"):
        await _verify_notion(request, budget)
    else:
        await _verify_sentry(request, budget)
    return await handler(request)


async def _verify_sentry(request: web.Request, budget: BodyBudget) -> None:
    given = [
        request.headers[h].strip().lower().encode(errors="replace") for h in SIGNATURE_HEADERS if h in request.headers
    ]
    if not given:  # nothing to check the body against: it is never read
        raise BadSignature("The request is not signed with this integration's client secret.")
    # Sentry signs the exact bytes it sends (the empty string for a GET): never re-serialise.
    body = await _read_unverified(request, budget)
    expected = [signature(s, body).encode() for s in request.app[SECRETS]]
    if not any(hmac.compare_digest(g, e) for g in given for e in expected):
        raise BadSignature("The request is not signed with this integration's client secret.")


async def _verify_notion(request: web.Request, budget: BodyBudget) -> None:
    # Notion signs the exact bytes it sends, keyed by the subscription's token
    # (https://developers.notion.com/reference/webhooks).
    given = request.headers.get("X-Notion-Signature", "").strip().lower().encode(errors="replace")
    body = await _read_unverified(request, budget)
    secrets = request.app[NOTION_SECRETS]
    expected = [b"sha256=" + signature(s, body).encode() for s in secrets]
    if NOTION_SIGNATURE.fullmatch(given) and any(hmac.compare_digest(given, e) for e in expected):
        return
    with contextlib.suppress(InvalidWebhook):
        if notion_events.verification_token(notion_events.decode(body)) is not None:
            # The handshake is taken unsigned: its signature would be keyed by the very token it carries, which
            # proves nothing. It is only ever kept as pending, for an operator to configure.
            return
    if not secrets:
        raise BadSignature(
            "Notion webhooks are refused: NOTION_WEBHOOK_SECRET is not set. Run `sentry-notion notion-webhook token`"
            " for the token of Notion's handshake."
        )
    raise BadSignature("The request is not signed with the Notion webhook token (NOTION_WEBHOOK_SECRET).")


async def _read_unverified(request: web.Request, budget: BodyBudget) -> bytes:
    if not request.body_exists:
        return b""
    # A chunked or compressed body may grow up to the limit whatever it declares.
    declared = request.content_length
    size = budget.max_body if declared is None or "Content-Encoding" in request.headers else declared
    with budget.hold(size):
        try:
            async with asyncio.timeout(budget.read_timeout_s):
                return await request.read()
        except TimeoutError:
            raise web.HTTPRequestTimeout(
                reason=f"The request body did not arrive within {budget.read_timeout_s:g} seconds."
            ) from None
        except web.RequestPayloadError as exc:  # a body that cannot be decoded, e.g. bad gzip
            raise web.HTTPBadRequest(reason="The request body could not be read.") from exc
