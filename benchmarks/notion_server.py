"""The in-repo fake Notion, seeded and served in a process of its own for the benchmarks.

Run as `python -m benchmarks.notion_server --port N --latency-ms 100`; with `--linked`, entry n links Sentry issue
n (Sentry Link = https://acme.sentry.io/issues/<n>/) and starts "Not started". Besides the Notion API it answers:

- `GET /__info`: the seeded database, data source, entries and people (the benchmark polls it until ready);
- `GET /__stats?since=N`: how many requests the fake has recorded, and those after the N-th by endpoint;
- `GET /__statuses`: each entry's Status by the Sentry issue id it links;
- `POST /__person`: changes made in Notion's UI by the first seeded person, `{"properties": {page id: properties},
  "comments": {page id: text}}`; answers the comments' ids;
- `GET /__events`: the webhook events Notion would send for those changes (tests/support/fake_notion/webhooks.py:
  aggregated per entity as Notion does), unsigned; the caller signs and sends them.

None is recorded as a Notion call.
"""

import argparse
import re
from collections import Counter
from typing import Any

from aiohttp import web

from tests.support.fake_notion import FakeNotion, NotionWebhooks

TOKEN = "secret_benchmark"
_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)
_TOPICS = ("checkout", "login", "search", "billing", "upload", "export", "profile", "cart", "payment", "report")
_ERRORS = ("TypeError", "KeyError", "TimeoutError", "ValueError", "IndexError", "ConnectionError", "AssertionError")
_FIRST = ("Ada", "Alan", "Grace", "Barbara", "Edsger", "Margaret", "Dennis", "Frances", "Ken", "Radia")
# The fake Notion's default columns include a Status; the first option of its To-do group, of its Complete group.
TODO, DONE = "Not started", "Done"
SENTRY_LINK = "https://acme.sentry.io/issues/{}/"
_LAST = ("Lovelace", "Turing", "Hopper", "Liskov", "Dijkstra", "Hamilton", "Ritchie", "Allen", "Thompson", "Perlman")


def endpoint(method: str, path: str) -> str:
    """`PATCH /v1/pages/{id}`: a recorded request without its IDs, to count calls by kind."""
    return f"{method} {_ID.sub('{id}', path)}"


def seeded(*, entries: int, people: int, latency_s: float, linked: bool) -> tuple[FakeNotion, dict[str, Any]]:
    fake = FakeNotion(token=TOKEN, seed=3)
    database_id, data_source_id = fake.add_database("Bugs")
    person_names = [f"{_FIRST[n % len(_FIRST)]} {_LAST[n // len(_FIRST) % len(_LAST)]}" for n in range(people)]
    person_ids = [fake.add_user(name, f"user{n}@example.org") for n, name in enumerate(person_names)]
    page_ids = [
        fake.add_page(
            data_source_id,
            f"{_ERRORS[n % len(_ERRORS)]} in the {_TOPICS[n % len(_TOPICS)]} page (bug {n + 1})",
            properties=_linked(n + 1) if linked else None,
        )["id"]
        for n in range(entries)
    ]
    fake.latency = latency_s
    fake.requests.clear()  # seeding records nothing, but start from zero whatever the fake does
    info = {
        "token": TOKEN,
        "database_id": database_id,
        "data_source_id": data_source_id,
        "page_ids": page_ids,  # with --linked, page_ids[n - 1] links Sentry issue n
        "person_ids": person_ids,
        "person_names": person_names,
        "latency_s": latency_s,
    }
    return fake, info


def _linked(issue_id: int) -> dict[str, Any]:
    return {"Sentry Link": {"url": SENTRY_LINK.format(issue_id)}, "Status": {"status": {"name": TODO}}}


def statuses(fake: FakeNotion, data_source_id: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for page in fake.pages(data_source_id):
        link = (page["properties"].get("Sentry Link") or {}).get("url") or ""
        status = (page["properties"].get("Status") or {}).get("status") or {}
        found[link.rstrip("/").rsplit("/", 1)[-1]] = status.get("name")
    return found


def build_app(fake: FakeNotion, info: dict[str, Any]) -> web.Application:
    # Subscribed at the first /__person, so other benchmarks' writes pile up no events. It only collects them:
    # the benchmark posts them itself, so that it times each acknowledgement.
    subscriptions: list[NotionWebhooks] = []

    async def person(request: web.Request) -> web.Response:
        changes, by = await request.json(), info["person_ids"][0]
        if not subscriptions:
            subscriptions.append(NotionWebhooks(fake, "", verification_token="", seed=3))
        for page_id, properties in changes.get("properties", {}).items():
            fake.person_updates_properties(page_id, properties, by=by)
        made = [fake.person_comments(page_id, text, by=by) for page_id, text in changes.get("comments", {}).items()]
        return web.json_response({"comment_ids": [c["id"] for c in made]})

    @web.middleware
    async def introspection(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/__info":
            return web.json_response(info)
        if request.path == "/__stats":
            since = int(request.query.get("since", "0"))
            recorded = fake.requests[since:]
            by_endpoint = Counter(endpoint(r.method, r.path) for r in recorded)
            return web.json_response({"requests": len(fake.requests), "by_endpoint": dict(by_endpoint)})
        if request.path == "/__statuses":  # read in process: not a Notion call, not recorded
            return web.json_response(statuses(fake, info["data_source_id"]))
        if request.path == "/__person":
            return await person(request)
        if request.path == "/__events":
            return web.json_response([event for s in subscriptions for event in s.pending()])
        response: web.StreamResponse = await handler(request)
        return response

    app = fake.app()
    app.middlewares.append(introspection)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The fake Notion, seeded, for the benchmarks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--linked", action="store_true", help="entries link Sentry issues 1..N, with a Status")
    args = parser.parse_args(argv)
    fake, info = seeded(entries=args.entries, people=args.people, latency_s=args.latency_ms / 1000, linked=args.linked)
    web.run_app(build_app(fake, info), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
