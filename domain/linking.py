import contextlib
import time

from domain.errors import IssueNotFound, QueueUnavailable
from domain.models import Actor, Block, Database, Entry, LinkedEntry, SentryIssue, Span
from domain.ports import Entries, JobQueue, LinkRegistry
from domain.sentry_events import trigger

NOT_LINKED = "no Notion entry is linked to this issue"


def registry_key(database: Database, sentry: SentryIssue) -> str:
    return issue_key(database, sentry.installation_id, sentry.issue_id)


def issue_key(database: Database, installation_id: str, issue_id: int | str) -> str:
    return f"{database.scope}:{installation_id}:{issue_id}"


def issue_lock(sentry: SentryIssue) -> str:
    # One lock per Sentry issue whatever the database: creates and links in any of them take turns.
    return f"issue:{sentry.installation_id}:{sentry.issue_id}"


def linked(database: Database, issue: Entry, *, created: bool = False) -> LinkedEntry:
    return LinkedEntry(
        web_url=issue.url, project=database.title, identifier=issue.identifier, created=created, page_id=issue.page_id
    )


def sentry_link(prefix: str, sentry: SentryIssue, actor: Actor) -> Block:
    return Block(
        kind="paragraph",
        spans=(
            Span(text=prefix),
            Span(text=sentry.web_url, link=sentry.web_url),
            Span(text=f" by {actor.name}", italic=True),
        ),
    )


async def linked_page(entries: Entries, registry: LinkRegistry, installation_id: str, issue_id: str) -> str | None:
    # The registry answers after the first lookup by the Sentry Link column; None when the issue is not linked.
    key = issue_key(await entries.database(), installation_id, issue_id)
    if page_id := await registry.recall(key):
        return page_id
    entry = await entries.find_by_sentry_issue(issue_id)
    if entry is None or not entry.in_database:
        return None
    await registry.remember(key, entry.page_id)
    return entry.page_id


async def live_page(entries: Entries, page_id: str | None) -> str | None:
    """The page while it is still an entry of the database; None once trashed, moved out or no longer shared."""
    if page_id is None:
        return None
    try:
        return page_id if (await entries.get_entry(page_id)).in_database else None
    except IssueNotFound:
        return None


async def queue_refresh(queue: JobQueue | None, sentry: SentryIssue) -> None:
    # A worker then fills the new link's status, assignee and detail columns from the issue as Sentry's API
    # reports it. No queue (no Redis, or no API to read): reconcile fills them.
    if queue is not None:
        job = trigger(sentry.installation_id, str(sentry.issue_id), "refresh", received_at=time.time())
        with contextlib.suppress(QueueUnavailable):
            await queue.enqueue(job)
