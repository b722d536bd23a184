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


class TrackerUnavailable(DomainError):
    pass


class WriteUnconfirmed(TrackerUnavailable):
    pass


class RateLimited(TrackerUnavailable):
    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QueueUnavailable(DomainError):
    pass


class SentryUnavailable(DomainError):
    pass


class Conflict(DomainError):
    pass


STILL_RUNNING = "Another request for this issue is still running; try again in a moment."
