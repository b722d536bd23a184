import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable

import pydantic
import structlog
from aiohttp import web

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
UNSIGNED = frozenset({"/healthz", "/readyz", "/metrics"})


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
    except (DomainError, BadSignature) as exc:
        status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)
        log.warning("request_failed", error=type(exc).__name__, detail=str(exc))
        return problem(status, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(exc.status, exc.reason)
    except Exception:
        log.exception("unhandled_error")
        return problem(500, "The Notion integration failed unexpectedly; the error is in its logs.")


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@web.middleware
async def verify_signature(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in UNSIGNED:
        return await handler(request)
    # Sentry signs the exact bytes it sends (the empty string for a GET): never re-serialise.
    try:
        body = await request.read()
    except web.RequestPayloadError as exc:  # a body that cannot be decoded, e.g. bad gzip
        raise web.HTTPBadRequest(reason="The request body could not be read.") from exc
    given = [
        request.headers[h].strip().lower().encode(errors="replace") for h in SIGNATURE_HEADERS if h in request.headers
    ]
    expected = [signature(s, body).encode() for s in request.app[SECRETS]]
    if not any(hmac.compare_digest(g, e) for g in given for e in expected):
        raise BadSignature("The request is not signed with this integration's client secret.")
    return await handler(request)
