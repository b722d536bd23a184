import enum
import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from domain.models import FormColumn, SyncPolicy
from domain.queries import notion_id
from domain.sentry_events import DETAILS


# Every missing or wrong environment variable at once, one line each naming the variable and what is expected.
class ConfigError(Exception):
    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


# What a command uses. Settings.from_env reads the variables of the needs it is given, and only those, so that
# `dead-letters` works with nothing but Redis configured. Redis and LOG_LEVEL are read for every command (optional
# unless REDIS is named); Sentry's API variables with NOTION, since syncing reads Sentry when it can.
class Need(enum.Enum):
    NOTION = "NOTION_TOKEN, NOTION_CONFIG and Notion's limits"
    NOTION_CONFIG = "NOTION_CONFIG alone: what the database is and which columns the forms offer"
    CLIENT_SECRET = "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET, to verify Sentry's requests"
    REDIS = "REDIS_URL or REDIS_HOST: the job queue"
    SENTRY_API = "SENTRY_API_TOKEN and SENTRY_ORG"


# What the HTTP service uses; `check` asks for the same.
SERVE = frozenset({Need.NOTION, Need.CLIENT_SECRET})


class ColumnNames(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    assignee: str = Field(default="Assignee", min_length=1)
    id: str = Field(default="ID", min_length=1)
    sentry_url: str = Field(default="Sentry Link", min_length=1)
    # Optional: kept in step with Sentry when named.
    status: str = ""
    level: str = ""
    events: str = ""
    users: str = ""
    first_seen: str = ""
    last_seen: str = ""
    release: str = ""
    environment: str = ""

    def details(self) -> tuple[tuple[str, str], ...]:
        return tuple((key, getattr(self, key)) for key in DETAILS if getattr(self, key))


class NotionConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # With several databases: what Sentry shows before the entry's ID ("Payments#PAY-12") and the form lists, and
    # the Sentry project slugs whose issues go there. Alone, the database goes by its Notion title.
    name: str = ""
    projects: tuple[str, ...] = ()
    database_id: str
    data_source_id: str = ""
    column_names: ColumnNames = ColumnNames()
    sync: SyncPolicy = SyncPolicy()
    # The database's own columns offered in the create form and the alert rule's settings.
    form_columns: tuple[FormColumn, ...] = ()

    @field_validator("form_columns")
    @classmethod
    def _once_each(cls, columns: tuple[FormColumn, ...]) -> tuple[FormColumn, ...]:
        names = [c.name for c in columns]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"names {', '.join(twice)} more than once")
        return columns

    @field_validator("database_id", "data_source_id")
    @classmethod
    def _notion_id(cls, value: str, info: ValidationInfo) -> str:
        if not value and info.field_name == "data_source_id":
            return ""
        if found := notion_id(value):
            return found
        raise ValueError("expected a Notion ID (32 hex digits, dashes optional) or a link to the database")


