from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from aiohttp import web

from domain.use_cases.observe_queue import ObserveQueue
from entrypoints.http.metrics import count_from_zero, exposition, observe
from entrypoints.http.middlewares import (
    BODY_BUDGET,
    MAX_BODY_BYTES,
    NOTION_SECRETS,
    SECRETS,
    BodyBudget,
    errors_to_http,
    request_context,
    verify_signature,
)
from entrypoints.http.routes import USE_CASES, UseCases, healthz, routes

__all__ = ["MAX_BODY_BYTES", "BodyBudget", "UseCases", "create_app", "create_metrics_app"]


def create_app(
    open_use_cases: Callable[[], AbstractAsyncContextManager[UseCases]],
    *,
    client_secrets: tuple[str, ...],
    notion_secrets: tuple[str, ...] = (),
    body_budget: BodyBudget | None = None,
) -> web.Application:
    budget = body_budget or BodyBudget()
    count_from_zero()

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with open_use_cases() as use_cases:
            app[USE_CASES] = use_cases
            # The first probe starts with the app, not with the first /readyz, which then already has answers;
            # the commands, which open the same use cases, probe nothing they do not use.
            await use_cases.check_readiness()
            yield

    app = web.Application(
        middlewares=[request_context, errors_to_http, verify_signature], client_max_size=budget.max_body
    )
    app[SECRETS] = client_secrets
    app[NOTION_SECRETS] = notion_secrets
    app[BODY_BUDGET] = budget
    app.cleanup_ctx.append(lifespan)
    app.add_routes(routes)
    return app


def create_metrics_app(observe_queue: ObserveQueue) -> web.Application:
    """What a worker serves: the job and queue metrics (its dependencies are probed by the app), and liveness."""

    async def metrics(request: web.Request) -> web.Response:
        observe([], await observe_queue())
        return exposition()

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app
