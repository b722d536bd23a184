import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import redis
import redis.asyncio as aioredis
from aiohttp import web

from adapters.redis_queue import RedisJobQueue
from adapters.redis_queue_scripts import GROUP, QueueKeys
from benchmarks.harness.processes import Child, Processes, free_port
from benchmarks.harness.sampling import tcp_connections
from tests.support.fake_sentry import FakeSentry

REDIS_URL = "redis://127.0.0.1:6379/14"
SENTRY_SCOPES = ("event:read", "event:write", "event:admin", "member:read")
# When each request reached the fake Sentry (time.perf_counter()), its method and path: what the benchmark times.
Arrivals = list[tuple[float, str, str]]


def base_env() -> dict[str, str]:
    """This environment without the service's own settings, so only what a benchmark sets reaches a child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTION_", "REDIS_", "SENTRY_NOTION_"))}
    return env | {"PYTHONUNBUFFERED": "1"}


def sentry_notion() -> list[str]:
    """The service's command: the installed script, or the same entry point through this interpreter."""
    script = Path(sys.executable).parent / "sentry-notion"
    return [str(script)] if script.exists() else [sys.executable, "-c", "import cli; cli.main()"]


def start_fake_notion(processes: Processes, *, latency_ms: float, entries: int, people: int, linked: bool) -> Child:
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.notion_server", "--port", str(port), "--latency-ms", str(latency_ms)]
    argv += ["--entries", str(entries), "--people", str(people), *(["--linked"] if linked else [])]
    return processes.start("notion", argv, base_env(), port)


def service_env(
    info: dict[str, Any], notion: Child, *, secret: str, prefix: str, rate_limit: int, **config: Any
) -> dict[str, str]:
    """The service's environment against the fake Notion `info` describes; `config` joins NOTION_CONFIG."""
    return base_env() | {
        "NOTION_TOKEN": info["token"],
        "NOTION_CONFIG": json.dumps({"database_id": info["database_id"], **config}),
        "NOTION_API_BASE_URL": notion.url,
        "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET": secret,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": prefix,
        "LOG_LEVEL": "warning",
        "NOTION_RATE_LIMIT": str(rate_limit),
    }


async def serve_sentry(issues: Iterable[int], latency_ms: float) -> tuple[FakeSentry, web.AppRunner, str, Arrivals]:
    """The tests' fake Sentry, served in this process with the given issues unresolved; with the requests' arrivals."""
    sentry = FakeSentry(scopes=SENTRY_SCOPES)
    sentry.latency = latency_ms / 1000
    for issue in issues:
        sentry.add_issue(issue, status="unresolved", substatus="ongoing")
    arrivals: Arrivals = []

    @web.middleware
    async def arrival(request: web.Request, handler: Any) -> web.StreamResponse:
        arrivals.append((time.perf_counter(), request.method, request.path))
        response: web.StreamResponse = await handler(request)
        return response

    app = sentry.app()
    app.middlewares.append(arrival)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return sentry, runner, f"http://127.0.0.1:{port}", arrivals


def two_way_env(sentry: FakeSentry, sentry_url: str, notion_secret: str) -> dict[str, str]:
    """What the service needs to apply Notion's events to Sentry: the webhook secret and Sentry's API."""
    return {
        "NOTION_WEBHOOK_SECRET": notion_secret,
        "SENTRY_API_TOKEN": sentry.token,
        "SENTRY_ORG": sentry.organization,
        "SENTRY_URL": sentry_url,
    }


def start_service(processes: Processes, env: dict[str, str]) -> Child:
    port = free_port()
    argv = [*sentry_notion(), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"]
    return processes.start("service", argv, env, port)


async def notion_stats(session: aiohttp.ClientSession, notion: Child, since: int = 0) -> dict[str, Any]:
    """The fake Notion's count of recorded requests, and those after the `since`-th by endpoint."""
    async with session.get(f"{notion.url}/__stats", params={"since": str(since)}) as resp:
        resp.raise_for_status()
        stats: dict[str, Any] = await resp.json()
        return stats


async def drained(queue: RedisJobQueue, started: float, timeout_s: float) -> float:
    """Seconds from `started` (a perf_counter reading) until the queue has no unfinished job, or the timeout."""
    while True:  # polled, as the queue lives in other processes
        if not (await queue.stats()).depth or time.perf_counter() - started > timeout_s:
            return time.perf_counter() - started
        await asyncio.sleep(0.1)


def forget_keys(prefix: str) -> int:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        return len(keys)
    finally:
        client.close()


async def wait_workers(client: "aioredis.Redis", prefix: str, workers: Sequence[Child], timeout_s: float = 30) -> None:
    """Until the consumer group exists and every worker is connected to Redis (so reading the queue)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for child in workers:
            if exited := child.exited():
                raise exited
        with contextlib.suppress(redis.RedisError):
            groups = await client.xinfo_groups(QueueKeys(prefix).jobs)
            joined = any(g["name"] in (GROUP, GROUP.encode()) for g in groups)
            if joined and all(tcp_connections(w.pid, 6379) for w in workers):
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the workers did not join the queue within {timeout_s:.0f} s:\n{workers[0].log_tail()}")
