import asyncio
import contextlib
import errno
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import structlog
from aiohttp import web

from entrypoints.cli.use_cases import CliUseCases
from entrypoints.http.app import UseCases, create_app
from entrypoints.http.sandbox import Sandbox, add_sandbox_routes, curl_commands

log = structlog.get_logger(__name__)

# Long enough for a create that Notion is slow to answer; Kubernetes' grace period is set above it.
SHUTDOWN_GRACE_S = 25.0


# The port is taken, or the address is not this host's: said in one line, before anything else is printed.
class CannotListen(Exception):
    pass


def listen(host: str, port: int) -> socket.socket:
    # Bound before anything is printed, so a taken port is reported instead of a sandbox banner whose
    # requests would reach the process that holds it.
    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CannotListen(
                f"port {port} on {host} is already in use (is another sentry-notion running?): stop it or choose --port"
            ) from None
        raise CannotListen(
            f"cannot listen on {host} port {port} ({exc.strerror or exc}): choose --host or --port"
        ) from None


def serve(
    open_use_cases: Callable[[], AbstractAsyncContextManager[CliUseCases]],
    *,
    sock: socket.socket,
    worker: bool,
    client_secrets: tuple[str, ...],
    notion_secrets: tuple[str, ...],
    about: dict[str, str],
    sandbox: Sandbox | None = None,
) -> None:
    # `about`: what the start-up line says of this process besides its address (version, Redis, ...).
    host, port = sock.getsockname()[:2]
    if sandbox is not None:
        shown = "127.0.0.1" if host == "0.0.0.0" else f"[{host}]" if ":" in host else host
        print_sandbox(client_secrets[0], notion_secrets[0], sandbox, f"http://{shown}:{port}")
    app = serve_app(
        open_use_cases, client_secrets=client_secrets, notion_secrets=notion_secrets, worker=worker, sandbox=sandbox
    )
    described = about | {"address": f"{host}:{port}", "worker": "on" if worker else "off"}

    async def stopped(app: web.Application) -> None:
        log.info("stopped", **described)

    app.on_cleanup.append(stopped)
    # aiohttp prints once every socket listens: a log line then says so, with what an operator needs to know.
    web.run_app(
        app,
        sock=sock,
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
    sandbox: Sandbox | None = None,
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

    app = create_app(serving, client_secrets=client_secrets, notion_secrets=notion_secrets)
    if sandbox is not None:
        add_sandbox_routes(app, sandbox)
    return app


def print_sandbox(secret: str, notion_secret: str, sandbox: Sandbox, base_url: str) -> None:
    print("Sandbox: an in-memory Notion workspace; nothing is sent anywhere.")
    print(f"Client secret: {secret}")
    print(f"Notion webhook token: {notion_secret}")
    for title, command in curl_commands(base_url, secret, sandbox, notion_secret):
        print(f"\n# {title}\n{command}")
    print(flush=True)
