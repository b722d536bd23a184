from entrypoints.cli.use_cases import CliUseCases


async def check(use_cases: CliUseCases, *, client_secrets: int) -> int:
    rotation = " (during rotation: any of them is accepted)" if client_secrets > 1 else ""
    print(f"✓ Client secret: {client_secrets} set in SENTRY_NOTION_INTEGRATION_CLIENT_SECRET{rotation}")
    findings = await use_cases.diagnose_setup()
    for finding in findings:
        print(f"{'✓' if finding.ok else '✗'} {finding.check}: {finding.detail}")
        if finding.fix:
            print(f"    → {finding.fix}")
    return 0 if all(f.ok for f in findings) else 1
