import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis

from adapters.redis_queue import RedisJobQueue
from benchmarks.harness.processes import Child, Processes, free_port

REDIS_URL = "redis://127.0.0.1:6379/14"


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
