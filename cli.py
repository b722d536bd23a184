import argparse
import functools
import os
import sys

from aiohttp import web

from container import Container, open_use_cases
from entrypoints.http.app import create_app
from entrypoints.logging import configure_logging
from settings import ConfigError, Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sentry-notion", description="Sentry ⇄ Notion issue links.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service Sentry calls")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        sys.exit(f"sentry-notion: {exc}")
    configure_logging(settings.log_level)
    container = Container(settings=settings)
    app = create_app(functools.partial(open_use_cases, container), client_secrets=settings.client_secrets)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)
