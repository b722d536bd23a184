import contextlib
import logging
import time
from collections.abc import Callable

from domain.alerts import AlertOutcome, IssueAlert, chosen_database, issue_alert
from domain.entry_sync import EntrySync
from domain.errors import DomainError, IssueNotFound, SentryRefused
from domain.linking import issue_key, linked, live_page
from domain.models import Actor, CreateRequest, HeldAlert, Job, JobOutcome, LinkedEntry, SentryIssue
from domain.ports import AlertBudget, Comments, Entries, LinkRegistry, SentryApi, SyncState
from domain.use_cases.create_entry import CreateEntry

log = logging.getLogger(__name__)
ELSEWHERE = "the issue's entry is in another database"
CAPPED = "the rule created its hourly number of entries (ALERT_CREATE_LIMIT); listed by `sentry-notion alerts held`"


class CreateAlertEntry:
    """Creates the Notion entry for the issue an alert rule fired on, for a "sentry.event_alert" job, and shows it in
    the issue's Sentry sidebar. Raises InvalidSettings, TrackerMisconfigured, Unavailable.

    It goes through the create form's path, so one Sentry issue has one entry however often its rules fire and
    however many workers run them; an issue already linked has its columns refreshed instead, and, when the rule
    asks, a comment says the alert fired again. A rule creates at most `limit` entries an hour; the rest are held.
    """

    def __init__(
        self,
        *,
        create: CreateEntry,
        entries: Entries,
        registry: LinkRegistry,
        budget: AlertBudget,
        limit: int,
        database_ids: tuple[str, ...],
        sync: EntrySync,
        comments: Comments,
        state: SyncState,
        sentry: SentryApi | None = None,
        on_outcome: Callable[[AlertOutcome], None] = lambda outcome: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._create, self._entries, self._registry, self._budget = create, entries, registry, budget
        self._limit, self._database_ids, self._sync, self._comments = limit, database_ids, sync, comments
        self._state, self._sentry, self._on_outcome, self._clock = state, sentry, on_outcome, clock

    async def __call__(self, job: Job) -> JobOutcome:
        alert = issue_alert(job)
        if alert is None:
            return JobOutcome(outcome="skipped", reason="the alert names no Sentry issue")
        chosen_database(alert.settings, self._database_ids)
        # The registry knows every link this service made or met; the create path searches Notion for the rest,
        # and makes a new entry for one trashed since, as the form does.
        key = issue_key(await self._entries.database(), alert.installation_id, alert.issue_id)
        if (page_id := await live_page(self._entries, await self._registry.recall(key))) is not None:
            return await self._again(alert, page_id)
        request = _request(alert)
        if not await self._budget.admit(alert.rule, self._limit):
            # Capped, so no create will search: an entry linked before the registry knew it is refreshed, not held.
            if (found := await self._create.existing(request.sentry)) is None:
                return await self._hold(alert)
            return await self._existing(alert, found)
        try:
            linked = await self._create(request)
        except DomainError:
            await self._budget.refund(alert.rule)
            raise
        if not linked.created:
            await self._budget.refund(alert.rule)
            return await self._existing(alert, linked)
        self._on_outcome("created")
        await self._show_in_sentry(alert, linked)
        return JobOutcome(outcome="applied", entry=linked.page_id, changes=(f"entry {linked.identifier} created",))

    async def _existing(self, alert: IssueAlert, found: LinkedEntry) -> JobOutcome:
        if found.project != (await self._entries.database()).title:
            # Linked in another configured database: that database's run refreshes it.
            return JobOutcome(outcome="skipped", entry=found.page_id, reason=ELSEWHERE)
        return await self._again(alert, found.page_id)

    async def _again(self, alert: IssueAlert, page_id: str) -> JobOutcome:
        self._on_outcome("existing")
        if self._sentry is not None and not await self._state.get(_shown(alert)):
            # A run that created the entry but could not reach Sentry left the sidebar without it.
            entry = await self._entries.get_entry(page_id)
            await self._show_in_sentry(alert, linked(await self._entries.database(), entry))
        changes: tuple[str, ...] = ()
        with contextlib.suppress(IssueNotFound):  # deleted in Sentry since: nothing to refresh from
            changes = (await self._sync.sync(page_id, alert.issue_id)).changes()
        if alert.settings.comment_on_repeat:
            # One comment an hour at most: a rule firing on each event of a busy issue must not bury the entry.
            key = f"alert-comment:{page_id}:{alert.rule}:{int(self._clock() // 3600)}"
            if not await self._state.get(key):
                await self._state.put(key, "1")
                await self._comments.add_comment(
                    page_id, f"The alert rule “{alert.rule_title}” fired again for this issue.", "Sentry"
                )
                changes = (*changes, "comment added")
        return JobOutcome.of(page_id, changes, reason="the issue already has its entry")

    async def _hold(self, alert: IssueAlert) -> JobOutcome:
        self._on_outcome("capped")
        held = HeldAlert(
            rule=alert.rule,
            rule_title=alert.rule_title,
            subject=alert.issue_id,
            web_url=alert.web_url,
            at=self._clock(),
        )
        if await self._budget.hold(held):
            log.warning(
                "alert rule %r (%s) reached its %d entries this hour; further alerts are held, "
                "see `sentry-notion alerts held`",
                alert.rule_title,
                alert.rule,
                self._limit,
            )
        return JobOutcome(outcome="skipped", reason=CAPPED)

    async def _show_in_sentry(self, alert: IssueAlert, linked: LinkedEntry) -> None:
        if self._sentry is None:
            log.info("entry %s has no link in Sentry's sidebar: that needs SENTRY_API_TOKEN", linked.identifier)
            return
        try:
            await self._sentry.link_external_issue(
                alert.installation_id,
                alert.issue_id,
                web_url=linked.web_url,
                project=linked.project,
                identifier=linked.identifier,
            )
            await self._state.put(_shown(alert), "1")
        except SentryRefused as exc:
            # The entry is what the rule is for; the sidebar link waits for the permission.
            log.warning("entry %s has no link in Sentry's sidebar: %s", linked.identifier, exc.message)


def _shown(alert: IssueAlert) -> str:
    return f"external-issue:{alert.installation_id}:{alert.issue_id}"


def _request(alert: IssueAlert) -> CreateRequest:
    return CreateRequest(
        sentry=SentryIssue(issue_id=int(alert.issue_id), web_url=alert.web_url, installation_id=alert.installation_id),
        actor=Actor(name=f"the alert rule “{alert.rule_title}”"),
        title=alert.title,
        description=alert.description,
        assignee_id=alert.settings.assignee,
        columns=alert.settings.columns,
        status=alert.settings.status,
    )
