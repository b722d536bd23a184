import logging
from typing import Literal

from domain.errors import InvalidWebhook, IssueNotFound, SentryRefused
from domain.models import Frozen, Job, JobOutcome, NotionComment, SyncPolicy
from domain.notion_events import parse
from domain.ports import Comments, Entries, Locks, People, SentryApi, SyncState
from domain.sentry_events import sentry_issue_id

log = logging.getLogger(__name__)

Outcome = Literal[
    "off", "invalid", "own", "from_sentry", "gone", "unlinked", "unchanged", "created", "edited", "deleted"
]
# Why a job that wrote nothing was skipped, as the worker's log line says it.
SKIPPED: dict[Outcome, str] = {
    "off": "Notion comments are not carried to Sentry",
    "invalid": "not an event Notion sends",
    "own": "made by this service",
    "from_sentry": "the comment came from Sentry",
    "gone": "the comment or its note is gone",
    "unlinked": "the page is no linked entry",
}
UNLINKED = SKIPPED["unlinked"]


class NoteLink(Frozen):
    """The Sentry note a Notion comment became, with what it says."""

    issue_id: str
    note_id: str
    author: str
    text: str


class ApplyNotionComment:
    """Carries a Notion comment, its edits and its deletion to the linked Sentry issue as a note naming its
    author, for a "notion.comment" job; answers what it did.

    Whatever the event says, the comment is read as it is now and the note made to match it, so events that
    come late, twice or out of order end the same. Comments the service wrote itself (the Sentry comments it
    carried to Notion) are never sent back.
    """

    def __init__(
        self,
        *,
        entries: Entries,
        comments: Comments,
        bot: People,
        sentry: SentryApi | None,
        locks: Locks,
        state: SyncState,
        policy: SyncPolicy,
    ) -> None:
        self._entries, self._comments, self._bot, self._sentry = entries, comments, bot, sentry
        self._locks, self._state, self._policy = locks, state, policy
        self._told_why = False

    async def __call__(self, job: Job) -> JobOutcome:
        done = await self.apply(job)
        if done in SKIPPED:
            return JobOutcome(outcome="skipped", reason=SKIPPED[done])
        if done == "unchanged":
            return JobOutcome(outcome="unchanged", reason="the note says it already")
        return JobOutcome(outcome="applied", changes=(f"Sentry note {done}",))

    async def apply(self, job: Job) -> Outcome:
        if not self._policy.comments_to_sentry:
            return "off"
        if self._sentry is None:
            if not self._told_why:
                self._told_why = True
                log.warning("Notion comments are not carried to Sentry: set SENTRY_API_TOKEN to write notes.")
            return "off"
        try:
            event = parse(job.body)
        except InvalidWebhook:
            return "invalid"  # queued by a version that took it
        bot = await self._bot.bot_id()
        if event.only_by_service(bot):
            return "own"
        # A comment the Sentry side put in Notion came from a Sentry comment: sending it back would echo it.
        if await self._state.get(f"claimed:{event.entity_id}"):
            return "from_sentry"
        key = f"notion-comment:{event.entity_id}"
        # One job per comment at a time: a create and an edit of the same comment run one after the other.
        async with self._locks.hold(key):
            comment = await self._comments.read_comment(event.entity_id)
            if comment is not None and comment.author_id == bot:
                return "own"  # written through the API, claimed or not yet
            page_id = event.page_id or (comment.page_id if comment else None)
            return await self._apply(self._sentry, key, comment, page_id)

    async def _apply(self, api: SentryApi, key: str, comment: NotionComment | None, page_id: str | None) -> Outcome:
        link = await self._link(key)
        if comment is None:
            if link is None:
                return "gone"
            await self._delete(api, link)
            await self._state.put(key, "")
            return "deleted"
        text = f"{comment.author_name} in Notion: {comment.text}"
        if link is None:
            issue_id = await self._linked_issue(page_id)
            if issue_id is None:
                return "unlinked"
            link = await self._create(api, key, issue_id, comment.author_name, text)
            if link is None:
                return "unchanged"
            if link.text == text:
                return "created"
        if link.text == text:
            return "unchanged"
        try:
            await api.edit_note(link.issue_id, link.note_id, text)
        except IssueNotFound:
            return "gone"  # someone deleted the note in Sentry: leave it deleted
        await self._state.put(key, link.model_copy(update={"text": text}).model_dump_json())
        return "edited"

    async def _create(self, api: SentryApi, key: str, issue_id: str, author: str, text: str) -> NoteLink | None:
        # Noted before the write: a worker that dies after Sentry saved the note leaves the note, and the rerun posts
        # that same text again, which Sentry answers with the saved note (its one-hour duplicate check) instead of
        # a second one; the caller then edits it if the comment changed meanwhile.
        pending = await self._state.get(f"{key}:sending")
        sent = (
            NoteLink.model_validate_json(pending)
            if pending
            else NoteLink(issue_id=issue_id, note_id="", author=author, text=text)
        )
        await self._state.put(f"{key}:sending", sent.model_dump_json())
        # Notes of one issue are claimed one at a time: two comments alike by one author are one note in Sentry,
        # kept by the first, so that deleting the second does not delete the first's note.
        async with self._locks.hold(f"notes:{sent.issue_id}"):
            note_id = await api.add_note(sent.issue_id, sent.text)
            claim = f"claimed-note:{sent.issue_id}:{note_id}"
            owner = await self._state.get(claim)
            if owner is None:
                await self._state.put(claim, key)
        link: NoteLink | None = None
        if owner in (None, key):
            link = sent.model_copy(update={"note_id": note_id})
            await self._state.put(key, link.model_dump_json())
        else:
            log.info("A Notion comment reads as Sentry note %s already does; it is not posted twice.", note_id)
        await self._state.put(f"{key}:sending", "")
        return link

    async def _delete(self, api: SentryApi, link: NoteLink) -> None:
        try:
            await api.delete_note(link.issue_id, link.note_id)
        except SentryRefused as exc:
            # Deleting a note takes the Admin level of "Issue & Event"; with Read & Write the note says so instead.
            log.warning("Sentry note %s is kept: %s", link.note_id, exc.message)
            await api.edit_note(link.issue_id, link.note_id, f"{link.author} deleted this comment in Notion.")

    async def _link(self, key: str) -> NoteLink | None:
        value = await self._state.get(key)
        return NoteLink.model_validate_json(value) if value else None

    async def _linked_issue(self, page_id: str | None) -> str | None:
        if page_id is None:
            return None
        try:
            entry = await self._entries.get_entry(page_id)
        except IssueNotFound:
            return None  # a page the integration cannot see
        return sentry_issue_id(entry.sentry_url) if entry.in_database else None
