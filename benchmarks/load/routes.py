from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from tests.support.sentry import description, issue_link_body, select_url

STACK = "TypeError: x is undefined\n  at render (src/checkout.js:12:5)\n  at commit (react-dom.js:901:3)"

Request = tuple[str, str, bytes]  # method, path and query, body


@dataclass(frozen=True)
class Route:
    name: str
    target: str  # "service" or "reference"
    build: Callable[[int], Request]  # a fresh request, given a number unique within the run
    notion: bool = True  # whether its Notion calls are counted


def routes(page_ids: Sequence[str], *, issue_ids: Iterator[int]) -> list[Route]:
    """The routes as Sentry calls them."""

    def get(uri: str, query: str) -> Callable[[int], Request]:
        url = select_url(uri, query)
        return lambda _: ("GET", url, b"")

    def create(_: int) -> Request:
        issue_id = next(issue_ids)
        fields = {
            "title": f"TypeError: x is undefined ({issue_id})",
            "description": description("BACKEND-1A", issue_id, STACK),
        }
        return "POST", "/sentry/issue-link/create", issue_link_body(fields, issue_id=issue_id)

    def link(n: int) -> Request:
        # Consecutive requests take different entries, so concurrent links never wait on one page's lock.
        # The first link of an entry fills its Sentry Link column (GET page, PATCH page); later ones, to
        # another Sentry issue, add a line to the page body (GET page, PATCH children).
        fields = {"issue": page_ids[n % len(page_ids)]}
        return "POST", "/sentry/issue-link/link", issue_link_body(fields, issue_id=next(issue_ids))

    return [
        Route("reference", "reference", lambda _: ("GET", "/reference", b""), notion=False),
        Route("assignees", "service", get("/sentry/options/assignees", "a")),
        Route("issues (recent)", "service", get("/sentry/options/issues", "")),
        Route("issues bug-3", "service", get("/sentry/options/issues", "bug-3")),
        Route("link", "service", link),
        Route("create", "service", create),
    ]
