from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

T = TypeVar("T")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Cached(Frozen, Generic[T]):
    value: T
    fetched_at: float  # seconds since the epoch: replicas compare it, so not a monotonic clock


class Span(Frozen):
    text: str
    link: str | None = None
    code: bool = False
    bold: bool = False
    italic: bool = False


BlockKind = Literal["paragraph", "heading", "bullet", "numbered", "quote", "code", "divider"]


class Block(Frozen):
    kind: BlockKind
    spans: tuple[Span, ...] = ()
    language: str | None = None


class SentryIssue(Frozen):
    issue_id: int
    web_url: str
    installation_id: str


class Actor(Frozen):
    name: str


class EntryDraft(Frozen):
    title: str
    body: tuple[Block, ...]
    sentry_url: str
    assignee_id: str | None = None
    choices: dict[str, tuple[str, ...]] = {}  # status, select or multi-select column -> options, as Notion names them


class Entry(Frozen):
    page_id: str
    url: str
    title: str
    identifier: str
    sentry_url: str | None = None
    in_database: bool = True


class Database(Frozen):
    title: str  # the configured name when several databases are, else Notion's title
    scope: str
    workspace: str = ""  # the workspace's id; empty in descriptions cached by older versions
    data_source_id: str = ""

    @property
    def people(self) -> str:
        """Whose people: the workspace's, which its databases share (one token, one list)."""
        return self.workspace or self.scope


# What Sentry stores on its issue: the entry's URL, the database's name and the entry's ID.
class LinkedEntry(Frozen):
    web_url: str
    project: str
    identifier: str
    created: bool = False
    page_id: str = ""


class Assignee(Frozen):
    id: str
    name: str
    email: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.email})" if self.email else self.name


class Job(Frozen):
    """Work taken from a webhook, done later by a worker; `kind` says which use case does it.

    Kinds: "sentry.issue" brings the linked entry in step with a Sentry issue (a webhook, or the refresh that
    create and link queue), "sentry.comment" carries a Sentry comment to the entry.
    """

    kind: str
    key: str  # the event's business key: a redelivery of the same event has the same key
    action: str = ""
    body: dict[str, Any]  # the webhook's JSON as Sentry sent it
    received_at: float  # seconds since the epoch on this service's clock: for the record, never to order events
    sent_at: int | None = None  # Sentry-Hook-Timestamp, whole seconds on Sentry's clock
    coalesce: bool = False  # later jobs with the same key merge into this one until it starts

    @model_validator(mode="before")
    @classmethod
    def _queued_before_kinds(cls, data: Any) -> Any:
        # Jobs queued by versions without kinds named Sentry's resource instead; a worker still runs them.
        if isinstance(data, dict) and "kind" not in data and isinstance(data.get("resource"), str):
            return {**data, "kind": f"sentry.{data['resource']}"}
        return data


class PendingToken(Frozen):
    """A token from Notion's subscription handshake, not yet configured by an operator."""

    token: str
    received_at: float  # seconds since the epoch


class DeadLetter(Frozen):
    id: str
    job: Job
    attempts: int
    error: str
    failed_at: float


SentryStatus = Literal["resolved", "unresolved", "ignored"]


class SentryIssueState(Frozen):
    """A Sentry issue as its REST API describes it now."""

    issue_id: str
    short_id: str
    status: str  # resolved, unresolved, ignored
    substatus: str | None = None  # regressed, escalating, ongoing, new, archived_until_escalating, ...
    status_changed_at: float | None = None  # Sentry's record of its last status change, Unix seconds
    assignee_id: str | None = None  # a user's id; None for nobody or a team
    assignee_email: str | None = None
    assignee_is_team: bool = False
    level: str | None = None
    events: int | None = None
    users: int | None = None
    first_seen: str | None = None  # ISO 8601 as Sentry gives it
    last_seen: str | None = None
    release: str | None = None
    environment: str | None = None


class SentryMember(Frozen):
    """A member of the Sentry organization who has joined (an invitation has no user yet)."""

    user_id: str
    email: str


