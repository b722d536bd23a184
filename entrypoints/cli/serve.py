import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import structlog
from aiohttp import web

from entrypoints.cli.use_cases import CliUseCases
from entrypoints.http.app import UseCases, create_app
from entrypoints.http.sandbox import curl_commands

log = structlog.get_logger(__name__)

# Long enough for a create that Notion is slow to answer; Kubernetes' grace period is set above it.
SHUTDOWN_GRACE_S = 25.0


def serve(
    open_use_cases: Callable[[], AbstractAsyncContextManager[CliUseCases]],
    *,
    host: str,
    port: int,
    worker: bool,
    client_secrets: tuple[str, ...],
    notion_secrets: tuple[str, ...],
    about: dict[str, str],
    sandbox_page_id: str | None = None,
) -> None:
    # `about`: what the start-up line says of this process besides its address (version, Redis, ...).
    if sandbox_page_id is not None:
        base_url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
        print_sandbox(client_secrets[0], notion_secrets[0], sandbox_page_id, base_url)
    app = serve_app(open_use_cases, client_secrets=client_secrets, notion_secrets=notion_secrets, worker=worker)
    described = about | {"address": f"{host}:{port}", "worker": "on" if worker else "off"}

    async def stopped(app: web.Application) -> None:
        log.info("stopped", **described)

    app.on_cleanup.append(stopped)
    # aiohttp prints once every socket listens: a log line then says so, with what an operator needs to know.
    web.run_app(
        app,
        host=host,
        port=port,
        access_log=None,
        print=lambda _: log.info("listening", **described),
        shutdown_timeout=SHUTDOWN_GRACE_S,
    )


def serve_app(
    open_use_cases: Callable[[], AbstractAsyncContextManager[CliUseCases]],
    *,
    client_secrets: tuple[str, ...],
    notion_secrets: tuple[str, ...] = (),
    worker: bool,
) -> web.Application:
    @contextlib.asynccontextmanager
    async def serving() -> AsyncIterator[UseCases]:
        async with open_use_cases() as use_cases:
            if not worker:
                yield use_cases.http
                return
            # Queued webhooks are applied even when nobody thought of starting a worker.
            stop = asyncio.Event()
            task = asyncio.create_task(use_cases.queue.work(use_cases.handle_job, stop=stop))
            try:
                yield use_cases.http
            finally:
                stop.set()  # before the resources the worker uses are shut down
                await task

    return create_app(serving, client_secrets=client_secrets, notion_secrets=notion_secrets)


def print_sandbox(secret: str, notion_secret: str, page_id: str, base_url: str) -> None:
    print("Sandbox: an in-memory Notion workspace; nothing is sent anywhere.")
    print(f"Client secret: {secret}")
    print(f"Notion webhook token: {notion_secret}")
    for title, command in curl_commands(base_url, secret, page_id, notion_secret):
        print(f"\n# {title}\n{command}")
    print(flush=True)
