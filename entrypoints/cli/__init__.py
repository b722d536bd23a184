import argparse
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from entrypoints.cli.queue import dead_letters, replay_lost, worker
from entrypoints.cli.reconcile import reconcile
from entrypoints.cli.use_cases import CliUseCases


def parse_args(argv: list[str] | None = None, *, version: str = "") -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sentry-notion", description="Sentry ⇄ Notion issue links.")
    parser.add_argument("--version", action="version", version=f"sentry-notion {version}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run the HTTP service Sentry calls", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--sandbox", action="store_true", help="run on an in-memory Notion workspace with a generated secret"
    )
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="only queue webhooks, for web replicas beside `sentry-notion worker` processes (default: apply them too)",
    )
    commands.add_parser("check", help="check the configuration, Notion and Redis, and say what to fix")
    work = commands.add_parser("worker", help="apply queued Sentry webhooks to Notion")
    work.add_argument(
        "--metrics-port",
        type=int,
        default=9101,
        help="serve Prometheus /metrics (and /healthz) on this port; 0 serves nothing (default: %(default)s)",
    )
    commands.add_parser("reconcile", help="bring every linked entry to its Sentry issue's current state")
    dead = commands.add_parser("dead-letters", help="list the webhooks that failed every attempt, or replay them")
    dead.add_argument("action", choices=["list", "replay"])
    dead.add_argument("ids", nargs="*", help="with replay: only these (default: all)")
    lost = commands.add_parser("replay-lost", help="queue again the webhooks logged as webhook_lost")
    lost.add_argument("log", type=argparse.FileType("r"), help="the service's JSON log ('-' for standard input)")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, open_use_cases: Callable[[], AbstractAsyncContextManager[CliUseCases]]) -> int:
    async with open_use_cases() as use_cases:
        match args.command:
            case "worker":
                return await worker(use_cases, metrics_port=args.metrics_port)
            case "reconcile":
                return await reconcile(use_cases)
            case "dead-letters":
                return await dead_letters(use_cases, args.action, args.ids)
            case _:
                return await replay_lost(use_cases, args.log)
