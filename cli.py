import argparse
import asyncio
import functools
import os
import secrets
import sys

from aiohttp import web

from container import Container, open_use_cases, resolve
from entrypoints.http.app import create_app
from entrypoints.http.sandbox import curl_commands
from entrypoints.logging import configure_logging
from settings import ConfigError, Settings

# Long enough for a create that Notion is slow to answer; Kubernetes' grace period is set above it.
SHUTDOWN_GRACE_S = 25.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sentry-notion", description="Sentry ⇄ Notion issue links.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service Sentry calls")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--sandbox", action="store_true", help="run on an in-memory Notion workspace with a generated secret"
    )
    commands.add_parser("check", help="check the configuration, Notion and Redis, and say what to fix")
    args = parser.parse_args(argv)

    if args.command == "check":
        sys.exit(asyncio.run(check()))
    if args.sandbox:
        settings = Settings.for_sandbox(secrets.token_hex(16))
    else:
        try:
            settings = Settings.from_env(os.environ)
        except ConfigError as exc:
            sys.exit(f"sentry-notion: {exc}")
    configure_logging(settings.log_level)
    container = Container(settings=settings)
    if args.sandbox:
        print_sandbox(container, settings, f"http://{'127.0.0.1' if args.host == '0.0.0.0' else args.host}:{args.port}")
    app = create_app(functools.partial(open_use_cases, container), client_secrets=settings.client_secrets)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None, shutdown_timeout=SHUTDOWN_GRACE_S)


def print_sandbox(container: Container, settings: Settings, base_url: str) -> None:
    demo = container.tracker()
    page_id = next(iter(demo.pages))
    print("Sandbox: an in-memory Notion workspace; nothing is sent anywhere.")
    print(f"Client secret: {settings.client_secrets[0]}")
    for title, command in curl_commands(base_url, settings.client_secrets[0], page_id):
        print(f"\n# {title}\n{command}")
    print(flush=True)


async def check() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"✗ Configuration: {exc}")
        return 1
    configure_logging("error", sys.stderr, cache=False)  # the report is the output; only real errors go to the log
    secrets = len(settings.client_secrets)
    rotation = " (during rotation: any of them is accepted)" if secrets > 1 else ""
    print(f"✓ Client secret: {secrets} set in SENTRY_NOTION_INTEGRATION_CLIENT_SECRET{rotation}")
    container = Container(settings=settings)
    try:
        findings = await (await resolve(container.diagnose_setup()))()
    finally:
        await resolve(container.shutdown_resources())
    for finding in findings:
        print(f"{'✓' if finding.ok else '✗'} {finding.check}: {finding.detail}")
        if finding.fix:
            print(f"    → {finding.fix}")
    return 0 if all(f.ok for f in findings) else 1
