from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from aiohttp import web

from entrypoints.http.middlewares import SECRETS, errors_to_http, request_context, verify_signature
from entrypoints.http.routes import USE_CASES, UseCases, routes

MAX_BODY_BYTES = 1024 * 1024  # a 60,000-character stack trace is a tenth of this

__all__ = ["UseCases", "create_app"]


def create_app(
    open_use_cases: Callable[[], AbstractAsyncContextManager[UseCases]], *, client_secrets: tuple[str, ...]
) -> web.Application:
    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with open_use_cases() as use_cases:
            app[USE_CASES] = use_cases
            yield

    app = web.Application(
        middlewares=[request_context, errors_to_http, verify_signature], client_max_size=MAX_BODY_BYTES
    )
    app[SECRETS] = client_secrets
    app.cleanup_ctx.append(lifespan)
    app.add_routes(routes)
    return app
