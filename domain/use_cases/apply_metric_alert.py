import logging
import time
from collections.abc import Callable

from domain.alerts import AlertOutcome, MetricAlert, chosen_database, metric_alert
from domain.entry_sync import EntrySync
from domain.errors import DomainError
from domain.linking import live_page, registry_key
from domain.models import Actor, CreateRequest, HeldAlert, Job, JobOutcome, SentryIssue
from domain.ports import AlertBudget, Entries, LinkRegistry, SyncState
from domain.sentry_events import IssueEvent
from domain.use_cases.create_alert_entry import CAPPED
from domain.use_cases.create_entry import CreateEntry

log = logging.getLogger(__name__)
HAS_ENTRY = "the incident already has its entry"


class ApplyMetricAlert:
    """Keeps one Notion entry per metric alert incident, for a "sentry.metric_alert" job: created when the incident
    turns critical or warning, moved to the status column's Complete group when it is resolved. Raises
    InvalidSettings, TrackerMisconfigured, Unavailable.

    `create` is the create form's path without what only a Sentry issue has (notes, details, refresh), so an
    incident has one entry however often it is reported; creations count against the rule's hourly cap.

    Sentry's webhooks are not ordered, and it closes an incident for good (a new breach is a new incident): an
    incident whose resolved came first still gets its entry, complete from the start. Each side writes its fact
    before it reads the other's, so when the two run at once on two workers, at least one sees the other.
    """

    def __init__(
        self,
        *,
        create: CreateEntry,
        entries: Entries,
        registry: LinkRegistry,
        sync: EntrySync,
        budget: AlertBudget,
        state: SyncState,
        limit: int,
        database_ids: tuple[str, ...],
        on_outcome: Callable[[AlertOutcome], None] = lambda outcome: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._create, self._entries, self._registry, self._sync = create, entries, registry, sync
        self._budget, self._state, self._limit, self._database_ids = budget, state, limit, database_ids
        self._on_outcome, self._clock = on_outcome, clock

    async def __call__(self, job: Job) -> JobOutcome:
        alert = metric_alert(job)
        if alert is None:
            return JobOutcome(outcome="skipped", reason="the webhook names no metric alert incident")
        chosen_database(alert.settings, self._database_ids)
        incident = _incident(alert)
        resolved = f"incident-resolved:{incident.installation_id}:{alert.incident_id}"
        if alert.action == "resolved":
            await self._state.put(resolved, "1")
            page_id = await self._page(incident)
            if page_id is None:
                return JobOutcome(outcome="skipped", reason="no entry was created for this incident")
            return await self._complete(alert, page_id)
        # The registry knows the entries this service made; the create path searches Notion for the rest.
        recalled = await self._registry.recall(registry_key(await self._entries.database(), incident))
        page_id = await live_page(self._entries, recalled)  # one trashed since gets a new entry, as an issue's does
        if page_id is None and not await self._budget.admit(_budget_key(alert), self._limit):
            page_id = await self._page(incident)  # capped, so no create will search
            if page_id is None:
                return await self._hold(alert)
        if page_id is not None:
            self._on_outcome("existing")
            return JobOutcome.of(page_id, (), reason=HAS_ENTRY)
        try:
            linked = await self._create(_request(alert, incident))
        except DomainError:
            await self._budget.refund(_budget_key(alert))
            raise
        if not linked.created:
            await self._budget.refund(_budget_key(alert))
        self._on_outcome("created" if linked.created else "existing")
        changes = (f"entry {linked.identifier} created",) if linked.created else ()
        if await self._state.get(resolved):  # before, or while, the entry was made
            completed = (await self._complete(alert, linked.page_id)).changes
            return JobOutcome.of(linked.page_id, (*changes, *completed), reason=HAS_ENTRY)
        return JobOutcome.of(linked.page_id, changes, reason=HAS_ENTRY)

    async def _hold(self, alert: MetricAlert) -> JobOutcome:
        self._on_outcome("capped")
        held = HeldAlert(
            rule=alert.rule,
            rule_title=alert.rule_title,
            subject=f"incident {alert.incident_id}",
            web_url=alert.web_url,
            at=self._clock(),
        )
        if await self._budget.hold(held):
            log.warning("metric alert %r reached its %d entries this hour", alert.rule_title, self._limit)
        return JobOutcome(outcome="skipped", reason=CAPPED)

    async def _page(self, incident: SentryIssue) -> str | None:
        # The create path's own lookup: the registry's page while it is a live entry, else a search by the link.
        found = await self._create.existing(incident)
        return found.page_id if found else None

    async def _complete(self, alert: MetricAlert, page_id: str) -> JobOutcome:
        # As a resolved Sentry issue moves its entry: to the configured option, or the Complete group.
        event = IssueEvent(
            issue_id=str(alert.incident_id), installation_id=alert.installation_id, transition="resolved"
        )
        update = await self._sync.apply(page_id, event)
        return JobOutcome.of(page_id, update.changes(), reason="the entry is complete already")


def _budget_key(alert: MetricAlert) -> str:
    # Metric and issue alert rules are numbered apart in Sentry: the same id is two rules, with two caps.
    return f"metric:{alert.rule}"


def _incident(alert: MetricAlert) -> SentryIssue:
    # Keyed apart from Sentry issues, whose ids may equal an incident's.
    return SentryIssue(
        issue_id=alert.incident_id, web_url=alert.web_url, installation_id=f"{alert.installation_id}:incident"
    )


def _request(alert: MetricAlert, incident: SentryIssue) -> CreateRequest:
    return CreateRequest(
        sentry=incident,
        actor=Actor(name=f"the metric alert “{alert.rule_title}”"),
        title=alert.title,
        description=alert.description,
        assignee_id=alert.settings.assignee,
        link_label="Sentry metric alert: ",
        columns=alert.settings.columns,
        status=alert.settings.status,
    )
