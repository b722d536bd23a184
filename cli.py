import argparse
import asyncio
import contextlib
import functools
import json
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from typing import TextIO

import structlog
from aiohttp import web

from container import Container, open_use_cases, resolve
from domain.models import EntryUpdate, Job
from entrypoints.http.app import create_app
from entrypoints.http.sandbox import curl_commands
from entrypoints.logging import configure_logging
from settings import ConfigError, Settings

log = structlog.get_logger(__name__)

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
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="only queue webhooks, for web replicas beside `sentry-notion worker` processes (default: apply them too)",
    )
    commands.add_parser("check", help="check the configuration, Notion and Redis, and say what to fix")
    commands.add_parser("worker", help="apply queued Sentry webhooks to Notion")
    commands.add_parser("reconcile", help="bring every linked entry to its Sentry issue's current state")
    dead = commands.add_parser("dead-letters", help="list the webhooks that failed every attempt, or replay them")
    dead.add_argument("action", choices=["list", "replay"])
    dead.add_argument("ids", nargs="*", help="with replay: only these (default: all)")
    lost = commands.add_parser("replay-lost", help="queue again the webhooks logged as webhook_lost")
    lost.add_argument("log", type=argparse.FileType("r"), help="the service's JSON log ('-' for standard input)")
    args = parser.parse_args(argv)

    if args.command == "check":
        sys.exit(asyncio.run(check()))
    if args.command in ("worker", "dead-letters", "reconcile", "replay-lost"):
        settings = _settings()
        configure_logging(settings.log_level)
        container = Container(settings=settings)
        if args.command == "reconcile" and not settings.sentry_api_token:
            sys.exit("sentry-notion: reconcile asks Sentry for each issue: set SENTRY_API_TOKEN and SENTRY_ORG.")
        if args.command != "reconcile" and not settings.redis_url:
            sys.exit("sentry-notion: the job queue lives in Redis: set REDIS_URL (or REDIS_HOST).")
        jobs = {
            "worker": lambda: worker(container),
            "reconcile": lambda: reconcile(container),
            "dead-letters": lambda: dead_letters(container, args.action, args.ids),
            "replay-lost": lambda: replay_lost(container, args.log),
        }
        sys.exit(asyncio.run(jobs[args.command]()))
    settings = Settings.for_sandbox(secrets.token_hex(16)) if args.sandbox else _settings()
    configure_logging(settings.log_level)
    container = Container(settings=settings)
    if args.sandbox:
        print_sandbox(container, settings, f"http://{'127.0.0.1' if args.host == '0.0.0.0' else args.host}:{args.port}")
    app = serve_app(container, worker=not args.no_worker)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None, shutdown_timeout=SHUTDOWN_GRACE_S)


def _settings() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except ConfigError as exc:
        sys.exit(f"sentry-notion: {exc}")


async def worker(container: Container) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)  # finish the job in hand, then stop
    try:
        queue, apply = await resolve(container.queue()), await resolve(container.run_job())
        log.info("worker_started")
        await queue.work(apply, stop=stop)
    finally:
        await resolve(container.shutdown_resources())
    return 0


def serve_app(container: Container, *, worker: bool) -> web.Application:
    app = create_app(functools.partial(open_use_cases, container), client_secrets=container.settings().client_secrets)
    if worker:
        # Queued webhooks are applied even when nobody thought of starting a worker.
        app.cleanup_ctx.append(functools.partial(_worker_beside, container))
    return app


async def _worker_beside(container: Container, app: web.Application) -> AsyncIterator[None]:
    # Appended after the app's own context, so the app's shutdown stops the worker first.
    stop = asyncio.Event()
    queue, apply = await resolve(container.queue()), await resolve(container.run_job())
    task = asyncio.create_task(queue.work(apply, stop=stop))
    yield
    stop.set()
    await task


async def reconcile(container: Container) -> int:
    try:
        report = await (await resolve(container.reconcile()))()
    finally:
        await resolve(container.shutdown_resources())
    changed = failed = 0
    for entry, outcome in report:
        if isinstance(outcome, str):
            failed += 1
            print(f"✗ {entry.identifier} · {entry.title}: {outcome}")
        elif outcome:
            changed += 1
            print(f"✓ {entry.identifier} · {entry.title}: {describe(outcome)}")
    print(f"{len(report)} linked entries, {changed} repaired, {failed} not checked.")
    return 1 if failed else 0


def describe(update: EntryUpdate) -> str:
    changes = [f"status → {update.status}"] if update.status is not None else []
    if update.assignee_ids is not None:
        changes.append(f"assignee → {', '.join(update.assignee_ids) or 'nobody'}")
    changes += [f"{key} → {value}" for key, value in update.details.items()]
    return ", ".join(changes)


async def replay_lost(container: Container, log_lines: TextIO) -> int:
    jobs = []
    for line in log_lines:
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("event") == "webhook_lost":
                jobs.append(Job.model_validate(entry["job"]))
    try:
        queue = await resolve(container.queue())
        queued = [await queue.enqueue(job) for job in jobs]
    finally:
        await resolve(container.shutdown_resources())
    print(f"{sum(queued)} lost webhook(s) queued again, {len(jobs) - sum(queued)} already queued.")
    return 0


async def dead_letters(container: Container, action: str, ids: list[str]) -> int:
    try:
        queue = await resolve(container.queue())
        if action == "replay":
            print(f"Replayed {await queue.replay(ids)} job(s).")
            return 0
        letters = await queue.dead_letters()
        for letter in letters:
            job = letter.job
            print(f"{letter.id}  {job.kind} {job.action}  attempts={letter.attempts}  {letter.error}")
        print(f"{len(letters)} dead letter(s).")
        return 0
    finally:
        await resolve(container.shutdown_resources())


def print_sandbox(container: Container, settings: Settings, base_url: str) -> None:
    demo = container.workspace()
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
