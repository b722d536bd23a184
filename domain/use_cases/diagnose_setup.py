import asyncio
from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from domain.errors import StoreUnavailable
from domain.models import Access, Diagnosis, Feature, Finding, Frozen, SyncPolicy
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
    direction, and why, database by database: a feature is off when configured off, or when a failed check rules
    out the access to Sentry's API it needs. `sentry` is Sentry's API when SENTRY_API_TOKEN is set, else None;
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
        lacking: dict[Access, list[str]] = {}
        for finding in found:
            for access in finding.rules_out if not finding.ok else ():
                lacking.setdefault(access, []).append(finding.because)
        features = tuple(f for database in self._databases for f in self._features(database, lacking))
        return Diagnosis(findings=(*found, *await self._webhook_findings()), features=(*features, self._live(lacking)))

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

    def _features(self, setup: DatabaseSetup, lacking: dict[Access, list[str]]) -> tuple[Feature, ...]:
        policy = setup.policy
        # With Sentry's API, an issue's webhook only says which issue to read: reading it is what updates the entry.
        reads = _lacks(lacking, "read")

        def from_notion(*needs: Access) -> list[str]:
            # What every change from Notion needs: Sentry's API to write with, and Notion's events let in.
            return [
                *(_lacks(lacking, *needs) if self._reads_sentry else ["SENTRY_API_TOKEN not set"]),
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
        # Both directions match people by email, which Notion shares only with the capability.
        assignee_off = [f"{CONFIG} sync.assignee is false"] if not policy.assignee else _lacks(lacking, "notion_emails")
        comments_off = _lacks(lacking, "notion_comments")
        people = f"column {setup.assignee_column!r}, matched by email"
        source = "read from Sentry's API" if self._reads_sentry else "from webhooks"
        details = _feature(
            "Issue details",
            reads if setup.details else [f"no column named in {CONFIG} column_names for any of {', '.join(DETAILS)}"],
            ", ".join(f"{key} → {column!r}" for key, column in setup.details) + f", {source}",
        )
        features = (
            _feature(f"Status sync {TO_NOTION}", status_off + reads, column),
            _feature(
                f"Status sync {TO_SENTRY}",
                status_off + from_notion("read", "write"),
                f"{column}, conflicts settled by sync.status_winner {policy.status_winner!r}",
            ),
            _feature(f"Assignee sync {TO_NOTION}", assignee_off + reads, people),
            _feature(
                f"Assignee sync {TO_SENTRY}",
                assignee_off + from_notion("read", "write", "members"),
                f"{people} with Sentry's members",
            ),
            _feature(
                f"Comment sync {TO_NOTION}",
                comments_off if policy.comments else [f"{CONFIG} sync.comments is false"],
                "Sentry comments become Notion comments",
            ),
            _feature(
                f"Comment sync {TO_SENTRY}",
                (comments_off if policy.comments_to_sentry else [f"{CONFIG} sync.comments_to_sentry is false"])
                + from_notion("write"),
                "Notion comments become Sentry notes",
            ),
            details,
        )
        if setup.name:
            return tuple(f.model_copy(update={"name": f"{setup.name} · {f.name}"}) for f in features)
        return features

    def _live(self, lacking: dict[Access, list[str]]) -> Feature:
        name = "Live details, back-links and reconcile"
        if not self._reads_sentry:
            return Feature(name=name, on=False, detail="SENTRY_API_TOKEN not set")
        if writes := _lacks(lacking, "write"):  # reading alone still serves live details and reconcile
            return _feature(name, _lacks(lacking, "read"), f"SENTRY_API_TOKEN set; no back-links: {'; '.join(writes)}")
        return _feature(name, _lacks(lacking, "read"), "SENTRY_API_TOKEN set")


def _lacks(lacking: dict[Access, list[str]], *needs: Access) -> list[str]:
    # Why Sentry's API cannot serve these, each reason once: a refused token rules out all of them alike.
    return list(dict.fromkeys(reason for need in needs for reason in lacking.get(need, ())))


def _feature(name: str, off: list[str], on: str) -> Feature:
    return Feature(name=name, on=not off, detail="; ".join(off) or on)
