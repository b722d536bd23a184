import asyncio
import itertools
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from domain.errors import DomainError, IssueNotFound
from domain.models import (
    Assignee,
    Block,
    Cached,
    ChoiceColumn,
    Database,
    Entry,
    EntryDraft,
    EntryQuery,
    EntrySnapshot,
    EntryState,
    EntryUpdate,
    Finding,
    NotionComment,
    StatusColumn,
)
from domain.ports import Cache, Dependency, Workspace
from domain.sentry_events import DETAILS, sentry_issue_id

STATUS = StatusColumn(
    name="Status",
    id="%5EOE%40",
    kind="status",
    options=("Not started", "In progress", "Done"),
    groups={"To-do": ("Not started",), "In progress": ("In progress",), "Complete": ("Done",)},
)

ASSIGNEE_ID = "Jr%3Bq"

CHOICES = (
    ChoiceColumn(name="Priority", kind="select", options=("High", "Medium", "Low")),
    ChoiceColumn(name="Tags", kind="multi_select", options=("Backend", "Frontend", "Payments")),
)


@dataclass
class Page:
    issue: Entry
    status: str = "Not started"
    body: list[Block] = field(default_factory=list)
    assignee_ids: tuple[str, ...] = ()
    details: dict[str, str | int | None] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)  # id -> "author: text"
    edited: int = 0
    in_trash: bool = False
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def assignee_id(self) -> str | None:
        return self.assignee_ids[0] if self.assignee_ids else None


@dataclass(frozen=True)
class Person:
    assignee: Assignee
    bot: bool = False


