"""The least a signed Sentry request can cost: check the HMAC, one Redis GET, answer JSON.

The load benchmark measures every route against this app, run the same way as the service (one
process, aiohttp's default event loop, no access log). Run as
`python -m benchmarks.reference --port N` with REFERENCE_SECRET, REDIS_URL and REDIS_PREFIX set.
"""

import argparse
import contextlib
import hashlib
import hmac
import os
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

REDIS = web.AppKey("redis", Redis)


def key(prefix: str) -> str:
    return f"{prefix}:reference"


def build_app(*, secret: str, redis_url: str, prefix: str) -> web.Application:
    secret_bytes = secret.encode()

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        # The service's Redis options, so both pay the same for a GET.
        client: Redis = Redis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
        app[REDIS] = client
        try:
            yield
        finally:
            await client.aclose()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        given = request.headers.get("Sentry-App-Signature", "").strip().lower()
        expected = hmac.new(secret_bytes, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given, expected):
            return web.json_response({"message": "bad signature"}, status=401)
        cached = await request.app[REDIS].get(key(prefix))
        return web.json_response({"cached": cached.decode() if isinstance(cached, bytes) else None})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.cleanup_ctx.append(lifespan)
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", "/reference", handle)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Reference handler for the load benchmark.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = build_app(
        secret=os.environ["REFERENCE_SECRET"],
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        prefix=os.environ.get("REDIS_PREFIX", "bench-reference"),
    )
    with contextlib.suppress(KeyboardInterrupt):
        web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
