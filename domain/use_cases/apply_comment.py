from domain.entry_sync import UNSHARED, EntrySync
from domain.errors import IssueNotFound, TrackerMisconfigured
from domain.linking import NOT_LINKED, linked_page
from domain.models import Job, JobOutcome, SyncPolicy
from domain.ports import Comments, Entries, LinkRegistry, Locks, SyncState
from domain.sentry_events import IssueEvent, parse


class ApplyComment:
    """Carries a Sentry comment, its edits and its deletion to the linked entry, for a "sentry.comment" job.

    Each Sentry comment becomes one Notion comment, whatever the order the events arrive in and however
    often a job runs.
    """

    def __init__(
        self,
        *,
        entries: Entries,
        registry: LinkRegistry,
        comments: Comments,
        locks: Locks,
        state: SyncState,
        policy: SyncPolicy,
        sync: EntrySync,
    ) -> None:
        self._entries, self._registry, self._comments = entries, registry, comments
        self._locks, self._state, self._policy, self._sync = locks, state, policy, sync

    async def __call__(self, job: Job) -> JobOutcome:
        event = parse(job)
        if not self._policy.comments:
            return JobOutcome(outcome="skipped", reason="comment sync is off")
        if event is None or not (event.comment_action and event.comment_id):
            return JobOutcome(outcome="skipped", reason="the webhook names no Sentry comment")
        page_id = await linked_page(self._entries, self._registry, event.installation_id, event.issue_id)
        if page_id is None:
            return JobOutcome(outcome="skipped", reason=NOT_LINKED)
        try:
            return await self._apply(page_id, event)
        except IssueNotFound:
            if not await self._unreadable(page_id):
                raise  # the Notion comment, not its page
            return JobOutcome(outcome="skipped", entry=page_id, reason=UNSHARED)

    async def _apply(self, page_id: str, event: IssueEvent) -> JobOutcome:
        key = f"comment:{event.installation_id}:{event.comment_id}"
        # Held while the comment is written: a redelivery running beside this one fails, and its retry
        # finds the comment; a worker that dies holding it frees it when the lock expires.
        async with self._locks.hold(key, wait_s=0):
            known = await self._state.get(key)
            if event.comment_action == "created" and known is None:
                if await self._state.get(f"{key}:deleted"):
                    return JobOutcome.of(page_id, (), reason="the comment was deleted before it arrived")
                # An edit that came first holds the text the comment has now.
                text = await self._state.get(f"{key}:text") or event.comment_text
                added = await self._create(page_id, key, event.model_copy(update={"comment_text": text}))
                return JobOutcome.of(page_id, ("comment added",) if added else (), reason="the comment was there")
            if event.comment_action == "updated":
                if known:
                    await self._comments.edit_comment(known, event.comment_text)
                    return JobOutcome(outcome="applied", entry=page_id, changes=("comment edited",))
                await self._state.put(f"{key}:text", event.comment_text)
                return JobOutcome.of(page_id, (), reason="the edit waits for the comment to arrive")
            if event.comment_action == "deleted":
                if known:
                    await self._comments.delete_comment(known)
                await self._state.put(f"{key}:deleted", "1")
                return JobOutcome.of(page_id, ("comment deleted",) if known else (), reason="the comment never arrived")
        return JobOutcome.of(page_id, (), reason="the comment was there")

    async def _unreadable(self, page_id: str) -> bool:
        # Notion answers 404 for a page no longer shared with the integration, or deleted for good, and sends no
        # event of either: this comment may be the first to find out.
        try:
            await self._entries.get_entry(page_id)
        except IssueNotFound:
            async with self._locks.hold(f"entry:{page_id}"):
                await self._sync.unreadable(page_id)
            return True
        return False

    async def _create(self, page_id: str, key: str, event: IssueEvent) -> bool:
        """Answers whether it added the comment, rather than finding the one an earlier run added."""
        # Noted before the write: a worker that dies after Notion saved the comment leaves the note, and the
        # rerun looks for that comment instead of posting it twice. Two Sentry comments can read alike ("+1"),
        # so a Notion comment already taken by another is not this one; one page's comments are claimed one at
        # a time.
        async with self._locks.hold(f"comments:{page_id}"):
            if await self._state.get(f"{key}:sent"):
                try:
                    for found in await self._comments.find_comments(page_id, event.comment_text, event.author):
                        if not await self._state.get(f"claimed:{found}"):
                            await self._claim(key, found)
                            return False
                except TrackerMisconfigured:
                    pass  # without the read-comments capability the rerun cannot look: post it
            await self._state.put(f"{key}:sent", "1")
            await self._claim(key, await self._comments.add_comment(page_id, event.comment_text, event.author))
            return True

    async def _claim(self, key: str, notion_id: str) -> None:
        await self._state.put(f"claimed:{notion_id}", key)
        await self._state.put(key, notion_id)
