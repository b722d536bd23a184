from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from domain.models import Entry, EntryUpdate, Job
from domain.ports import AlertBudget, JobQueue, VerificationTokens
from domain.use_cases.diagnose_setup import DiagnoseSetup
from entrypoints.http.app import UseCases


@dataclass(frozen=True)
class CliUseCases:
    http: UseCases  # what `serve` runs its app on
    queue: JobQueue
    handle_job: Callable[[Job], Awaitable[None]]
    reconcile: Callable[[], Awaitable[list[tuple[Entry, EntryUpdate | str]]]]  # every database's, one by one
    diagnose_setup: DiagnoseSetup


@dataclass(frozen=True)
class StoreTools:
    """What the commands that read only Redis's records use."""

    queue: JobQueue
    verification_tokens: VerificationTokens
    alerts: AlertBudget
