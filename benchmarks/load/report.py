from collections.abc import Sequence
from typing import Any

from benchmarks.harness.measure import error_text, fmt, machine, markdown_table, noise, per_action, per_level
from benchmarks.load.bench import Bench, Result

# Issue 3's targets.
TARGET_CONCURRENCY = 16
TARGET_RATIO = 0.5
TARGET_P99_MS = 25.0
TARGET_CREATE_CALLS = 2.0
TARGET_RSS_MB = 150.0
CACHED_OPTION_ROUTES = ("assignees",)


COLUMNS = (
    *("Route", "Conc.", "Requests", "Req/s", "p50 ms", "p95 ms", "p99 ms", "Errors", "Notion calls/action"),
    *("Server CPU ms/req", "Client CPU %", "Other CPU %", "Peak RSS MB", "× reference"),
)


def table(results: Sequence[Result]) -> str:
    rows = [
        (
            *(r.route, str(r.concurrency), str(r.requests), f"{r.rps:.0f}"),
            *(f"{r.percentile(p):.1f}" for p in (50, 95, 99)),
            *(error_text(r.tally.errors), fmt(r.calls_per_action, 2), fmt(r.server_cpu_ms, 2)),
            *(f"{r.client_cpu_pct:.0f}", f"{r.other_cpu_pct:.0f}", f"{r.rss_peak_mb:.0f}", fmt(r.ratio, 2)),
        )
        for r in results
    ]
    return markdown_table(COLUMNS, rows, left=("Route",))


def verdicts(results: Sequence[Result], service_hwm_mb: float | None) -> list[tuple[str, str, str]]:
    """(PASS/FAIL/SKIP, target, what was measured) for each of issue 3's targets."""
    found: list[tuple[str, str, str]] = []
    for name in CACHED_OPTION_ROUTES:
        target = (
            f"{name}: ≥ {TARGET_RATIO}× reference throughput and p99 ≤ {TARGET_P99_MS:.0f} ms at concurrency "
            f"{TARGET_CONCURRENCY}"
        )
        row = next((r for r in results if r.route == name and r.concurrency == TARGET_CONCURRENCY), None)
        if row is None or row.ratio is None:
            found.append(("SKIP", target, "not measured (needs the route and the reference at that concurrency)"))
            continue
        errors = sum(row.tally.errors.values())
        ok = row.ratio >= TARGET_RATIO and row.percentile(99) <= TARGET_P99_MS and not errors
        shown = f"{row.ratio:.2f}×, p99 {row.percentile(99):.1f} ms" + (f", {errors} errors" if errors else "")
        found.append(("PASS" if ok else "FAIL", target, shown))
    target = f"create: ≤ {TARGET_CREATE_CALLS:.0f} Notion calls per action (short description, warm caches)"
    creates = [r for r in results if r.route == "create" and r.calls_per_action is not None]
    if creates:
        worst = max(creates, key=lambda r: r.calls_per_action or 0.0)
        per = worst.calls_per_action or 0.0
        calls = per_action(worst.notion_by_endpoint, worst.requests)
        found.append(("PASS" if per <= TARGET_CREATE_CALLS else "FAIL", target, f"worst {per:.2f} ({calls})"))
    else:
        found.append(("SKIP", target, "create not measured"))
    target = f"service RSS < {TARGET_RSS_MB:.0f} MB"
    if service_hwm_mb is None:
        found.append(("SKIP", target, "peak RSS unavailable"))
    else:
        verdict = "PASS" if service_hwm_mb < TARGET_RSS_MB else "FAIL"
        found.append((verdict, target, f"VmHWM {service_hwm_mb:.1f} MB"))
    return found


def print_report(bench: Bench, service_hwm_mb: float | None, reference_hwm_mb: float | None) -> None:
    args = bench.args
    print()
    print(
        f"## Load benchmark: {per_level(args, 'requests')} per route and concurrency, fake Notion latency "
        f"{args.notion_latency_ms:g} ms per call, NOTION_RATE_LIMIT {args.notion_rate_limit}, {machine()}"
    )
    print()
    print(table(bench.results))
    print()
    print(
        "Server CPU: CPU time of the answering process (service or reference) per request. Client CPU: the load "
        "generator's, in % of one CPU. Other CPU: processes outside the benchmark and Redis, in % of one CPU."
    )
    if warning := noise(bench.results):
        print(warning)
    print(
        f"Peak RSS (VmHWM): service {fmt(service_hwm_mb)} MB, reference {fmt(reference_hwm_mb)} MB. "
        "Notion calls by endpoint, per action, at the highest concurrency:"
    )
    top = max(args.concurrency)
    for r in bench.results:
        if r.concurrency == top and r.notion_by_endpoint and r.requests:
            print(f"- {r.route}: {per_action(r.notion_by_endpoint, r.requests)}")
    print()
    print("### Targets (issue 3)")
    for verdict, target, measured in verdicts(bench.results, service_hwm_mb):
        print(f"- **{verdict}** {target}: {measured}")


def as_json(r: Result) -> dict[str, Any]:
    return {
        "route": r.route,
        "concurrency": r.concurrency,
        "requests": r.requests,
        "rps": r.rps,
        "p50_ms": r.percentile(50),
        "p95_ms": r.percentile(95),
        "p99_ms": r.percentile(99),
        "errors": dict(r.tally.errors),
        "notion_calls_per_action": r.calls_per_action,
        "notion_by_endpoint": r.notion_by_endpoint,
        "rss_peak_mb": r.rss_peak_mb,
        "server_cpu_ms_per_request": r.server_cpu_ms,
        "client_cpu_pct": r.client_cpu_pct,
        "other_cpu_pct": r.other_cpu_pct,
        "ratio_to_reference": r.ratio,
    }
