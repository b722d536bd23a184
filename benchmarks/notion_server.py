"""The in-repo fake Notion, seeded and served in a process of its own for the load benchmark.

Run as `python -m benchmarks.notion_server --port N --latency-ms 100`. Besides the Notion API it answers:

- `GET /__info`: the seeded database, data source, entries and people (the benchmark polls it until ready);
- `GET /__stats?since=N`: how many requests the fake has recorded, and those after the N-th by endpoint.

Neither is recorded as a Notion call.
"""

import argparse
import re
from collections import Counter
from typing import Any

from aiohttp import web

from tests.support.fake_notion import FakeNotion

TOKEN = "secret_benchmark"
_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)
_TOPICS = ("checkout", "login", "search", "billing", "upload", "export", "profile", "cart", "payment", "report")
_ERRORS = ("TypeError", "KeyError", "TimeoutError", "ValueError", "IndexError", "ConnectionError", "AssertionError")
_FIRST = ("Ada", "Alan", "Grace", "Barbara", "Edsger", "Margaret", "Dennis", "Frances", "Ken", "Radia")
_LAST = ("Lovelace", "Turing", "Hopper", "Liskov", "Dijkstra", "Hamilton", "Ritchie", "Allen", "Thompson", "Perlman")


def endpoint(method: str, path: str) -> str:
    """`PATCH /v1/pages/{id}`: a recorded request without its IDs, to count calls by kind."""
    return f"{method} {_ID.sub('{id}', path)}"


def seeded(*, entries: int, people: int, latency_s: float) -> tuple[FakeNotion, dict[str, Any]]:
    fake = FakeNotion(token=TOKEN, seed=3)
    database_id, data_source_id = fake.add_database("Bugs")
    person_ids = [
        fake.add_user(
            f"{_FIRST[n % len(_FIRST)]} {_LAST[n // len(_FIRST) % len(_LAST)]}",
            f"user{n}@example.org",
        )
        for n in range(people)
    ]
    page_ids = [
        fake.add_page(
            data_source_id,
            f"{_ERRORS[n % len(_ERRORS)]} in the {_TOPICS[n % len(_TOPICS)]} page (bug {n + 1})",
        )["id"]
        for n in range(entries)
    ]
    fake.latency = latency_s
    fake.requests.clear()  # seeding records nothing, but start from zero whatever the fake does
    info = {
        "token": TOKEN,
        "database_id": database_id,
        "data_source_id": data_source_id,
        "page_ids": page_ids,
        "person_ids": person_ids,
        "latency_s": latency_s,
    }
    return fake, info


def build_app(fake: FakeNotion, info: dict[str, Any]) -> web.Application:
    @web.middleware
    async def introspection(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/__info":
            return web.json_response(info)
        if request.path == "/__stats":
            since = int(request.query.get("since", "0"))
            recorded = fake.requests[since:]
            by_endpoint = Counter(endpoint(r.method, r.path) for r in recorded)
            return web.json_response({"requests": len(fake.requests), "by_endpoint": dict(by_endpoint)})
        response: web.StreamResponse = await handler(request)
        return response

    app = fake.app()
    app.middlewares.append(introspection)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The fake Notion, seeded, for the load benchmark.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--people", type=int, default=50)
    args = parser.parse_args(argv)
    fake, info = seeded(entries=args.entries, people=args.people, latency_s=args.latency_ms / 1000)
    web.run_app(build_app(fake, info), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