class NotionComment(Frozen):
    """A comment as Notion shows it now."""

    id: str
    page_id: str | None  # the page it is on; None for a comment on one of the page's blocks
    author_id: str
    author_name: str
    text: str


class FormColumn(Frozen):
    """A column of the database offered in the create form and the alert rule's settings (NOTION_CONFIG form_columns).
    A "select" is a status or select column, one option chosen from a list; a "multi_select" is comma-separated text.
    A plain string names a select."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    type: Literal["select", "multi_select"] = "select"

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data


class ChoiceColumn(Frozen):
    """A status, select or multi-select column of the database, with its options."""

    name: str
    kind: Literal["status", "select", "multi_select"]
    options: tuple[str, ...]


class StatusColumn(Frozen):
    name: str
    id: str = ""  # the property's id, as Notion's events name changed properties
    kind: Literal["status", "select"]
    options: tuple[str, ...]
    groups: dict[str, tuple[str, ...]] = {}  # a status column's groups (To-do, In progress, Complete) and their options


class EntryState(Frozen):
    status: str | None = None
    assignee_ids: tuple[str, ...] = ()
    details: dict[str, str | int | None] = {}


class EntrySnapshot(Frozen):
    """An entry as one read of its Notion page shows it, trashed or not."""

    entry: Entry
    state: EntryState
    in_data_source: bool  # a page of the configured database, whether or not it is in the trash
    in_trash: bool = False
    edited_at: float | None = None  # Notion's last_edited_time, Unix seconds on Notion's clock


class EntryUpdate(Frozen):
    status: str | None = None  # None leaves it as it is
    assignee_ids: tuple[str, ...] | None = None
    details: dict[str, str | int | None] = {}
    sentry_status: SentryStatus | None = None  # written to Sentry instead, when the entry's status won
    sentry_assignee: str | None = None  # the Sentry user assigned ("" nobody), when the entry's assignee went there
    skipped: str = ""  # why nothing could be written, when the entry could not be read

    def __bool__(self) -> bool:
        return (
            self.status is not None
            or self.assignee_ids is not None
            or bool(self.details)
            or self.sentry_status is not None
            or self.sentry_assignee is not None
        )

    def changes(self) -> tuple[str, ...]:
        """Each column written, as "status → Done"."""
        changes = [f"status → {self.status}"] if self.status is not None else []
        if self.assignee_ids is not None:
            changes.append(f"assignee → {', '.join(self.assignee_ids) or 'nobody'}")
        if self.sentry_status is not None:
            changes.append(f"Sentry status → {self.sentry_status}")
        if self.sentry_assignee is not None:
            changes.append(f"Sentry assignee → {self.sentry_assignee or 'nobody'}")
        return (*changes, *(f"{key} → {value}" for key, value in self.details.items()))


StatusWinner = Literal["latest", "notion", "sentry"]


class JobOutcome(Frozen):
    """What a job did: "applied" wrote `changes` to the entry, "unchanged" found nothing to write, "skipped"
    had nothing to act on; `reason` says why for the last two."""

    outcome: Literal["applied", "skipped", "unchanged"]
    entry: str = ""  # the Notion page id, once the job found it
    changes: tuple[str, ...] = ()
    reason: str = ""

    @classmethod
    def of(cls, entry: str, changes: tuple[str, ...], *, reason: str) -> JobOutcome:
        """Applied when something changed, unchanged (for `reason`, which the worker logs) otherwise."""
        if changes:
            return cls(outcome="applied", entry=entry, changes=changes)
        return cls(outcome="unchanged", entry=entry, reason=reason)


class SyncPolicy(Frozen):
    """What follows Sentry into Notion, and Notion into Sentry. A status mapping names an option (or a Sentry
    status), or None to leave the status alone."""

    model_config = ConfigDict(frozen=True, extra="forbid")  # a misspelt switch in NOTION_CONFIG is an error

    status: bool = True
    status_options: dict[str, str | None] = {}  # by transition; unnamed ones take the defaults
    status_to_sentry: dict[str, SentryStatus | None] = {}  # by Notion option; unnamed ones follow their group
    status_winner: StatusWinner = "latest"  # which side wins when both changed since they last agreed
    # Read each entry before writing Sentry's change to it: exact under "latest" for a Notion change whose event
    # has not arrived yet, at about three Notion calls a change instead of one (README, "When both sides change").
    read_before_write: bool = False
    assignee: bool = True
    comments: bool = True  # Sentry comments become Notion comments
    comments_to_sentry: bool = True  # Notion comments become Sentry notes

    def named_options(self) -> tuple[tuple[str, str], ...]:
        """Each status option the policy names, with the setting that names it, for check to find in Notion."""
        return (
            *(("sync.status_options", name) for name in self.status_options.values() if name),
            *(("sync.status_to_sentry", name) for name in self.status_to_sentry),
        )


# What the sync does through Sentry's API (read issues, write to them: status, assignee, notes; list members) and
# through Notion's capabilities beyond the database (comments, people's emails).
Access = Literal["read", "write", "members", "notion_comments", "notion_emails"]


class Finding(Frozen):
    check: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # ok, yet something works less well than it could: shown, without failing the check
    # What a failed check takes from the sync, and the few words the features it turns off give as the reason.
    rules_out: frozenset[Access] = frozenset()
    because: str = ""


class Feature(Frozen):
    """A part of the sync, on or off as configured and as check found the services, and why."""

    name: str
    on: bool
    detail: str


class Diagnosis(Frozen):
    findings: tuple[Finding, ...]
    features: tuple[Feature, ...]

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)


class Option(Frozen):
    label: str
    value: str
    default: bool = False  # Sentry preselects it


class EntryQuery(Frozen):
    words: tuple[str, ...] = ()
    number: int | None = None
    prefix: str | None = None
    page_id: str | None = None
    limit: int = 20


class CreateRequest(Frozen):
    sentry: SentryIssue
    actor: Actor
    title: str
    description: str = ""
    assignee_id: str | None = None
    link_label: str = "Sentry issue: "  # what the body's first line calls the Sentry link
    columns: dict[str, str] = {}  # the form's text for each column it offers, by the column's name
    status: str | None = None  # an alert rule's fixed option of the status column
    project: str = ""  # the Sentry project's slug, which routes the entry to its database
    database: str = ""  # the database chosen in the form (its id or name); empty: the project's


class LinkRequest(Frozen):
    sentry: SentryIssue
    actor: Actor
    page_id: str
    project: str = ""  # the Sentry project's slug: its database is looked in first


class QueueStats(Frozen):
    depth: int  # jobs waiting or in progress, retries included
    oldest_age_s: float  # age of the oldest of them, by Redis's clock; 0 when there are none
    dead_letters: int
    workers: int  # workers seen lately


class DependencyHealth(Frozen):
    name: str
    findings: list[Finding]  # empty until the first probe ends
    checked_at: float | None  # seconds since the epoch when the last probe ended

    @property
    def up(self) -> bool:
        return self.checked_at is not None and all(f.ok for f in self.findings)


class AlertSettings(Frozen):
    """What the author of an alert rule chose in the "Create a Notion entry" action's settings."""

    database: str = ""  # the configured database's id; empty in rules saved before the field existed
    assignee: str | None = None
    comment_on_repeat: bool = False  # a comment on the entry each time the rule fires again for its issue
    status: str | None = None  # an option of the status column for the entries the rule creates
    columns: dict[str, str] = {}  # fixed values of the columns the form offers, by the column's name


class HeldAlert(Frozen):
    """An alert that would have created an entry, held back by the hourly cap of its rule."""

    rule: str  # the rule's id, as Sentry names it in the webhook
    rule_title: str
    subject: str  # the Sentry issue's id, or "incident <id>" for a metric alert
    web_url: str
    at: float  # seconds since the epoch
