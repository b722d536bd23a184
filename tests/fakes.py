import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from adapters.memory import MemoryCache, MemoryLocks
from adapters.notion.tracker import NotionSchema
from domain.errors import DomainError, IssueNotFound, TrackerUnavailable
from domain.models import (
    Actor,
    Assignee,
    Block,
    CreateRequest,
    Database,
    Issue,
    IssueDraft,
    IssueQuery,
    LinkRequest,
    SentryIssue,
)
from domain.ports import IssueTracker
from domain.refresh import Refresher
from tests.sentry import INSTALLATION

JANE = Actor(name="Jane Doe")


def sentry_issue(issue_id: int = 4242) -> SentryIssue:
    return SentryIssue(
        issue_id=issue_id,
        web_url=f"https://acme.sentry.io/issues/{issue_id}/",
        installation_id=INSTALLATION,
    )


def create_request(issue_id: int = 4242, **overrides: object) -> CreateRequest:
    values: dict[str, object] = {"sentry": sentry_issue(issue_id), "actor": JANE, "title": "TypeError: x is undefined"}
    return CreateRequest.model_validate(values | overrides)


def fresh_schemas() -> Refresher[NotionSchema]:
    return Refresher(cache=MemoryCache(), locks=MemoryLocks(), fresh_s=60)


def link_request(page_id: str, issue_id: int = 4242) -> LinkRequest:
    return LinkRequest(sentry=sentry_issue(issue_id), actor=JANE, page_id=page_id)


@dataclass
class FakePage:
    issue: Issue
    body: list[Block] = field(default_factory=list)
    assignee_id: str | None = None
    edited: int = 0


class FakeIssueTracker(IssueTracker):
    """The IssueTracker contract in memory, with the prefix BUG and a call log."""

    def __init__(self, *, assignees: Sequence[Assignee] = (), title: str = "Bugs", fail: DomainError | None = None):
        self.db = Database(title=title, scope="ws:db")
        self.pages: dict[str, FakePage] = {}
        self.assignees = list(assignees)
        self.fail = fail
        self.fail_on: set[str] = set()
        self.calls: list[str] = []
        self._ids = itertools.count(1)
        self._clock = itertools.count(1)

    def add(self, title: str, *, sentry_url: str | None = None, in_database: bool = True) -> Issue:
        number = next(self._ids)
        page_id = f"00000000-0000-0000-0000-{number:012d}"
        issue = Issue(
            page_id=page_id,
            url=f"https://app.notion.com/p/{page_id.replace('-', '')}",
            title=title,
            identifier=f"BUG-{number}",
            sentry_url=sentry_url,
            in_database=in_database,
        )
        self.pages[page_id] = FakePage(issue=issue, edited=next(self._clock))
        return issue

    async def _call(self, name: str) -> None:
        self.calls.append(name)
        await asyncio.sleep(0)  # a real tracker waits on the network: let concurrent callers interleave
        if self.fail:
            raise self.fail
        if name in self.fail_on:
            raise TrackerUnavailable("Notion is unavailable (HTTP 503); try again shortly.")

    async def database(self) -> Database:
        return self.db

    async def create_issue(self, draft: IssueDraft) -> Issue:
        await self._call("create_issue")
        issue = self.add(draft.title, sentry_url=draft.sentry_url)
        self.pages[issue.page_id].body = list(draft.body)
        self.pages[issue.page_id].assignee_id = draft.assignee_id
        return issue

    async def find_by_sentry_url(self, sentry_url: str) -> Issue | None:
        await self._call("find_by_sentry_url")
        return next((p.issue for p in self.pages.values() if p.issue.sentry_url == sentry_url), None)

    async def get_issue(self, page_id: str) -> Issue:
        await self._call("get_issue")
        if page_id not in self.pages:
            raise IssueNotFound("No entry with that ID is shared with the Notion integration.")
        return self.pages[page_id].issue

    async def set_sentry_link(self, page_id: str, sentry_url: str) -> Issue:
        await self._call("set_sentry_link")
        page = self.pages[page_id]
        page.issue = page.issue.model_copy(update={"sentry_url": sentry_url})
        page.edited = next(self._clock)
        return page.issue

    async def append(self, page_id: str, blocks: Sequence[Block]) -> None:
        await self._call("append")
        self.pages[page_id].body.extend(blocks)
        self.pages[page_id].edited = next(self._clock)

    async def search_issues(self, query: IssueQuery) -> list[Issue]:
        await self._call("search_issues")
        found = [p for p in self.pages.values() if p.issue.in_database]
        if query.page_id:
            found = [p for p in found if p.issue.page_id == query.page_id]
        elif query.number is not None:
            found = [p for p in found if p.issue.identifier == f"BUG-{query.number}"]
        else:
            found = [p for p in found if all(w.casefold() in p.issue.title.casefold() for w in query.words)]
        found.sort(key=lambda p: p.edited, reverse=True)
        return [p.issue for p in found[: query.limit]]

    async def list_assignees(self) -> list[Assignee]:
        await self._call("list_assignees")
        return list(self.assignees)
