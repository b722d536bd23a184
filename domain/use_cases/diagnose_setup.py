import asyncio
from collections.abc import Sequence

from domain.models import Diagnosis, Feature, Frozen, SyncPolicy
from domain.ports import Dependency
from domain.sentry_events import DETAILS


class DatabaseSetup(Frozen):
    """How one database is synced: its name (empty when it is the only one), policy and columns; `details` maps
    issue details to columns."""

    name: str = ""
    policy: SyncPolicy
    status_column: str
    assignee_column: str
    details: tuple[tuple[str, str], ...]


class DiagnoseSetup:
    """Every check of the setup, each with what to do when it fails, and which parts of the sync are on and why,
    database by database. `sentry` is Sentry's API when SENTRY_API_TOKEN is set, else None."""

    def __init__(
        self, *, dependencies: Sequence[Dependency], databases: Sequence[DatabaseSetup], sentry: Dependency | None
    ) -> None:
        self._dependencies = [*dependencies, *([sentry] if sentry else [])]
        self._databases, self._reads_sentry = databases, sentry is not None

    async def __call__(self) -> Diagnosis:
        results = await asyncio.gather(*(d.diagnose(thorough=True) for d in self._dependencies))
        features = tuple(f for database in self._databases for f in self._features(database))
        return Diagnosis(findings=tuple(f for found in results for f in found), features=(*features, self._live()))

    def _features(self, setup: DatabaseSetup) -> tuple[Feature, ...]:
        policy, config = setup.policy, "NOTION_CONFIG"
        status = (
            Feature(name="Status sync", on=False, detail=f"{config} sync.status is false")
            if not policy.status
            else Feature(name="Status sync", on=True, detail=f"column {setup.status_column!r}")
            if setup.status_column
            else Feature(name="Status sync", on=False, detail=f"no status column named in {config} column_names.status")
        )
        assignee = (
            Feature(name="Assignee sync", on=True, detail=f"column {setup.assignee_column!r}, matched by email")
            if policy.assignee
            else Feature(name="Assignee sync", on=False, detail=f"{config} sync.assignee is false")
        )
        comments = (
            Feature(name="Comment sync", on=True, detail="Sentry comments become Notion comments")
            if policy.comments
            else Feature(name="Comment sync", on=False, detail=f"{config} sync.comments is false")
        )
        source = "read from Sentry's API" if self._reads_sentry else "from webhooks"
        details = (
            Feature(
                name="Issue details",
                on=True,
                detail=", ".join(f"{key} → {column!r}" for key, column in setup.details) + f", {source}",
            )
            if setup.details
            else Feature(
                name="Issue details",
                on=False,
                detail=f"no column named in {config} column_names for any of {', '.join(DETAILS)}",
            )
        )
        features = (status, assignee, comments, details)
        if setup.name:
            return tuple(f.model_copy(update={"name": f"{setup.name} · {f.name}"}) for f in features)
        return features

    def _live(self) -> Feature:
        if self._reads_sentry:
            return Feature(name="Live details, back-links and reconcile", on=True, detail="SENTRY_API_TOKEN set")
        return Feature(name="Live details, back-links and reconcile", on=False, detail="SENTRY_API_TOKEN not set")
