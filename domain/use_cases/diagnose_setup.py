import asyncio
from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from domain.errors import StoreUnavailable
from domain.models import Diagnosis, Feature, Finding, Frozen, SyncPolicy
from domain.ports import Dependency, VerificationTokens
from domain.sentry_events import DETAILS

CONFIG = "NOTION_CONFIG"
TO_NOTION, TO_SENTRY = "Sentry → Notion", "Notion → Sentry"


class DatabaseSetup(Frozen):
    """How one database is synced: its name (empty when it is the only one), policy and columns; `details` maps
    issue details to columns."""

    name: str = ""
    policy: SyncPolicy
    status_column: str
    assignee_column: str
    details: tuple[tuple[str, str], ...]


class DiagnoseSetup:
    """Every check of the setup, each with what to do when it fails, and which parts of the sync are on, in each
    direction, and why, database by database. `sentry` is Sentry's API when SENTRY_API_TOKEN is set, else None;
    `webhook_secrets` are NOTION_WEBHOOK_SECRET's tokens and `tokens` the handshake tokens Notion sent."""

    def __init__(
        self,
        *,
        dependencies: Sequence[Dependency],
        databases: Sequence[DatabaseSetup],
        sentry: Dependency | None,
        webhook_secrets: Collection[str],
        tokens: VerificationTokens,
    ) -> None:
        self._dependencies = [*dependencies, *([sentry] if sentry else [])]
        self._databases, self._reads_sentry = databases, sentry is not None
        self._secrets, self._tokens = frozenset(webhook_secrets), tokens

    async def __call__(self) -> Diagnosis:
        results = await asyncio.gather(*(d.diagnose(thorough=True) for d in self._dependencies))
        found = [f for each in results for f in each]
        features = tuple(f for database in self._databases for f in self._features(database))
        return Diagnosis(findings=(*found, *await self._webhook_findings()), features=(*features, self._live()))

    async def _webhook_findings(self) -> list[Finding]:
        check = "Notion webhook secret"
        try:
            # A handshake's token stays listed after it was configured: only the others wait for the operator.
            waiting = [t for t in await self._tokens.pending() if t.token not in self._secrets]
        except StoreUnavailable:
            waiting = []  # the Redis line says why
        newest = (
            f"{len(waiting)} token(s) of Notion's handshake wait, the newest received "
            f"{datetime.fromtimestamp(waiting[0].received_at, UTC).isoformat(timespec='seconds')}"
            if waiting
            else ""
        )
        if not self._secrets:
            off = "Notion → Sentry sync is off: Notion's events are refused"
            if waiting:
                return [
                    Finding(
                        check=check,
                        ok=False,
                        detail=f"NOTION_WEBHOOK_SECRET is not set but {newest}; {off}",
                        fix="Run `sentry-notion notion-webhook token`, verify the subscription with it in Notion, set "
                        "NOTION_WEBHOOK_SECRET to it and restart.",
                    )
                ]
            return [
                Finding(
                    check=check,
                    ok=True,
                    warning=True,
                    detail=f"NOTION_WEBHOOK_SECRET is not set: {off}",
                    fix="Set up the subscription (README, Notion webhooks) and set NOTION_WEBHOOK_SECRET.",
                )
            ]
        rotation = " (during rotation: any of them is accepted)" if len(self._secrets) > 1 else ""
        found = [Finding(check=check, ok=True, detail=f"{len(self._secrets)} set in NOTION_WEBHOOK_SECRET{rotation}")]
        if waiting:
            found.append(
                Finding(
                    check="Notion webhook handshake",
                    ok=True,
                    warning=True,
                    detail=f"{newest}, not in NOTION_WEBHOOK_SECRET",
                    fix="If you created a subscription since, run `sentry-notion notion-webhook token` and add its "
                    "token to NOTION_WEBHOOK_SECRET (comma-separated); otherwise this goes away within 7 days.",
                )
            )
        return found

    def _features(self, setup: DatabaseSetup) -> tuple[Feature, ...]:
        policy = setup.policy
        # What every change from Notion needs: Sentry's API to write with, and Notion's events let in.
        from_notion = [
            *([] if self._reads_sentry else ["SENTRY_API_TOKEN not set"]),
            *([] if self._secrets else ["NOTION_WEBHOOK_SECRET not set"]),
        ]
        status_off = (
            [f"{CONFIG} sync.status is false"]
            if not policy.status
            else []
            if setup.status_column
            else [f"no status column named in {CONFIG} column_names.status"]
        )
        column = f"column {setup.status_column!r}"
        assignee_off = [] if policy.assignee else [f"{CONFIG} sync.assignee is false"]
        people = f"column {setup.assignee_column!r}, matched by email"
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
                detail=f"no column named in {CONFIG} column_names for any of {', '.join(DETAILS)}",
            )
        )
        features = (
            _feature(f"Status sync {TO_NOTION}", status_off, column),
            _feature(
                f"Status sync {TO_SENTRY}",
                status_off + from_notion,
                f"{column}, conflicts settled by sync.status_winner {policy.status_winner!r}",
            ),
            _feature(f"Assignee sync {TO_NOTION}", assignee_off, people),
            _feature(f"Assignee sync {TO_SENTRY}", assignee_off + from_notion, f"{people} with Sentry's members"),
            _feature(
                f"Comment sync {TO_NOTION}",
                [] if policy.comments else [f"{CONFIG} sync.comments is false"],
                "Sentry comments become Notion comments",
            ),
            _feature(
                f"Comment sync {TO_SENTRY}",
                ([] if policy.comments_to_sentry else [f"{CONFIG} sync.comments_to_sentry is false"]) + from_notion,
                "Notion comments become Sentry notes",
            ),
            details,
        )
        if setup.name:
            return tuple(f.model_copy(update={"name": f"{setup.name} · {f.name}"}) for f in features)
        return features

    def _live(self) -> Feature:
        if self._reads_sentry:
            return Feature(name="Live details, back-links and reconcile", on=True, detail="SENTRY_API_TOKEN set")
        return Feature(name="Live details, back-links and reconcile", on=False, detail="SENTRY_API_TOKEN not set")


def _feature(name: str, off: list[str], on: str) -> Feature:
    return Feature(name=name, on=not off, detail="; ".join(off) or on)
