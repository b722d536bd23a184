import hashlib
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from domain.models import SyncPolicy
from domain.queries import notion_id
from domain.sentry_events import DETAILS


# A missing or wrong environment variable; the message names it and says what is expected.
class ConfigError(Exception):
    pass


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

    database_id: str
    data_source_id: str = ""
    column_names: ColumnNames = ColumnNames()
    sync: SyncPolicy = SyncPolicy()

    @field_validator("database_id", "data_source_id")
    @classmethod
    def _notion_id(cls, value: str, info: ValidationInfo) -> str:
        if not value and info.field_name == "data_source_id":
            return ""
        if found := notion_id(value):
            return found
        raise ValueError("expected a Notion ID (32 hex digits, dashes optional) or a link to the database")


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    notion_token: str = Field(repr=False)
    notion: NotionConfig
    client_secrets: tuple[str, ...] = Field(repr=False)
    notion_webhook_secrets: tuple[str, ...] = Field(default=(), repr=False)
    cache_timeout_s: int = 21600
    redis_url: str | None = None
    redis_prefix: str = "sentry-notion"
    notion_api_base_url: str = "https://api.notion.com"
    notion_rate_limit: int = 150
    notion_search_share: float = Field(default=0.5, gt=0, le=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    sentry_api_token: str = Field(default="", repr=False)
    sentry_url: str = "https://sentry.io"
    sentry_org: str = ""
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
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        def text(name: str, default: str | None = None) -> str:
            value = env.get(name, "").strip()
            if value:
                return value
            if default is None:
                raise ConfigError(f"{name} is not set; {_EXPECTED[name]}.")
            return default

        def whole(name: str, default: int, low: int, high: int) -> int:
            raw = text(name, str(default))
            if not raw.isdigit() or not low <= int(raw) <= high:
                raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {raw!r}.")
            return int(raw)

        def share(name: str, default: float) -> float:
            raw = text(name, str(default))
            try:
                value = float(raw)
            except ValueError:
                value = 0.0
            if not 0 < value <= 1:
                raise ConfigError(f"{name} must be a fraction above 0 and at most 1, got {raw!r}.")
            return value

        token = text("NOTION_TOKEN")
        try:
            notion = NotionConfig.model_validate_json(text("NOTION_CONFIG"))
        except ValidationError as exc:
            raise ConfigError(
                f"NOTION_CONFIG is not valid: {_first_error(exc)}; {_EXPECTED['NOTION_CONFIG']}."
            ) from None
        secrets = tuple(s.strip() for s in text("SENTRY_NOTION_INTEGRATION_CLIENT_SECRET").split(",") if s.strip())
        if not secrets:
            name = "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET"
            raise ConfigError(f"{name} is empty; {_EXPECTED[name]}.")
        # Optional: without it, Notion's events are refused (its handshake is still taken).
        notion_secrets = tuple(s.strip() for s in env.get("NOTION_WEBHOOK_SECRET", "").split(",") if s.strip())
        redis_url = env.get("REDIS_URL", "").strip() or None
        if redis_url is None and env.get("REDIS_HOST", "").strip():
            redis_url = f"redis://{text('REDIS_HOST')}:{whole('REDIS_PORT', 6379, 1, 65535)}/0"
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("REDIS_URL must start with redis://, rediss:// or unix://.")
        base_url = text("NOTION_API_BASE_URL", "https://api.notion.com")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"NOTION_API_BASE_URL must be an http(s) URL, got {base_url!r}.")
        sentry_token = env.get("SENTRY_API_TOKEN", "").strip()
        sentry_org = env.get("SENTRY_ORG", "").strip()
        if sentry_token and not sentry_org:
            raise ConfigError(
                "SENTRY_ORG is not set; expected the Sentry organization's slug, needed with SENTRY_API_TOKEN."
            )
        sentry_url = text("SENTRY_URL", "https://sentry.io")
        if not sentry_url.startswith(("http://", "https://")):
            raise ConfigError(f"SENTRY_URL must be an http(s) URL, got {sentry_url!r}.")
        level = text("LOG_LEVEL", "info").lower()
        if level not in ("debug", "info", "warning", "error"):
            raise ConfigError(f"LOG_LEVEL must be one of debug, info, warning, error, got {level!r}.")
        return cls(
            notion_token=token,
            notion=notion,
            client_secrets=secrets,
            notion_webhook_secrets=notion_secrets,
            cache_timeout_s=whole("CACHE_TIMEOUT", 21600, 1, 30 * 86400),
            redis_url=redis_url,
            redis_prefix=text("REDIS_PREFIX", "sentry-notion"),
            notion_api_base_url=base_url,
            notion_rate_limit=whole("NOTION_RATE_LIMIT", 150, 1, 1_000_000),
            notion_search_share=share("NOTION_SEARCH_SHARE", 0.5),
            log_level=level,
            sentry_api_token=sentry_token,
            sentry_url=sentry_url,
            sentry_org=sentry_org,
        )

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
    def rate_limit_key(self) -> str:
        # Notion's budget belongs to the token: replicas sharing a token share one key, without storing it.
        return f"{self.redis_prefix}:ratelimit:{hashlib.sha256(self.notion_token.encode()).hexdigest()[:16]}"


_EXPECTED = {
    "NOTION_TOKEN": "expected the Notion integration's secret (ntn_… or secret_…)",
    "NOTION_CONFIG": (
        'expected JSON like {"database_id": "<32 hex digits or database link>", '
        '"column_names": {"assignee": "Assignee", "id": "ID", "sentry_url": "Sentry Link"}}'
    ),
    "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET": (
        "expected the Client Secret of the Sentry internal integration (comma-separated to rotate)"
    ),
}


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
