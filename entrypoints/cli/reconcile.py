from domain.models import EntryUpdate
from entrypoints.cli.use_cases import CliUseCases


async def reconcile(use_cases: CliUseCases) -> int:
    report = await use_cases.reconcile()
    changed = failed = 0
    for entry, outcome in report:
        if isinstance(outcome, str):
            failed += 1
            print(f"✗ {entry.identifier} · {entry.title}: {outcome}")
        elif outcome:
            changed += 1
            print(f"✓ {entry.identifier} · {entry.title}: {describe(outcome)}")
    print(f"{len(report)} linked entries, {changed} repaired, {failed} not checked.")
    return 1 if failed else 0


def describe(update: EntryUpdate) -> str:
    changes = [f"status → {update.status}"] if update.status is not None else []
    if update.assignee_ids is not None:
        changes.append(f"assignee → {', '.join(update.assignee_ids) or 'nobody'}")
    changes += [f"{key} → {value}" for key, value in update.details.items()]
    if update.sentry_status is not None:
        changes.append(f"Sentry status → {update.sentry_status}")
    return ", ".join(changes)
