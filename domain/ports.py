import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from domain.models import (
    Assignee,
    Block,
    Cached,
    ChoiceColumn,
    Database,
    DeadLetter,
    Entry,
    EntryDraft,
    EntryQuery,
    EntrySnapshot,
    EntryState,
    EntryUpdate,
    Finding,
    HeldAlert,
    Job,
    NotionComment,
    PendingToken,
    QueueStats,
    SentryIssueState,
    SentryMember,
    SentryStatus,
    StatusColumn,
)

T = TypeVar("T")


class Entries(Protocol):
    """The Notion database's entries: creating, finding and linking them.
    Raises IssueNotFound, TrackerMisconfigured, TrackerUnavailable (RateLimited)."""

    async def database(self) -> Database: ...

    async def create_entry(self, draft: EntryDraft) -> Entry:
        """Creates the entry once, even when Notion's answer is lost; the Sentry link is set on creation."""
        ...

    async def find_by_sentry_url(self, sentry_url: str) -> Entry | None: ...

    async def get_entry(self, page_id: str) -> Entry:
        """Any page the integration can see; `in_database` says whether it is an entry of ours."""
        ...

    async def set_sentry_link(self, page_id: str, sentry_url: str) -> Entry: ...

    async def append(self, page_id: str, blocks: Sequence[Block]) -> None: ...

    async def mentions(self, page_id: str, url: str) -> bool:
        """Whether the page's body links to `url`."""
        ...

    async def search_entries(self, query: EntryQuery) -> list[Entry]:
        """Entries of the database matching the query, most recently edited first."""
        ...

    async def linked_entries(self) -> list[Entry]:
        """Every entry whose Sentry Link is set, oldest first."""
        ...

    async def find_by_sentry_issue(self, issue_id: str) -> Entry | None:
        """The entry whose Sentry Link names this Sentry issue, whatever the link's host or path."""
        ...


class EntryColumns(Protocol):
    """The columns an entry keeps in step with its Sentry issue.
    Raises IssueNotFound, TrackerMisconfigured, TrackerUnavailable (RateLimited)."""

    async def status_column(self) -> StatusColumn | None:
        """The configured status column, or None when status is not kept in Notion."""
        ...

    async def assignee_column_id(self) -> str | None:
        """The assignee column's property id, as Notion's events name changed properties; None without one."""
        ...

    async def detail_columns(self) -> frozenset[str]:
        """Which issue details (level, events, ...) have a configured column."""
        ...

    async def choice_columns(self) -> dict[str, ChoiceColumn]:
        """The database's status, select and multi-select columns by name, with their options, as its cached
        description has them."""
        ...

    async def entry_state(self, page_id: str) -> EntryState: ...

    async def forget_schema(self) -> None:
        """Reads the database's columns, options and status groups again now, for the next entry synced."""
        ...

    async def snapshot(self, page_id: str) -> EntrySnapshot:
        """The page as Notion has it now, in one read, even when it is in the trash or in another database. It
        becomes the entry last seen."""
        ...

    async def last_seen(self, page_id: str) -> EntrySnapshot | None:
        """The entry as this service last saw it, with no call to Notion: the page its last read or write of the
        entry answered, kept for a while when Notion's events tell of every other change. None when unknown."""
        ...

    async def forget_seen(self, page_id: str) -> None:
        """Forgets the entry as last seen, for a change made in Notion: the next use reads it. Raises
        StoreUnavailable when it may still be remembered."""
        ...

    async def update_entry(self, page_id: str, update: EntryUpdate) -> None:
        """Writes the columns the update names; the page Notion answers becomes the entry last seen, and a failed
        write forgets it."""
        ...


class Comments(Protocol):
    """Comments on entries. Raises IssueNotFound, TrackerMisconfigured, TrackerUnavailable (RateLimited)."""

    async def add_comment(self, page_id: str, text: str, author: str) -> str:
        """Answers the new comment's id."""
        ...

    async def find_comments(self, page_id: str, text: str, author: str) -> list[str]:
        """The ids of the comments `add_comment` left on the page with this text and author, oldest first."""
        ...

    async def edit_comment(self, comment_id: str, text: str) -> None: ...

    async def delete_comment(self, comment_id: str) -> None: ...

    async def read_comment(self, comment_id: str) -> NotionComment | None:
        """The comment as it reads now, with its author's name; None when it is gone or no longer shared."""
        ...


class People(Protocol):
    """The people of the database's workspace. Raises TrackerMisconfigured, TrackerUnavailable (RateLimited)."""

    async def database(self) -> Database: ...

    async def list_assignees(self) -> list[Assignee]:
        """People of the workspace, without bots."""
        ...

    async def bot_id(self) -> str:
        """The bot user the token acts as: the author of everything the service writes, whose changes come back
        as events authored by it."""
        ...


class Workspace(Entries, EntryColumns, Comments, People, Protocol):
    """All of the Notion database, as its adapters implement it; use cases ask for only the part they need."""


