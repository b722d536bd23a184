import asyncio
import functools
import hashlib
import hmac
import os
import secrets
import sys
from typing import NoReturn

from adapters.notion.client import NOTION_VERSION
from adapters.urls import without_credentials
from container import Container, open_cli_use_cases, open_store, version
from domain.errors import DomainError
from entrypoints.cli import parse_args, run
from entrypoints.cli.check import check as report
from entrypoints.cli.failures import Services, one_line
from entrypoints.cli.serve import CannotListen, listen, serve
from entrypoints.http.sandbox import RESOLVED_ISSUE, Sandbox
from entrypoints.http.ui_schema import ui_schema_text
from entrypoints.logging import configure_logging
from settings import SERVE, ConfigError, Need, Settings

# What each command reads: it asks for nothing it does not use.
NEEDS = {
    "serve": SERVE,
    "check": SERVE,
    "worker": frozenset({Need.NOTION, Need.REDIS}),
    "reconcile": frozenset({Need.NOTION, Need.SENTRY_API}),
    "dead-letters": frozenset({Need.REDIS}),
    "replay-lost": frozenset({Need.REDIS}),
    "notion-webhook": frozenset({Need.REDIS}),
    "alerts": frozenset({Need.REDIS}),
    "ui-schema": frozenset({Need.NOTION_CONFIG}),
}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv, version=version())
    if args.command == "check":
        sys.exit(asyncio.run(check()))
    if args.command == "ui-schema":
        settings = _settings("ui-schema")
        assert settings.notion is not None  # NOTION_CONFIG is required: _settings exits without it
        # Sentry shows one form for every database: it lists each database's columns once.
        columns = {c.name: c for d in reversed(settings.databases) for c in d.form_columns}
        ordered = [columns.pop(c.name) for d in settings.databases for c in d.form_columns if c.name in columns]
        print(ui_schema_text(ordered, settings.notion.column_names.status), end="")
        return
    if args.command == "serve":
        sandbox = args.sandbox
        settings = _sandbox_settings(args.secret or secrets.token_hex(16)) if sandbox else _settings("serve")
        try:
            sock = listen(args.host or ("127.0.0.1" if sandbox else "0.0.0.0"), args.port)
        except CannotListen as exc:
            _fail(str(exc))
        configure_logging(settings.log_level)
        container = Container(settings=settings)
        serve(
            functools.partial(open_cli_use_cases, container),
            sock=sock,
            worker=not args.no_worker,
            client_secrets=settings.client_secrets,
            notion_secrets=settings.notion_webhook_secrets,
            about={
                "version": version(),
                "redis": "Redis" if settings.redis_url else "in-process (no REDIS_URL)",
                "notion_api_version": NOTION_VERSION,
            },
            sandbox=_sandbox(container) if sandbox else None,
        )
        return
    settings = _settings(args.command)
    configure_logging(settings.log_level)
    container = Container(settings=settings)
    try:
        code = asyncio.run(
            run(args, functools.partial(open_cli_use_cases, container), functools.partial(open_store, container))
        )
    except DomainError as exc:
        _fail(one_line(exc, _services(settings)))
    sys.exit(code)


def _settings(command: str) -> Settings:
    try:
        return Settings.from_env(os.environ, NEEDS[command])
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"sentry-notion: {problem}", file=sys.stderr)
        sys.exit(1)


def _sandbox_settings(secret: str) -> Settings:
    # The Notion webhook token is derived from the client secret: with --secret, the printed Notion event keeps
    # working after a restart as the Sentry requests do, and the token says nothing of the secret.
    notion_token = hmac.new(secret.encode(), b"sandbox Notion webhook token", hashlib.sha256).hexdigest()[:40]
    return Settings.for_sandbox(secret, f"secret_{notion_token}")


def _sandbox(container: Container) -> Sandbox:
    workspace = container.sandbox()
    first = workspace.first_entry()
    return Sandbox(workspace, first.page_id, (workspace.linked_to(RESOLVED_ISSUE) or first).page_id)


def _services(settings: Settings) -> Services:
    return Services(
        redis=without_credentials(settings.redis_url or ""),
        redis_variables=settings.redis_variables,
        notion=settings.notion_api_base_url,
        sentry=settings.sentry_url,
    )


def _fail(line: str) -> NoReturn:
    print(f"sentry-notion: {line}", file=sys.stderr)
    sys.exit(1)


async def check() -> int:
    try:
        settings = Settings.from_env(os.environ, NEEDS["check"])
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"✗ Configuration: {problem}")
        return 1
    configure_logging("error", sys.stderr, cache=False)  # the report is the output; only real errors go to the log
    async with open_cli_use_cases(Container(settings=settings)) as use_cases:
        return await report(use_cases, client_secrets=len(settings.client_secrets))
