import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from domain.alerts import issue_alert, metric_alert
from domain.errors import DomainError, InvalidLink, InvalidSettings, InvalidWebhook
from domain.linking import NOT_LINKED
from domain.models import (
    AlertSettings,
    CreateRequest,
    Entry,
    EntryUpdate,
    Job,
    JobOutcome,
    LinkedEntry,
    LinkRequest,
    Option,
)
from domain.notion_events import parse
from domain.ports import Workspace
from domain.queries import notion_id
from domain.use_cases.apply_notion_comment import UNLINKED
from domain.use_cases.apply_notion_page import NOT_AN_ENTRY
from domain.use_cases.check_alert_settings import CheckAlertSettings
from domain.use_cases.create_alert_entry import ELSEWHERE
from domain.use_cases.create_entry import CreateEntry
from domain.use_cases.link_entry import LinkEntry
from domain.use_cases.list_assignees import ListAssignees
from domain.use_cases.list_column_options import ListColumnOptions
from domain.use_cases.reconcile import Reconcile
from domain.use_cases.run_job import JobHandler
from domain.use_cases.search_entries import SearchEntries

log = logging.getLogger(__name__)

# What a database's job handler answers for a job about another database's entry: the next one is asked.
NOT_OURS = frozenset({NOT_LINKED, NOT_AN_ENTRY, ELSEWHERE, UNLINKED})
UNCONFIGURED = "a data source none of the configured databases has"


@dataclass(frozen=True)
class Place:
    """One configured database: its name (empty when it is the only one), the Sentry projects routed to it, its
    workspace and its use cases."""

    name: str
    database_id: str
    data_source_id: str  # as configured; empty until Notion's is read
    projects: frozenset[str]
    workspace: Workspace
    create_entry: CreateEntry
    link_entry: LinkEntry
    search_entries: SearchEntries
    list_assignees: ListAssignees
    check_alert_settings: CheckAlertSettings
    list_column_options: ListColumnOptions
    reconcile: Reconcile
    jobs: Mapping[str, JobHandler]


