# Base for failures the user can understand; the message is shown in Sentry.
class DomainError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IssueNotFound(DomainError):
    pass


class InvalidLink(DomainError):
    pass


# Notion refuses the request until someone fixes the setup (sharing, columns, token).
class TrackerMisconfigured(DomainError):
    pass


# A service we rely on cannot answer now, through no fault of the request: the same request may succeed later.
class Unavailable(DomainError):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s  # how long the service asked us to wait, when it said


class TrackerUnavailable(Unavailable):
    pass


class WriteUnconfirmed(TrackerUnavailable):
    pass


class RateLimited(TrackerUnavailable):
    retry_after_s: float

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message, retry_after_s)


class QueueUnavailable(DomainError):
    pass


# Redis answers, but the queue is at its bound: only a worker draining it helps.
class QueueFull(QueueUnavailable):
    pass


# A record kept on Redis (Notion's handshake tokens, the held alerts) cannot be read.
class StoreUnavailable(DomainError):
    pass


class SentryUnavailable(Unavailable):
    pass


# Sentry refuses the integration's token or request: waiting will not help until someone fixes the setup.
class SentryRefused(DomainError):
    pass


# Sentry refuses SENTRY_API_TOKEN itself (revoked, mistyped) or its scopes: every request alike fails the same way.
class SentryTokenRefused(SentryRefused):
    pass


# A webhook that Sentry would not send: refused before anything is queued or changed.
class InvalidWebhook(DomainError):
    pass


class Conflict(DomainError):
    pass


STILL_RUNNING = "Another request for this issue is still running; try again in a moment."


# An alert rule's settings that cannot work: Sentry shows the message and does not save the rule.
class InvalidSettings(DomainError):
    pass


# A value for one of the database's columns that the column does not have: refused, never dropped.
class InvalidField(DomainError):
    pass
