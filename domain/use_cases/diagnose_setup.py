import asyncio
from collections.abc import Sequence

from domain.models import Diagnosis, Feature, SyncPolicy
from domain.ports import Dependency
from domain.sentry_events import DETAILS


class DiagnoseSetup:
    """Every check of the setup, each with what to do when it fails, and which parts of the sync are on and why.
    `sentry` is Sentry's API when SENTRY_API_TOKEN is set, else None; `details` maps issue details to columns."""

    def __init__(
        self,
        *,
        dependencies: Sequence[Dependency],
        policy: SyncPolicy,
        status_column: str,
        assignee_column: str,
        details: Sequence[tuple[str, str]],
        sentry: Dependency | None,
    ) -> None:
        self._dependencies = [*dependencies, *([sentry] if sentry else [])]
        self._policy, self._status_column, self._assignee_column = policy, status_column, assignee_column
        self._details, self._reads_sentry = details, sentry is not None

    async def __call__(self) -> Diagnosis:
        results = await asyncio.gather(*(d.diagnose(thorough=True) for d in self._dependencies))
        return Diagnosis(findings=tuple(f for found in results for f in found), features=self._features())

    def _features(self) -> tuple[Feature, ...]:
        policy, config = self._policy, "NOTION_CONFIG"
        status = (
            Feature(name="Status sync", on=False, detail=f"{config} sync.status is false")
            if not policy.status
            else Feature(name="Status sync", on=True, detail=f"column {self._status_column!r}")
            if self._status_column
            else Feature(name="Status sync", on=False, detail=f"no status column named in {config} column_names.status")
        )
        assignee = (
            Feature(name="Assignee sync", on=True, detail=f"column {self._assignee_column!r}, matched by email")
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
                detail=", ".join(f"{key} → {column!r}" for key, column in self._details) + f", {source}",
            )
            if self._details
            else Feature(
                name="Issue details",
                on=False,
                detail=f"no column named in {config} column_names for any of {', '.join(DETAILS)}",
            )
        )
        live = (
            Feature(name="Live details, back-links and reconcile", on=True, detail="SENTRY_API_TOKEN set")
            if self._reads_sentry
            else Feature(name="Live details, back-links and reconcile", on=False, detail="SENTRY_API_TOKEN not set")
        )
        return status, assignee, comments, details, live
