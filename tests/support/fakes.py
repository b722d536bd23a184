from collections.abc import Sequence

from adapters.memory import InlineOnlyQueue, MemoryCache, MemoryLocks
from adapters.notion.schema import NotionSchema
from adapters.sandbox import MemoryWorkspace, Person
from domain.errors import DomainError, IssueNotFound, TrackerUnavailable
from domain.models import (
    Actor,
    Assignee,
    CreateRequest,
    Job,
    LinkRequest,
    SentryIssue,
    SentryIssueState,
    SentryMember,
    SentryStatus,
)
from domain.ports import SentryApi
from domain.stale_while_revalidate import StaleWhileRevalidate
from tests.support.sentry import INSTALLATION

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


def fresh_schemas() -> StaleWhileRevalidate[NotionSchema]:
    return StaleWhileRevalidate(cache=MemoryCache(), locks=MemoryLocks(), fresh_s=60)


def link_request(page_id: str, issue_id: int = 4242) -> LinkRequest:
    return LinkRequest(sentry=sentry_issue(issue_id), actor=JANE, page_id=page_id)


class FakeWorkspace(MemoryWorkspace):
    """The sandbox's in-memory workspace, with a call log and failures on demand."""

    def __init__(self, *, assignees: Sequence[Assignee] = (), fail: DomainError | None = None) -> None:
        super().__init__(people=[Person(a) for a in assignees], scope="ws:db")
        self.fail = fail
        self.fail_on: set[str] = set()
        self.calls: list[str] = []

    @property
    def assignees(self) -> list[Assignee]:
        return [p.assignee for p in self.people]

    @assignees.setter
    def assignees(self, people: list[Assignee]) -> None:
        self.people = [Person(a) for a in people]

    async def _touch(self, operation: str) -> None:
        self.calls.append(operation)
        await super()._touch(operation)
        if self.fail:
            raise self.fail
        if operation in self.fail_on:
            raise TrackerUnavailable("Notion is unavailable (HTTP 503); try again shortly.")


class FakeSentryApi(SentryApi):
    """Sentry's API as a dict of issue states, with the notes left on them."""

    def __init__(self, *issues: SentryIssueState, members: Sequence[SentryMember] = ()) -> None:
        self.issues = {i.issue_id: i for i in issues}
        self.notes: list[tuple[str, str]] = []
        self.people = list(members)
        self.writes: list[tuple[str, str, str | None]] = []  # (issue id, "status" or "assignee", value)
        self.external_issues: dict[str, tuple[str, str, str]] = {}  # by issue id: web URL, project, identifier

    async def issue(self, issue_id: str) -> SentryIssueState:
        if issue_id not in self.issues:
            raise IssueNotFound(f"Sentry has no issue {issue_id}.")
        return self.issues[issue_id]

    async def add_note(self, issue_id: str, text: str) -> None:
        self.notes.append((issue_id, text))

    async def set_status(self, issue_id: str, status: SentryStatus) -> None:
        issue = await self.issue(issue_id)
        self.writes.append((issue_id, "status", status))
        self.issues[issue_id] = issue.model_copy(update={"status": status, "substatus": None})

    async def assign(self, issue_id: str, user_id: str | None) -> None:
        issue = await self.issue(issue_id)
        self.writes.append((issue_id, "assignee", user_id))
        email = next((m.email for m in self.people if m.user_id == user_id), None)
        self.issues[issue_id] = issue.model_copy(update={"assignee_id": user_id, "assignee_email": email})

    async def members(self) -> list[SentryMember]:
        return list(self.people)

    async def link_external_issue(
        self, installation_id: str, issue_id: str, *, web_url: str, project: str, identifier: str
    ) -> None:
        self.external_issues[issue_id] = (web_url, project, identifier)


class FakeJobQueue(InlineOnlyQueue):
    """A queue that keeps what it is given, refusing a key it holds, or refusing everything while `down`."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.down = False

    async def enqueue(self, job: Job) -> bool:
        if self.down:
            return await super().enqueue(job)  # refuses, as without Redis
        if any(queued.key == job.key for queued in self.jobs):
            return False
        self.jobs.append(job)
        return True
