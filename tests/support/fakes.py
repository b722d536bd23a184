import itertools
import uuid
from collections.abc import Sequence

from adapters.memory import InlineOnlyQueue, MemoryCache, MemoryLocks, MemorySyncState
from adapters.notion.schema import NotionSchema
from adapters.sandbox import MemoryWorkspace, Person
from domain.entry_sync import EntrySync
from domain.errors import DomainError, IssueNotFound, SentryRefused, TrackerUnavailable
from domain.models import (
    Actor,
    Assignee,
    CreateRequest,
    EntrySnapshot,
    Job,
    LinkRequest,
    SentryIssue,
    SentryIssueState,
    SentryMember,
    SentryStatus,
    SyncPolicy,
)
from domain.ports import Cache, Locks, SentryApi, SyncState
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


def entry_sync(
    workspace: MemoryWorkspace,
    *,
    sentry: SentryApi | None = None,
    state: SyncState | None = None,
    locks: Locks | None = None,
    policy: SyncPolicy | None = None,
) -> EntrySync:
    """The worker's EntrySync as container.py builds it, over the in-memory workspace."""
    return EntrySync(
        columns=workspace,
        people=workspace,
        assignees=StaleWhileRevalidate(cache=MemoryCache(), locks=MemoryLocks(), fresh_s=60),
        members=StaleWhileRevalidate(cache=MemoryCache(), locks=MemoryLocks(), fresh_s=60),
        locks=locks or MemoryLocks(),
        state=state or MemorySyncState(),
        policy=policy or SyncPolicy(),
        sentry=sentry,
    )


class FakeWorkspace(MemoryWorkspace):
    """The sandbox's in-memory workspace, with a call log and failures on demand."""

    def __init__(
        self,
        *,
        assignees: Sequence[Assignee] = (),
        fail: DomainError | None = None,
        seen: Cache[EntrySnapshot] | None = None,
    ) -> None:
        super().__init__(people=[Person(a) for a in assignees], scope="ws:db", seen=seen)
        self.fail = fail
        self.fail_on: set[str] = set()
        self.calls: list[str] = []

    def comment_as(self, page_id: str, author: Assignee, text: str) -> str:
        """Someone writes a comment on the page in Notion."""
        comment_id = str(uuid.uuid4())
        self.pages[page_id].comments[comment_id] = f"{author.name}: {text}"
        self.comment_authors[comment_id] = author.id
        return comment_id

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
    """Sentry's API as a dict of issue states, with the integration's notes on them by id."""

    def __init__(self, *issues: SentryIssueState, members: Sequence[SentryMember] = (), admin: bool = True) -> None:
        self.issues = {i.issue_id: i for i in issues}
        self.people = list(members)
        self.admin = admin  # whether the token has event:admin, which deleting a note takes
        self.by_id: dict[str, tuple[str, str]] = {}
        self._ids = itertools.count(1001)
        self.writes: list[tuple[str, str, str | None]] = []  # (issue id, "status" or "assignee", value)
        self.external_issues: dict[str, tuple[str, str, str]] = {}  # by issue id: web URL, project, identifier

    @property
    def notes(self) -> list[tuple[str, str]]:
        return list(self.by_id.values())

    async def issue(self, issue_id: str) -> SentryIssueState:
        if issue_id not in self.issues:
            raise IssueNotFound(f"Sentry has no issue {issue_id}.")
        return self.issues[issue_id]

    async def add_note(self, issue_id: str, text: str) -> str:
        # Sentry refuses the same note twice; the adapter answers the one already there.
        if found := next((i for i, note in self.by_id.items() if note == (issue_id, text)), None):
            return found
        note_id = str(next(self._ids))
        self.by_id[note_id] = (issue_id, text)
        return note_id

    async def edit_note(self, issue_id: str, note_id: str, text: str) -> None:
        if self.by_id.get(note_id, ("", ""))[0] != issue_id:
            raise IssueNotFound(f"Sentry has no note {note_id} on issue {issue_id}.")
        self.by_id[note_id] = (issue_id, text)

    async def delete_note(self, issue_id: str, note_id: str) -> None:
        if not self.admin:
            raise SentryRefused("SENTRY_API_TOKEN may not delete notes.")
        if self.by_id.get(note_id, ("", ""))[0] == issue_id:
            del self.by_id[note_id]

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