class JobQueue(Protocol):
    """Durable work shared by every replica's workers."""

    async def enqueue(self, job: Job) -> bool:
        """Stores the job; False when a job with its key was already taken. Raises QueueUnavailable."""
        ...

    async def work(self, handle: Callable[[Job], Awaitable[None]], *, stop: asyncio.Event) -> None:
        """Runs jobs until `stop` is set: retries with backoff a job whose `handle` raises, sets it aside
        as a dead letter after its last attempt, and takes over jobs of a worker that died mid-job. When
        `handle` raises Unavailable (an outage, not the job's fault), the worker pauses, honouring the
        wait asked for, and runs the same job again without spending an attempt. A job may run more than
        once, so `handle` must be idempotent. A job marked `coalesce` takes in later jobs with its key
        until it starts."""
        ...

    async def dead_letters(self) -> list[DeadLetter]:
        """Raises QueueUnavailable."""
        ...

    async def replay(self, ids: Sequence[str]) -> list[str]:
        """Puts dead letters (all when `ids` is empty) back on the queue; answers the ids of those it put back.
        Raises QueueUnavailable."""
        ...

    async def stats(self) -> QueueStats:
        """The backlog, dead letters and workers seen lately, as the queue's store sees them now.
        Raises QueueUnavailable."""
        ...


class SentryApi(Protocol):
    """Sentry's REST API, as the internal integration. Raises SentryUnavailable, IssueNotFound."""

    async def issue(self, issue_id: str) -> SentryIssueState: ...

    async def add_note(self, issue_id: str, text: str) -> str:
        """Answers the note's id. Sentry refuses a note identical to one the integration left within the hour:
        that note's id is answered instead, so a write repeated after a lost answer leaves one note."""
        ...

    async def edit_note(self, issue_id: str, note_id: str, text: str) -> None:
        """Only the integration's own notes. Raises IssueNotFound when the note or the issue is gone."""
        ...

    async def delete_note(self, issue_id: str, note_id: str) -> None:
        """Only the integration's own notes; a note already gone is done. Raises SentryRefused without the
        event:admin scope."""
        ...

    async def set_status(self, issue_id: str, status: SentryStatus) -> None:
        """Resolves, reopens or archives (ignored, for good) the issue. Idempotent."""
        ...

    async def assign(self, issue_id: str, user_id: str | None) -> None:
        """Assigns the issue to a user of the organization, or to nobody. Idempotent."""
        ...

    async def members(self) -> list[SentryMember]:
        """The organization's members who joined, with their emails (scope member:read); raises SentryRefused
        without it."""

    async def link_external_issue(
        self, installation_id: str, issue_id: str, *, web_url: str, project: str, identifier: str
    ) -> None:
        """Shows the entry in the issue's sidebar, as a link made from the issue page would; replaces an earlier one."""
        ...


class SyncState(Protocol):
    """Small facts that keep syncing idempotent and in order. Never raises: a broken store knows nothing."""

    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, value: str) -> None: ...


class VerificationTokens(Protocol):
    """Tokens of Notion's subscription handshakes, kept for an operator to read, never used to verify anything.
    `offer` never raises; `pending` raises StoreUnavailable."""

    shared: bool  # whether another process (the `notion-webhook token` command) can read them

    async def offer(self, token: str, received_at: float) -> bool:
        """Keeps the token among the few most recent, for about a week; False when it could not be kept."""
        ...

    async def pending(self) -> list[PendingToken]:
        """The tokens kept, newest first."""
        ...


class Dependency(Protocol):
    """Something the service relies on. Never raises: problems come back as findings that say what to do."""

    name: str
    required: bool  # whether the service cannot serve without it

    async def diagnose(self, *, thorough: bool) -> list[Finding]:
        """A quick liveness probe, or with `thorough` every check of the setup."""
        ...


class Cache(Protocol[T]):
    """Values with the time they were fetched, by key. `load` and `store` never raise: a broken cache behaves as
    an empty one; `forget` raises StoreUnavailable when the value may still be there."""

    async def load(self, key: str) -> Cached[T] | None: ...

    async def store(self, key: str, entry: Cached[T]) -> None: ...

    async def forget(self, key: str) -> None: ...


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


class AlertBudget(Protocol):
    """How many entries each alert rule created this hour, across replicas, and the alerts held back over the cap.
    `admit`, `refund` and `hold` never raise (a broken store counts in this process); `held` raises StoreUnavailable."""

    async def admit(self, rule: str, limit: int) -> bool:
        """Counts one entry for the rule's current hour; False when that would make more than `limit`."""
        ...

    async def refund(self, rule: str) -> None:
        """Gives back what `admit` counted for an entry that was not created after all."""
        ...

    async def hold(self, alert: HeldAlert) -> bool:
        """Keeps the alert for a week; True when it is the rule's first held alert this hour."""
        ...

    async def held(self) -> list[HeldAlert]:
        """The alerts held in the last week, oldest first."""
        ...
