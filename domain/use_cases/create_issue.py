from domain import markdown
from domain.errors import IssueNotFound
from domain.models import Block, CreateRequest, Issue, IssueDraft, LinkedIssue
from domain.ports import IssueTracker, LinkRegistry, Locks
from domain.use_cases.linking import linked, registry_key, sentry_link


class CreateIssue:
    """Creates the Notion entry for a Sentry issue, or answers with the one it already has.

    One Sentry issue maps to one page: a lock serialises concurrent creates across replicas, the
    registry remembers the page, and when the registry has forgotten, the Sentry Link column finds it.
    """

    def __init__(self, *, tracker: IssueTracker, registry: LinkRegistry, locks: Locks) -> None:
        self._tracker, self._registry, self._locks = tracker, registry, locks

    async def __call__(self, request: CreateRequest) -> LinkedIssue:
        database = await self._tracker.database()
        key = registry_key(database, request.sentry)
        async with self._locks.hold(f"create:{key}"):
            issue = await self._existing(key, request.sentry.web_url)
            created = issue is None
            if issue is None:
                issue = await self._tracker.create_issue(_draft(request))
            await self._registry.remember(key, issue.page_id)
        return linked(database, issue, created=created)

    async def _existing(self, key: str, sentry_url: str) -> Issue | None:
        if page_id := await self._registry.recall(key):
            try:
                return await self._tracker.get_issue(page_id)
            except IssueNotFound:
                pass  # deleted or unshared since: fall through and look again
        return await self._tracker.find_by_sentry_url(sentry_url)


def _draft(request: CreateRequest) -> IssueDraft:
    header: tuple[Block, ...] = (
        sentry_link("Sentry issue: ", request.sentry, request.actor),
        Block(kind="divider"),
    )
    return IssueDraft(
        title=" ".join(request.title.split()),
        body=header + markdown.parse(request.description),
        sentry_url=request.sentry.web_url,
        assignee_id=request.assignee_id,
    )
