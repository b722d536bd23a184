from entrypoints.cli.use_cases import CliUseCases


async def check(use_cases: CliUseCases, *, client_secrets: int) -> int:
    rotation = " (during rotation: any of them is accepted)" if client_secrets > 1 else ""
    print(f"✓ Client secret: {client_secrets} set in SENTRY_NOTION_INTEGRATION_CLIENT_SECRET{rotation}")
    diagnosis = await use_cases.diagnose_setup()
    for finding in diagnosis.findings:
        mark = "✗" if not finding.ok else "!" if finding.warning else "✓"
        print(f"{mark} {finding.check}: {finding.detail}")
        if finding.fix:
            print(f"    → {finding.fix}")
    # A feature that is off is a choice, not a fault: it is shown, but does not fail the check.
    for feature in diagnosis.features:
        print(f"{'✓' if feature.on else '–'} {feature.name}: {'on' if feature.on else 'off'} ({feature.detail})")
    return 0 if diagnosis.ok else 1
