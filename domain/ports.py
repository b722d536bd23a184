import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from domain.models import (
    Assignee,
    Block,
    Cached,
    Database,
    DeadLetter,
    Finding,
    Issue,
    IssueDraft,
    IssueQuery,
    Job,
    SentryIssueState,
)

T = TypeVar("T")


class IssueTracker(Protocol):
    """The Notion database. Raises IssueNotFound, TrackerMisconfigured, TrackerUnavailable (RateLimited)."""

    async def database(self) -> Database: ...

    async def create_issue(self, draft: IssueDraft) -> Issue:
        """Creates the entry once, even when Notion's answer is lost; the Sentry link is set on creation."""
        ...

    async def find_by_sentry_url(self, sentry_url: str) -> Issue | None: ...

    async def get_issue(self, page_id: str) -> Issue:
        """Any page the integration can see; `in_database` says whether it is an entry of ours."""
        ...

    async def set_sentry_link(self, page_id: str, sentry_url: str) -> Issue: ...

    async def append(self, page_id: str, blocks: Sequence[Block]) -> None: ...

    async def mentions(self, page_id: str, url: str) -> bool:
        """Whether the page's body links to `url`."""
        ...

    async def search_issues(self, query: IssueQuery) -> list[Issue]:
        """Entries of the database matching the query, most recently edited first."""
        ...

    async def list_assignees(self) -> list[Assignee]:
        """People of the workspace, without bots."""
        ...


class JobQueue(Protocol):
    """Durable work shared by every replica's workers."""

    async def enqueue(self, job: Job) -> bool:
        """Stores the job; False when a job with its key was already taken. Raises QueueUnavailable."""
        ...

    async def work(self, handle: Callable[[Job], Awaitable[None]], *, stop: asyncio.Event) -> None:
        """Runs jobs until `stop` is set: retries with backoff a job whose `handle` raises, sets it aside
        as a dead letter after its last attempt, and takes over jobs of a worker that died mid-job."""
        ...

    async def dead_letters(self) -> list[DeadLetter]: ...

    async def replay(self, ids: Sequence[str]) -> int:
        """Puts dead letters (all when `ids` is empty) back on the queue; answers how many."""
        ...


class SentryApi(Protocol):
    """Sentry's REST API, as the internal integration. Raises SentryUnavailable, IssueNotFound."""

    async def issue(self, issue_id: str) -> SentryIssueState: ...

    async def add_note(self, issue_id: str, text: str) -> None: ...


class Dependency(Protocol):
    """Something the service relies on. Never raises: problems come back as findings that say what to do."""

    name: str
    required: bool  # whether the service cannot serve without it

    async def diagnose(self, *, thorough: bool) -> list[Finding]:
        """A quick liveness probe, or with `thorough` every check of the setup."""
        ...


class Cache(Protocol[T]):
    """Values with the time they were fetched, by key. Never raises: a broken cache behaves as an empty one."""

    async def load(self, key: str) -> Cached[T] | None: ...

    async def store(self, key: str, entry: Cached[T]) -> None: ...


class LinkRegistry(Protocol):
    """Which Notion page a Sentry issue maps to. Never raises: a broken store remembers nothing."""

    async def recall(self, key: str) -> str | None: ...

    async def remember(self, key: str, page_id: str) -> None: ...

    async def mark_unconfirmed(self, key: str, ttl_s: float) -> None:
        """Notes that a create for `key` may still land in Notion, for `ttl_s` seconds."""
        ...

    async def is_unconfirmed(self, key: str) -> bool: ...

    async def clear_unconfirmed(self, key: str) -> None: ...


class Locks(Protocol):
    """Mutual exclusion across replicas. Raises Conflict if the lock stays taken; runs unlocked if the store is down."""

    def hold(self, key: str, *, wait_s: float | None = None) -> AbstractAsyncContextManager[None]:
        """Waits up to `wait_s` (the store's default when None) for the lock."""
        ...
