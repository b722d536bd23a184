from domain.back_links import BackLinks
from domain.errors import InvalidLink
from domain.linking import issue_lock, linked, queue_refresh, registry_key, sentry_link
from domain.models import LinkedEntry, LinkRequest
from domain.ports import Entries, JobQueue, LinkRegistry, Locks


class LinkEntry:
    """Links an existing entry of the database to a Sentry issue without losing an earlier link.

    The Sentry Link column takes the issue's URL when it is empty; when it already names another
    issue, that link stays and the new issue is added to the page body instead.
    """

    def __init__(
        self,
        *,
        entries: Entries,
        registry: LinkRegistry,
        locks: Locks,
        back_links: BackLinks | None = None,
        refresh: JobQueue | None = None,
    ) -> None:
        # `refresh`: where a job to fill the entry's columns from Sentry goes, when Sentry's API is there.
        self._entries, self._registry, self._locks, self._back_links = entries, registry, locks, back_links
        self._refresh = refresh

    async def __call__(self, request: LinkRequest) -> LinkedEntry:
        database = await self._entries.database()
        key = registry_key(database, request.sentry)
        # The issue's lock keeps a create for the same issue out; the page's, a link from another issue.
        async with (
            self._locks.hold(issue_lock(request.sentry)),
            self._locks.hold(f"page:{database.scope}:{request.page_id}"),
        ):
            issue = await self._entries.get_entry(request.page_id)
            if not issue.in_database:
                raise InvalidLink(
                    f"That Notion page is not an entry of the {database.title!r} database; "
                    "pick an entry from the list or paste a link to one."
                )
            url = request.sentry.web_url
            if not issue.sentry_url:
                issue = await self._entries.set_sentry_link(issue.page_id, url)
            elif not _same(issue.sentry_url, url) and not await self._entries.mentions(issue.page_id, url):
                # Read from the page itself: an earlier append that Notion saved without confirming counts.
                note = sentry_link("Also linked to Sentry issue: ", request.sentry, request.actor)
                await self._entries.append(issue.page_id, [note])
            await self._registry.remember(key, issue.page_id)
        answer = linked(database, issue)
        if self._back_links:
            await self._back_links(request.sentry, answer)
        await queue_refresh(self._refresh, request.sentry)
        return answer


def _same(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")
