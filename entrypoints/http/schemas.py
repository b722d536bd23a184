import json
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from domain.alerts import alert_settings
from domain.form_columns import COLUMN_FIELD
from domain.models import Actor, AlertSettings, CreateRequest, LinkedEntry, LinkRequest, Option, SentryIssue
from domain.queries import notion_id


def _blank_to_none(value: Any) -> Any:
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _notion_page(value: str) -> str:
    if found := notion_id(value):
        return found
    raise ValueError("expected a Notion page ID or a link to the page")


Optional = Annotated[str | None, BeforeValidator(_blank_to_none)]
HttpUrl = Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CreateFields(_Body):
    # The database's own columns arrive as fields named after them; a column the form does not offer is ignored.
    model_config = ConfigDict(extra="allow")

    title: Annotated[str, AfterValidator(_not_blank)]
    description: Optional = None
    assignee: Optional = None
    database: Optional = None  # the database chosen in the form; unset: the project's

    def columns(self) -> dict[str, str]:
        return {
            name.removeprefix(COLUMN_FIELD): text
            for name, value in (self.model_extra or {}).items()
            if name.startswith(COLUMN_FIELD) and (text := _column_text(value))
        }


def _column_text(value: Any) -> str:
    # Sentry's form sends a select's value as a string; a list (a select with several values) reads as text would.
    if isinstance(value, list):
        return ", ".join(_column_text(v) for v in value if _column_text(v))
    return str(value).strip() if isinstance(value, str | int | float) and not isinstance(value, bool) else ""


class LinkFields(_Body):
    issue: Annotated[str, AfterValidator(_notion_page)]


class SentryActor(_Body):
    name: str = "a Sentry user"


class SentryProject(_Body):
    slug: str = ""


F = TypeVar("F", CreateFields, LinkFields)


class IssueLinkBody(_Body, Generic[F]):  # what getsentry/sentry's IssueLinkRequester.body POSTs to the URIs
    fields: F
    issueId: int
    installationId: Annotated[str, Field(min_length=1)]
    webUrl: HttpUrl
    actor: SentryActor = SentryActor()
    project: SentryProject = SentryProject()

    def sentry(self) -> SentryIssue:
        return SentryIssue(
            issue_id=self.issueId,
            web_url=self.webUrl,
            installation_id=self.installationId,
        )

    def who(self) -> Actor:
        return Actor(name=self.actor.name)


class CreateBody(IssueLinkBody[CreateFields]):
    def to_request(self) -> CreateRequest:
        return CreateRequest(
            sentry=self.sentry(),
            actor=self.who(),
            title=self.fields.title,
            description=self.fields.description or "",
            assignee_id=self.fields.assignee,
            columns=self.fields.columns(),
            project=self.project.slug,
            database=self.fields.database or "",
        )


class LinkBody(IssueLinkBody[LinkFields]):
    def to_request(self) -> LinkRequest:
        return LinkRequest(sentry=self.sentry(), actor=self.who(), page_id=self.fields.issue, project=self.project.slug)


class RuleField(_Body):
    name: str
    value: str | int | float | bool | None = None


class AlertRuleBody(_Body):  # what getsentry/sentry's SentryAppAlertRuleActionRequester.body POSTs
    fields: list[RuleField]
    installationId: Annotated[str, Field(min_length=1)]

    def settings(self) -> AlertSettings:
        return alert_settings(f.model_dump() for f in self.fields)


def linked(issue: LinkedEntry) -> dict[str, str]:
    return {"webUrl": issue.web_url, "project": issue.project, "identifier": issue.identifier}


def dependent_database(raw: str) -> str:
    # Sentry sends the fields a select depends on as JSON text: {"database": "<id>"}; anything else names none.
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return ""
    database = data.get("database") if isinstance(data, dict) else None
    return database if isinstance(database, str) else ""


def options(found: list[Option]) -> list[dict[str, str | bool]]:
    # Sentry preselects the last option marked "default".
    return [{"label": o.label, "value": o.value} | ({"default": True} if o.default else {}) for o in found]


def describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        problems.append(f"{where}: {error['msg']}")
    return "Invalid request: " + "; ".join(problems)
