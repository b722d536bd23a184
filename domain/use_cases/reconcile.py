from domain.entry_sync import EntrySync
from domain.errors import DomainError, IssueNotFound, SentryTokenRefused, Unavailable
from domain.models import Entry, EntryUpdate
from domain.ports import Entries
from domain.sentry_events import sentry_issue_id


class Reconcile:
    """Repairs drift: every linked entry and its Sentry issue are brought in step.

    Webhooks can be lost (Redis down, downtime, Sentry or Notion never redelivers); this asks both instead. The
    entry takes the issue's state, except its status, which goes the way of the side that changed since they
    last agreed (Sentry's issue when nothing is known yet), under the same policy as the events.
    """

    def __init__(self, *, entries: Entries, sync: EntrySync) -> None:
        self._entries, self._sync = entries, sync

    async def __call__(self) -> list[tuple[Entry, EntryUpdate | str]]:
        """Answers each linked entry with what changed, or why it could not be checked.
        Raises Unavailable (TrackerUnavailable, SentryUnavailable) when Notion or Sentry cannot answer now, and
        SentryTokenRefused when Sentry refuses SENTRY_API_TOKEN."""
        report: list[tuple[Entry, EntryUpdate | str]] = []
        for entry in await self._entries.linked_entries():
            issue_id = sentry_issue_id(entry.sentry_url)
            if issue_id is None:
                continue  # a link to something else than a Sentry issue: not ours to repair
            try:
                report.append((entry, await self._sync.sync(entry.page_id, issue_id, fresh=True)))
            except (Unavailable, SentryTokenRefused):
                raise  # an outage or the token, not this entry's fault: every entry after it would fail the same way
            except IssueNotFound:
                report.append((entry, f"Sentry issue {issue_id} no longer exists"))
            except DomainError as exc:
                report.append((entry, exc.message))
        return report