class MemoryWorkspace(Workspace, Dependency):
    """A Notion workspace held in memory: the sandbox's, and the tests' stand-in for Notion."""

    def __init__(
        self,
        *,
        title: str = "Bugs",
        prefix: str = "BUG",
        people: Sequence[Person] = (),
        scope: str = "sandbox:bugs",
        seen: Cache[EntrySnapshot] | None = None,
    ) -> None:
        # `seen`: the entries last read or written, kept as Notion's adapter keeps them, so that syncs plan on them.
        self._seen = seen
        self.db = Database(title=title, scope=scope)
        self.prefix = prefix
        self.pages: dict[str, Page] = {}
        self.people = list(people)
        self.details = frozenset(DETAILS)
        self.status: StatusColumn | None = STATUS
        self.choices = {c.name: c for c in CHOICES}
        self.bot = next((p.assignee.id for p in self.people if p.bot), str(uuid.UUID(int=0xB07)))  # our own bot
        self.comment_authors: dict[str, str] = {}  # by comment id, for comments people wrote; others are the bot's
        self._numbers = itertools.count(1)
        self._clock = itertools.count(1)

    name = "Notion"
    required = True

    async def diagnose(self, *, thorough: bool) -> list[Finding]:
        detail = f"in-memory sandbox workspace with {len(self.pages)} entries in {self.db.title!r}"
        return [Finding(check="Notion", ok=True, detail=detail)]

    def add(
        self, title: str, *, sentry_url: str | None = None, status: str = "Not started", in_database: bool = True
    ) -> Entry:
        number = next(self._numbers)
        page_id = str(uuid.UUID(int=number))
        issue = Entry(
            page_id=page_id,
            url=f"https://app.notion.com/p/{page_id.replace('-', '')}",
            title=title,
            identifier=f"{self.prefix}-{number}" if self.prefix else str(number),
            sentry_url=sentry_url,
            in_database=in_database,
        )
        self.pages[page_id] = Page(issue=issue, status=status, edited=next(self._clock))
        return issue

    def first_entry(self) -> Entry:
        return next(iter(self.pages.values())).issue

    async def _touch(self, operation: str) -> None:
        await asyncio.sleep(0)  # Notion answers over the network: let concurrent callers interleave

    async def database(self) -> Database:
        return self.db

    async def create_entry(self, draft: EntryDraft) -> Entry:
        await self._touch("create_entry")
        issue = self.add(draft.title, sentry_url=draft.sentry_url)
        self.pages[issue.page_id].body = list(draft.body)
        self.pages[issue.page_id].assignee_ids = (draft.assignee_id,) if draft.assignee_id else ()
        self.pages[issue.page_id].choices = dict(draft.choices)
        return issue

    async def find_by_sentry_url(self, sentry_url: str) -> Entry | None:
        await self._touch("find_by_sentry_url")
        return next((p.issue for p in self.pages.values() if p.issue.sentry_url == sentry_url), None)

    async def get_entry(self, page_id: str) -> Entry:
        await self._touch("get_entry")
        if page_id not in self.pages:
            raise IssueNotFound("No entry with that ID is shared with the Notion integration.")
        return self.pages[page_id].issue

    async def set_sentry_link(self, page_id: str, sentry_url: str) -> Entry:
        await self._touch("set_sentry_link")
        page = self.pages[page_id]
        page.issue = page.issue.model_copy(update={"sentry_url": sentry_url})
        page.edited = next(self._clock)
        return page.issue

    async def append(self, page_id: str, blocks: Sequence[Block]) -> None:
        await self._touch("append")
        self.pages[page_id].body.extend(blocks)
        self.pages[page_id].edited = next(self._clock)

    async def mentions(self, page_id: str, url: str) -> bool:
        await self._touch("mentions")
        return any(span.link == url for block in self.pages[page_id].body for span in block.spans)

    async def search_entries(self, query: EntryQuery) -> list[Entry]:
        await self._touch("search_entries")
        found = [p for p in self.pages.values() if p.issue.in_database]
        if query.page_id:
            found = [p for p in found if p.issue.page_id == query.page_id]
        elif query.number is not None and (query.prefix or self.prefix.lower()) == self.prefix.lower():
            found = [p for p in found if p.issue.identifier.rsplit("-", 1)[-1] == str(query.number)]
        else:
            found = [p for p in found if all(w.casefold() in p.issue.title.casefold() for w in query.words)]
        found.sort(key=lambda p: p.edited, reverse=True)
        return [p.issue for p in found[: query.limit]]

    async def list_assignees(self) -> list[Assignee]:
        await self._touch("list_assignees")
        return [p.assignee for p in self.people if not p.bot]

    async def linked_entries(self) -> list[Entry]:
        await self._touch("linked_entries")
        return [p.issue for p in self.pages.values() if p.issue.sentry_url and p.issue.in_database]

    async def find_by_sentry_issue(self, issue_id: str) -> Entry | None:
        await self._touch("find_by_sentry_issue")
        return self.linked_to(issue_id)

    def linked_to(self, issue_id: str) -> Entry | None:
        return next((p.issue for p in self.pages.values() if sentry_issue_id(p.issue.sentry_url) == issue_id), None)

    async def status_column(self) -> StatusColumn | None:
        return self.status

    async def assignee_column_id(self) -> str | None:
        return ASSIGNEE_ID

    async def detail_columns(self) -> frozenset[str]:
        return self.details

    async def choice_columns(self) -> dict[str, ChoiceColumn]:
        await self._touch("choice_columns")
        if self.status is None:
            return dict(self.choices)
        status = ChoiceColumn(name=self.status.name, kind=self.status.kind, options=self.status.options)
        return self.choices | {status.name: status}

    async def entry_state(self, page_id: str) -> EntryState:
        await self._touch("entry_state")
        page = self.pages[page_id]
        return EntryState(status=page.status, assignee_ids=page.assignee_ids, details=dict(page.details))

    async def forget_schema(self) -> None:
        pass  # held in memory: always current

    async def snapshot(self, page_id: str) -> EntrySnapshot:
        await self._call(page_id, "snapshot")
        return await self._seeing(page_id)

    async def _call(self, page_id: str, operation: str) -> None:
        # As Notion's adapter: a call that fails forgets the entry as last seen.
        try:
            await self._touch(operation)
            if page_id not in self.pages:
                raise IssueNotFound("No entry with that ID is shared with the Notion integration.")
        except DomainError:
            await self.forget_seen(page_id)
            raise

    async def _seeing(self, page_id: str) -> EntrySnapshot:
        page = self.pages[page_id]
        state = EntryState(status=page.status, assignee_ids=page.assignee_ids, details=dict(page.details))
        entry = page.issue.model_copy(update={"in_database": page.issue.in_database and not page.in_trash})
        # `edited` counts edits; as seconds it orders them as Notion's last_edited_time would.
        seen = EntrySnapshot(
            entry=entry,
            state=state,
            in_data_source=page.issue.in_database,
            in_trash=page.in_trash,
            edited_at=page.edited,
        )
        if self._seen is not None:
            await self._seen.store(page_id, Cached[EntrySnapshot](value=seen, fetched_at=time.time()))
        return seen

    async def last_seen(self, page_id: str) -> EntrySnapshot | None:
        kept = None if self._seen is None else await self._seen.load(page_id)
        return None if kept is None else kept.value

    async def forget_seen(self, page_id: str) -> None:
        if self._seen is not None:
            await self._seen.forget(page_id)

    async def bot_id(self) -> str:
        return self.bot

    async def update_entry(self, page_id: str, update: EntryUpdate) -> None:
        await self._call(page_id, "update_entry")
        page = self.pages[page_id]
        page.status = update.status if update.status is not None else page.status
        page.assignee_ids = update.assignee_ids if update.assignee_ids is not None else page.assignee_ids
        page.details |= {k: v for k, v in update.details.items() if k in self.details}
        page.edited = next(self._clock)
        await self._seeing(page_id)

    async def add_comment(self, page_id: str, text: str, author: str) -> str:
        await self._touch("add_comment")
        comment_id = str(uuid.uuid4())
        self.pages[page_id].comments[comment_id] = f"{author}: {text}"
        return comment_id

    async def find_comments(self, page_id: str, text: str, author: str) -> list[str]:
        await self._touch("find_comments")
        return [i for i, shown in self.pages[page_id].comments.items() if shown == f"{author}: {text}"]

    async def edit_comment(self, comment_id: str, text: str) -> None:
        await self._touch("edit_comment")
        for page in self.pages.values():
            if comment_id in page.comments:
                author = page.comments[comment_id].split(": ", 1)[0]
                page.comments[comment_id] = f"{author}: {text}"

    async def delete_comment(self, comment_id: str) -> None:
        await self._touch("delete_comment")
        for page in self.pages.values():
            page.comments.pop(comment_id, None)

    async def read_comment(self, comment_id: str) -> NotionComment | None:
        await self._touch("read_comment")
        for page_id, page in self.pages.items():
            if comment_id in page.comments:
                author, text = page.comments[comment_id].split(": ", 1)
                author_id = self.comment_authors.get(comment_id, self.bot)
                return NotionComment(id=comment_id, page_id=page_id, author_id=author_id, author_name=author, text=text)
        return None


def demo_workspace() -> MemoryWorkspace:
    workspace = MemoryWorkspace(
        people=[
            Person(Assignee(id=str(uuid.UUID(int=101)), name="Ada Lovelace", email="ada@example.org")),
            Person(Assignee(id=str(uuid.UUID(int=102)), name="Grace Hopper", email="grace@example.org")),
            Person(Assignee(id=str(uuid.UUID(int=103)), name="Linus Torvalds")),
            Person(Assignee(id=str(uuid.UUID(int=104)), name="Sentry Sync"), bot=True),
        ]
    )
    workspace.add("Login fails on Safari", status="In progress")
    workspace.add("Checkout crashes on an empty cart")
    workspace.add("Search results load slowly", sentry_url="https://example.sentry.io/issues/1/", status="In progress")
    return workspace