class Databases:
    """The configured Notion databases, and which of them each request, option list and job is about. Raises what
    the databases' use cases raise; InvalidSettings for a database the create form names that is not configured.

    Each database keeps its own workspace adapter (its columns, its cached schema) on the one Notion client and
    token, and its own single-database use cases: this directory only routes between them. The create form goes to
    the database it names, else to the Sentry project's, else to the default (the first); search and link look in
    the project's database first, then in the others; a Sentry event goes to the database that holds the issue's
    entry, a Notion event to the database of its data source; reconcile runs in each. One database routes nothing.
    """

    def __init__(self, places: Sequence[Place]) -> None:
        self._places = tuple(places)
        self._several = len(self._places) > 1

    def for_project(self, project: str) -> Place:
        return next((p for p in self._places if project in p.projects), self._places[0])

    def named(self, name_or_id: str) -> Place | None:
        wanted, folded = notion_id(name_or_id), name_or_id.strip().casefold()
        return next(
            (p for p in self._places if p.database_id == wanted or (p.name and p.name.casefold() == folded)), None
        )

    def all(self) -> tuple[Place, ...]:
        return self._places

    async def create_entry(self, request: CreateRequest) -> LinkedEntry:
        place = self.named(request.database) if request.database else self.for_project(request.project)
        if place is None:
            raise InvalidSettings(
                f"The database {request.database[:60]!r} is not one this integration is configured for; "
                "choose one from the list (NOTION_CONFIG names them)."
            )
        return await place.create_entry(request)

    async def link_entry(self, request: LinkRequest) -> LinkedEntry:
        # A pasted link may name an entry of any configured database: each says whether it is one of its own.
        refused: InvalidLink | None = None
        for place in self._ordered(request.project):
            try:
                return await place.link_entry(request)
            except InvalidLink as exc:
                refused = refused or exc
        assert refused is not None  # there is at least one database
        if self._several:
            names = ", ".join(p.name for p in self._places)
            raise InvalidLink(
                f"That Notion page is not an entry of the configured databases ({names}); "
                "pick an entry from the list or paste a link to one."
            ) from refused
        raise refused

    async def search_entries(self, text: str, project: str = "") -> list[Option]:
        first, *others = self._ordered(project)
        found = await asyncio.gather(
            first.search_entries(text), *(o.search_entries(text) for o in others), return_exceptions=True
        )
        if isinstance(found[0], BaseException):
            raise found[0]
        options = list(found[0])
        for place, more in zip(others, found[1:], strict=True):
            if isinstance(more, DomainError):  # one unshared database must not empty the others' answers
                log.warning("search in %s failed: %s", place.name, more.message)
            elif isinstance(more, BaseException):
                raise more
            else:
                options += [o.model_copy(update={"label": f"{place.name}: {o.label}"}) for o in more]
        return options

    async def list_assignees(self, query: str, project: str = "") -> list[Option]:
        # People belong to the workspace: each database's list is the same, cached once.
        return await self.for_project(project).list_assignees(query)

    async def list_databases(self, query: str, project: str = "") -> list[Option]:
        """The databases whose name matches, the project's first and marked as the default (when Sentry says which
        project the form is for)."""
        options = []
        for place in self._ordered(project):
            title = (await place.workspace.database()).title
            if query.strip().casefold() in title.casefold():
                options.append(Option(label=title, value=place.database_id))
        if self._several and project and options and options[0].value == self.for_project(project).database_id:
            options[0] = options[0].model_copy(update={"default": True})
        return options

    async def check_alert_settings(self, settings: AlertSettings) -> str:
        # An unknown database is refused by the default's check, which names every configured one.
        return await (self.named(settings.database) or self._places[0]).check_alert_settings(settings)

    async def list_column_options(
        self, column: str | None, query: str, project: str = "", *, database: str = ""
    ) -> list[Option]:
        # The form's database field, when it has one, names the database; otherwise the project's.
        place = self.named(database) if database else self.for_project(project)
        return await place.list_column_options(column, query) if place else []

    async def reconcile(self) -> list[tuple[Entry, EntryUpdate | str]]:
        return [found for place in self._places for found in await place.reconcile()]

    def jobs(self) -> dict[str, JobHandler]:
        """The worker's table: each kind of job, run by the database it is about."""
        if not self._several:
            return dict(self._places[0].jobs)
        return {kind: self._routed(kind) for kind in self._places[0].jobs}

    def _routed(self, kind: str) -> JobHandler:
        async def run(job: Job) -> JobOutcome:
            places = await self._for_job(job)
            if not places:
                return JobOutcome(outcome="skipped", reason=UNCONFIGURED)
            first: JobOutcome | None = None
            for place in places:
                done = await place.jobs[kind](job)
                if not _not_ours(done):
                    return done
                first = first or done
            assert first is not None
            return first

        return run

    async def _for_job(self, job: Job) -> Sequence[Place]:
        """The databases that may hold what the job is about, the likeliest first."""
        if job.kind.startswith("notion."):
            try:
                source = parse(job.body).data_source_id
            except InvalidWebhook:
                return self._places  # the handler says what is wrong with it
            if source is None:  # a comment names its page only
                return self._places
            wanted = notion_id(source)
            for place in self._places:
                known = place.data_source_id or (await place.workspace.database()).data_source_id
                if notion_id(known) == wanted:
                    return (place,)
            return ()
        if job.kind == "sentry.metric_alert" and (incident := metric_alert(job)):
            return [self.named(incident.settings.database) or self._places[0]]  # its entry is in the rule's database
        if job.kind == "sentry.event_alert" and (alert := issue_alert(job)):
            # The rule's database first; the issue may have its entry in another already.
            return self._ordered_from(self.named(alert.settings.database) or self._places[0])
        return self._places

    def _ordered(self, project: str) -> list[Place]:
        return self._ordered_from(self.for_project(project))

    def _ordered_from(self, first: Place) -> list[Place]:
        return [first, *(p for p in self._places if p is not first)]


def _not_ours(done: JobOutcome) -> bool:
    return done.outcome == "skipped" and done.reason in NOT_OURS