class NotionDatabases(BaseModel):
    """NOTION_CONFIG's form for several databases; `default` (the first when unset) takes unrouted projects."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    databases: tuple[NotionConfig, ...] = Field(min_length=1)
    default: str = ""

    def problems(self) -> list[str]:
        found: list[str] = []
        names: set[str] = set()
        routed: dict[str, str] = {}
        for index, database in enumerate(self.databases):
            name = database.name.strip().casefold()
            if not name:
                found.append(f'NOTION_CONFIG databases.{index} has no name; name each database, like "Payments".')
            elif name in names:
                found.append(f"NOTION_CONFIG names the database {database.name!r} twice; give each its own name.")
            names.add(name)
            for project in database.projects:
                if (earlier := routed.setdefault(project, database.name)) != database.name:
                    found.append(
                        f"NOTION_CONFIG routes the Sentry project {project!r} to both {earlier!r} and "
                        f"{database.name!r}; route it to one."
                    )
        if self.default and self.default.strip().casefold() not in names:
            listed = ", ".join(repr(d.name) for d in self.databases)
            found.append(f"NOTION_CONFIG default {self.default!r} is none of the databases' names ({listed}).")
        return found

    def ordered(self) -> tuple[NotionConfig, ...]:
        """The default first, then the others as configured."""
        wanted = self.default.strip().casefold()
        first = next((d for d in self.databases if d.name.strip().casefold() == wanted), self.databases[0])
        return (first, *(d for d in self.databases if d is not first))


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Empty or None when the command does not use them (see Need): nothing then builds a Notion client.
    notion_token: str = Field(default="", repr=False)
    notion: NotionConfig | None = None  # the default database
    notion_databases: tuple[NotionConfig, ...] = ()  # every configured database, the default first
    client_secrets: tuple[str, ...] = Field(default=(), repr=False)
    notion_webhook_secrets: tuple[str, ...] = Field(default=(), repr=False)
    cache_timeout_s: int = 21600
    redis_url: str | None = None
    redis_variables: str = "REDIS_URL"  # what the user set, for messages that say what to fix
    redis_prefix: str = "sentry-notion"
    notion_api_base_url: str = "https://api.notion.com"
    notion_rate_limit: int = 150
    notion_search_share: float = Field(default=0.5, gt=0, le=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    sentry_api_token: str = Field(default="", repr=False)
    sentry_url: str = "https://sentry.io"
    sentry_org: str = ""
    alert_create_limit: int = 20  # entries an alert rule may create an hour
    sandbox: bool = False

    @classmethod
    def for_sandbox(cls, client_secret: str, notion_webhook_secret: str) -> "Settings":
        # Nothing is read from the environment: the sandbox needs no Notion, no Redis and no secret of yours.
        return cls(
            notion_token="sandbox",
            notion=NotionConfig(database_id="00000000000000000000000000000000"),
            client_secrets=(client_secret,),
            notion_webhook_secrets=(notion_webhook_secret,),
            sandbox=True,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str], needs: Collection[Need] = SERVE) -> "Settings":
        problems: list[str] = []

        def text(name: str, default: str | None = None) -> str:
            # An empty value counts as unset: `NOTION_TOKEN=` in a .env file is a variable nobody filled in.
            value = env.get(name, "").strip()
            if value:
                return value
            if default is None:
                problems.append(f"{name} is not set; {_EXPECTED[name]}.")
                return ""
            return default

        def whole(name: str, default: int, low: int, high: int) -> int:
            raw = text(name, str(default))
            if raw.isdigit() and low <= int(raw) <= high:
                return int(raw)
            problems.append(f"{name} must be a whole number from {low} to {high}, got {raw!r}.")
            return default

        def share(name: str, default: float) -> float:
            raw = text(name, str(default))
            try:
                value = float(raw)
            except ValueError:
                value = 0.0
            if 0 < value <= 1:
                return value
            problems.append(f"{name} must be a fraction above 0 and at most 1, got {raw!r}.")
            return default

        def web_url(name: str, default: str) -> str:
            url = text(name, default)
            if url.startswith(("http://", "https://")):
                return url
            problems.append(f"{name} must be an http(s) URL, got {url!r}.")
            return default

        values: dict[str, object] = {}
        if Need.NOTION in needs:
            values["notion_token"] = text("NOTION_TOKEN")
        # After the token, so that problems are listed in the order the variables are documented.
        if (Need.NOTION in needs or Need.NOTION_CONFIG in needs) and (raw := text("NOTION_CONFIG")):
            values |= _databases(raw, problems)
        if Need.NOTION in needs:
            values["notion_api_base_url"] = web_url("NOTION_API_BASE_URL", "https://api.notion.com")
            values["cache_timeout_s"] = whole("CACHE_TIMEOUT", 21600, 1, 30 * 86400)
            values["notion_rate_limit"] = whole("NOTION_RATE_LIMIT", 150, 1, 1_000_000)
            values["notion_search_share"] = share("NOTION_SEARCH_SHARE", 0.5)
            values["alert_create_limit"] = whole("ALERT_CREATE_LIMIT", 20, 0, 1_000_000)
        if Need.CLIENT_SECRET in needs:
            name = "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET"
            values["client_secrets"] = tuple(s.strip() for s in env.get(name, "").split(",") if s.strip())
            if not values["client_secrets"]:
                problems.append(f"{name} is not set; {_EXPECTED[name]}.")
        if Need.CLIENT_SECRET in needs or Need.NOTION in needs:
            # Optional: without it, Notion's events are refused (its handshake is still taken), and workers read
            # each entry before writing it, as nothing tells them of its changes.
            values["notion_webhook_secrets"] = tuple(
                s.strip() for s in env.get("NOTION_WEBHOOK_SECRET", "").split(",") if s.strip()
            )
        if Need.NOTION in needs or Need.SENTRY_API in needs:
            token = env.get("SENTRY_API_TOKEN", "").strip()
            org = env.get("SENTRY_ORG", "").strip()
            if Need.SENTRY_API in needs and not token:
                problems.append(f"SENTRY_API_TOKEN is not set; {_EXPECTED['SENTRY_API_TOKEN']}.")
            if (token or Need.SENTRY_API in needs) and not org:
                problems.append(f"SENTRY_ORG is not set; {_EXPECTED['SENTRY_ORG']}.")
            values |= {"sentry_api_token": token, "sentry_org": org}
            values["sentry_url"] = web_url("SENTRY_URL", "https://sentry.io")
        values |= cls._redis(env, required=Need.REDIS in needs, problems=problems)
        values["redis_prefix"] = text("REDIS_PREFIX", "sentry-notion")
        level = text("LOG_LEVEL", "info").lower()
        if level in ("debug", "info", "warning", "error"):
            values["log_level"] = level
        else:
            problems.append(f"LOG_LEVEL must be one of debug, info, warning, error, got {level!r}.")
        if problems:
            raise ConfigError(problems)
        return cls.model_validate(values)

    @staticmethod
    def _redis(env: Mapping[str, str], *, required: bool, problems: list[str]) -> dict[str, object]:
        url = env.get("REDIS_URL", "").strip()
        if url:
            if not url.startswith(("redis://", "rediss://", "unix://")):
                problems.append("REDIS_URL must start with redis://, rediss:// or unix://.")
            return {"redis_url": url}
        host, port = env.get("REDIS_HOST", "").strip(), env.get("REDIS_PORT", "").strip() or "6379"
        if not host:
            if required:
                problems.append(f"REDIS_URL is not set; {_EXPECTED['REDIS_URL']}.")
            return {}
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            problems.append(f"REDIS_PORT must be a whole number from 1 to 65535, got {port!r}.")
        named = "REDIS_HOST and REDIS_PORT" if env.get("REDIS_PORT", "").strip() else "REDIS_HOST"
        return {"redis_url": f"redis://{host}:{port}/0", "redis_variables": named}

    @property
    def databases(self) -> tuple[NotionConfig, ...]:
        # Settings built with `notion` alone (tests, the sandbox) configure that one database.
        return self.notion_databases or ((self.notion,) if self.notion else ())

    @property
    def database_ids(self) -> tuple[str, ...]:
        # The databases alert rules and the create form may name, the default first.
        return tuple(d.database_id for d in self.databases)

    @property
    def tracker_backend(self) -> str:
        return "sandbox" if self.sandbox else "notion"

    @property
    def sentry_backend(self) -> str:
        return "api" if self.sentry_api_token else "none"

    @property
    def cache_backend(self) -> str:
        return "redis" if self.redis_url else "memory"

    @property
    def seen_pages_backend(self) -> str:
        # Entries are written as last seen only while Notion's events tell of every change made to them, and those
        # are applied (read) only with Sentry's API; otherwise each is read before it is written.
        return self.cache_backend if self.notion_webhook_secrets and self.sentry_api_token else "none"

    @property
    def rate_limit_key(self) -> str:
        # Notion's budget belongs to the token: replicas sharing a token share one key, without storing it.
        return f"{self.redis_prefix}:ratelimit:{hashlib.sha256(self.notion_token.encode()).hexdigest()[:16]}"


_EXPECTED = {
    "NOTION_TOKEN": "expected the Notion integration's secret (ntn_… or secret_…)",
    "NOTION_CONFIG": (
        'expected JSON like {"database_id": "<32 hex digits or database link>", '
        '"column_names": {"assignee": "Assignee", "id": "ID", "sentry_url": "Sentry Link"}}, or several databases '
        'as {"databases": [{"name": "Payments", "database_id": "…", "projects": ["payments"]}, …], "default": "…"}'
    ),
    "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET": (
        "expected the Client Secret of the Sentry internal integration (comma-separated to rotate)"
    ),
    "SENTRY_API_TOKEN": "expected a token of the Sentry internal integration, which this command asks Sentry with",
    "SENTRY_ORG": "expected the Sentry organization's slug, needed with SENTRY_API_TOKEN",
    "REDIS_URL": "expected the Redis that holds the job queue, like redis://redis:6379/0 (or set REDIS_HOST)",
}


def _databases(raw: str, problems: list[str]) -> dict[str, object]:
    # One database as an object of its own, or several under "databases".
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None  # pydantic says where the JSON breaks
    try:
        several = (
            NotionDatabases.model_validate_json(raw) if isinstance(parsed, dict) and "databases" in parsed else None
        )
        databases = several.ordered() if several else (NotionConfig.model_validate_json(raw),)
    except ValidationError as exc:
        problems.append(f"NOTION_CONFIG is not valid: {_first_error(exc)}; {_EXPECTED['NOTION_CONFIG']}.")
        return {}
    if several and (found := several.problems()):
        problems.extend(found)
        return {}
    return {"notion": databases[0], "notion_databases": databases}


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
