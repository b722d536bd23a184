import argparse
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from entrypoints.cli.alerts import held_alerts
from entrypoints.cli.notion import notion_token
from entrypoints.cli.queue import dead_letters, replay_lost, worker
from entrypoints.cli.reconcile import reconcile
from entrypoints.cli.use_cases import CliUseCases, StoreTools

DEAD_LETTER_ACTIONS = {
    "list": "show each webhook that failed every attempt, with its id and last error",
    "replay": "queue them again: all of them, or only the ids given",
}


# Every option shows its default; one whose default is better said in words (serve's --host, replay's ids) says so
# in its own help, and a flag's default (off) goes without saying.
class _Help(argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.nargs == 0 or "(default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def parse_args(argv: list[str] | None = None, *, version: str = "") -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="sentry-notion", description="Sentry ⇄ Notion issue links.", formatter_class=_Help
    )
    parser.add_argument("--version", action="version", version=f"sentry-notion {version}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, help: str, description: str, *, action: tuple[str, str] | None = None
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name, help=help, description=description, formatter_class=_Help
        )
        if action is not None:  # a command with one action for now, named so that more can join it
            parser.add_argument("action", choices=[action[0]], help=f"{action[0]}: {action[1]}")
        return parser

    serve = command(
        "serve",
        "run the HTTP service Sentry calls",
        "Run the HTTP service Sentry's integration calls (issue links, options, webhooks), "
        "and apply queued webhooks unless --no-worker. Needs the Notion settings and the client secret.",
    )
    serve.add_argument("--host", help="address to listen on (default: 0.0.0.0, or 127.0.0.1 with --sandbox)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--sandbox",
        action="store_true",
        help="run on an in-memory Notion workspace and print ready-made signed requests; reads no settings",
    )
    serve.add_argument(
        "--secret",
        help="with --sandbox: the client secret to sign with, so printed requests keep working after a restart "
        "(default: a new one each start)",
    )
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="only queue webhooks, for web replicas beside `sentry-notion worker` processes (default: apply them too)",
    )
    command(
        "check",
        "check the configuration, Notion, Sentry and Redis, and say what to fix",
        "Check every setting; the Notion token, database, columns and comment capability; Sentry's URL, token, "
        "organization and scopes when SENTRY_API_TOKEN is set; Redis and the job queue; and say which sync "
        "features are on. Print one line per check and what to fix; write nothing. Exit code 1 if anything is wrong.",
    )
    work = command(
        "worker",
        "apply queued webhooks",
        "Apply the webhooks that serve queued in Redis, one job at a time, until SIGTERM. "
        "Needs Redis and the Notion settings.",
    )
    work.add_argument(
        "--metrics-port", type=int, default=9101, help="serve Prometheus /metrics (and /healthz) here; 0 serves nothing"
    )
    command(
        "reconcile",
        "bring every linked entry to its Sentry issue's current state",
        "Ask Sentry for the state of each linked entry's issue and repair the entries that drifted "
        "(webhooks lost while Redis or the service was down). Needs SENTRY_API_TOKEN and SENTRY_ORG.",
    )
    dead = command(
        "dead-letters",
        "list the webhooks that failed every attempt, or replay them",
        "Work on the dead letters: queued webhooks that failed every attempt. Needs only Redis.",
    )
    actions = dead.add_subparsers(dest="action", metavar="ACTION")
    for name, help in DEAD_LETTER_ACTIONS.items():
        action = actions.add_parser(
            name, help=help, description=help[0].upper() + help[1:] + ".", formatter_class=_Help
        )
        if name == "replay":
            action.add_argument(
                "ids", nargs="*", default=[], help="dead letter ids, as `list` shows them (default: all)"
            )
    lost = command(
        "replay-lost",
        "queue again the webhooks logged as webhook_lost",
        "Queue again the webhooks the service logged as webhook_lost (received while Redis was down), "
        "read from its JSON log. Needs only Redis.",
    )
    lost.add_argument("log", type=argparse.FileType("r"), help="the service's JSON log ('-' for standard input)")
    command(
        "alerts",
        "list the alerts held back by the hourly cap",
        "List the alerts whose entry was not created because their rule had created ALERT_CREATE_LIMIT entries "
        "that hour, over the last 7 days. Needs only Redis.",
        action=("held", "list the held alerts, oldest first"),
    )
    command(
        "notion-webhook",
        "set up Notion's webhook subscription",
        "Print the verification tokens Notion's subscription handshakes delivered, to paste into Notion's Verify "
        "dialog and into NOTION_WEBHOOK_SECRET. Needs only Redis.",
        action=("token", "print the tokens of Notion's handshakes"),
    )
    command(
        "ui-schema",
        "print the Sentry integration's UI schema for NOTION_CONFIG",
        "Print the UI schema (the JSON for the Schema box of the Sentry integration) with the columns NOTION_CONFIG "
        "form_columns offers in the create form and the alert rule's settings. Needs only NOTION_CONFIG.",
    )
    args = parser.parse_args(argv)
    if args.command == "dead-letters" and args.action is None:
        width = max(map(len, DEAD_LETTER_ACTIONS))
        dead.error("name an action:\n" + "\n".join(f"  {n:<{width}}  {h}" for n, h in DEAD_LETTER_ACTIONS.items()))
    if args.command == "serve" and args.secret is not None and not args.sandbox:
        serve.error(
            "--secret is for --sandbox; the service takes its secret from SENTRY_NOTION_INTEGRATION_CLIENT_SECRET"
        )
    return args


async def run(
    args: argparse.Namespace,
    open_use_cases: Callable[[], AbstractAsyncContextManager[CliUseCases]],
    open_store: Callable[[], AbstractAsyncContextManager[StoreTools]],
) -> int:
    # The commands on Redis's records open Redis alone: they run, and help, while Notion is misconfigured or down.
    match args.command:
        case "dead-letters":
            async with open_store() as store:
                return await dead_letters(store.queue, args.action, getattr(args, "ids", []))
        case "replay-lost":
            async with open_store() as store:
                return await replay_lost(store.queue, args.log)
        case "notion-webhook":
            async with open_store() as store:
                return await notion_token(store.verification_tokens)
        case "alerts":
            async with open_store() as store:
                return await held_alerts(store.alerts)
    async with open_use_cases() as use_cases:
        if args.command == "reconcile":
            return await reconcile(use_cases)
        await use_cases.queue.stats()  # a worker that cannot reach Redis says so at once, not every 5 s
        return await worker(use_cases, metrics_port=args.metrics_port)
