from dataclasses import dataclass

from domain.errors import (
    DomainError,
    QueueFull,
    QueueUnavailable,
    RateLimited,
    SentryRefused,
    SentryUnavailable,
    StoreUnavailable,
    TrackerMisconfigured,
    TrackerUnavailable,
)

AGAIN = "then run this again"


# Where each service was looked for, as the operator configured it; a URL here carries no password.
@dataclass(frozen=True)
class Services:
    redis: str
    redis_variables: str  # what the operator set: REDIS_URL, or REDIS_HOST and REDIS_PORT
    notion: str
    sentry: str


# What failed, where, and what to do: the one line a command ends with instead of a traceback.
def one_line(exc: DomainError, services: Services) -> str:
    match exc:
        case QueueFull():
            return f"{exc.message} Start `sentry-notion worker` and, once it has caught up, run this again."
        case QueueUnavailable() | StoreUnavailable():
            return (
                f"Redis does not answer at {services.redis} ({_cause(exc)}): "
                f"start Redis or fix {services.redis_variables}, {AGAIN}."
            )
        case RateLimited():
            return f"Notion at {services.notion}: {exc.message}"
        case TrackerUnavailable():
            return (
                f"Notion does not answer at {services.notion} ({_cause(exc)}): "
                f"check NOTION_API_BASE_URL and this host's network, {AGAIN}."
            )
        case TrackerMisconfigured():
            return f"Notion at {services.notion} refused: {exc.message} Run `sentry-notion check` to see all."
        case SentryUnavailable():
            return (
                f"Sentry does not answer at {services.sentry} ({_cause(exc)}): "
                f"check SENTRY_URL and this host's network, {AGAIN}."
            )
        case SentryRefused():
            return f"Sentry at {services.sentry} refused: {exc.message}"
    return exc.message


def _cause(exc: DomainError) -> str:
    # The library's own words (connection refused, timed out, HTTP 503) say more than ours; they hold no secret.
    cause = exc.__cause__
    if cause is None:
        return exc.message.rstrip(".")
    return (str(cause) or type(cause).__name__).rstrip(".")
