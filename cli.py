import asyncio
import functools
import os
import secrets
import sys

from adapters.notion.client import NOTION_VERSION
from container import Container, open_cli_use_cases, version
from entrypoints.cli import parse_args, run
from entrypoints.cli.check import check as report
from entrypoints.cli.serve import serve
from entrypoints.logging import configure_logging
from settings import ConfigError, Settings


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv, version=version())
    if args.command == "check":
        sys.exit(asyncio.run(check()))
    sandbox = args.command == "serve" and args.sandbox
    settings = (
        Settings.for_sandbox(secrets.token_hex(16), f"secret_{secrets.token_hex(20)}") if sandbox else _settings()
    )
    configure_logging(settings.log_level)
    container = Container(settings=settings)
    use_cases = functools.partial(open_cli_use_cases, container)
    if args.command == "serve":
        serve(
            use_cases,
            host=args.host,
            port=args.port,
            worker=not args.no_worker,
            client_secrets=settings.client_secrets,
            notion_secrets=settings.notion_webhook_secrets,
            about={
                "version": version(),
                "redis": "Redis" if settings.redis_url else "in-process (no REDIS_URL)",
                "notion_api_version": NOTION_VERSION,
            },
            sandbox_page_id=container.sandbox_entry().page_id if sandbox else None,
        )
        return
    if args.command == "reconcile" and not settings.sentry_api_token:
        sys.exit("sentry-notion: reconcile asks Sentry for each issue: set SENTRY_API_TOKEN and SENTRY_ORG.")
    if args.command == "notion-webhook" and not settings.redis_url:
        sys.exit(
            "sentry-notion: Notion's handshake tokens are kept in Redis, and without it only in the serving process:"
            " set REDIS_URL (or REDIS_HOST), restart the service and click Resend token in Notion's Verify dialog."
        )
    if args.command != "reconcile" and not settings.redis_url:
        sys.exit("sentry-notion: the job queue lives in Redis: set REDIS_URL (or REDIS_HOST).")
    sys.exit(asyncio.run(run(args, use_cases)))


def _settings() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except ConfigError as exc:
        sys.exit(f"sentry-notion: {exc}")


async def check() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"✗ Configuration: {exc}")
        return 1
    configure_logging("error", sys.stderr, cache=False)  # the report is the output; only real errors go to the log
    async with open_cli_use_cases(Container(settings=settings)) as use_cases:
        return await report(use_cases, client_secrets=len(settings.client_secrets))
