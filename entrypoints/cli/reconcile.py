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
            print(f"✓ {entry.identifier} · {entry.title}: {', '.join(outcome.changes())}")
    print(f"{len(report)} linked entries, {changed} repaired, {failed} not checked.")
    return 1 if failed else 0
