import math
import os
from collections.abc import Sequence

from benchmarks.harness.measure import error_text, fmt, machine, markdown_table, noise, per_action, per_level
from benchmarks.webhooks.ack import AckResult
from benchmarks.webhooks.apply import ApplyResult
from benchmarks.webhooks.hooks import Bench
from settings import Settings

# Issue 4's target.
TARGET_CONCURRENCY = 16
TARGET_P99_MS = 50.0
# What a deployment that leaves NOTION_RATE_LIMIT alone gets; the README quotes the ceiling it sets.
DEFAULT_RATE_LIMIT: int = Settings.model_fields["notion_rate_limit"].default


ACK_COLUMNS = (
    *("Conc.", "Webhooks", "Req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "Errors", "Outcomes"),
    *("Service CPU ms/req", "Workers CPU %", "Client CPU %", "Other CPU %", "Machine busy %"),
)


def ack_table(results: Sequence[AckResult]) -> str:
    rows = [
        (
            *(str(r.concurrency), str(r.requests), f"{r.rps:.0f}"),
            *(f"{r.percentile(p):.1f}" for p in (50, 95, 99, 100)),
            error_text(r.tally.errors),
            ", ".join(f"{k} {v}" for k, v in r.tally.outcomes.most_common()),
            fmt(r.service_cpu_s * 1000 / r.requests if r.requests else None, 2),
            *(f"{r.cpu_pct(s):.0f}" for s in (r.workers_cpu_s, r.client_cpu_s, r.other_cpu_s)),
            f"{r.cpu_pct(r.busy_cpu_s) / (os.cpu_count() or 1):.0f}",
        )
        for r in results
    ]
    return markdown_table(ACK_COLUMNS, rows, left=("Outcomes",))


def rate_limit_text(rate_limit: int, workers: int, latency_ms: float) -> str:
    if rate_limit == DEFAULT_RATE_LIMIT:
        return f"{rate_limit} calls a minute (the default)"
    binds = rate_limit / 60 < workers * 1000 / latency_ms if latency_ms else True
    return f"{rate_limit} calls a minute (the default is {DEFAULT_RATE_LIMIT}; " + (
        "the limiter binds)" if binds else "raised so far that the limiter never throttles)"
    )


def limit_ceiling(rate_limit: int, calls_per_event: float) -> float | None:
    return rate_limit / 60 / calls_per_event if calls_per_event else None


def apply_table(a: ApplyResult, workers: int, latency_ms: float, rate_limit: int) -> str:
    ceiling = workers * 1000 / (a.calls_per_event * latency_ms) if a.calls_per_event and latency_ms else None
    applied = f"{a.applied_s:.1f}" if a.applied_s is not None else f"not reached ({a.patches} of {a.events})"
    drained = f"{a.drained_s:.1f}" if a.drained_s is not None else f"timed out ({a.unfinished} jobs left)"
    finished = (a.events - a.unfinished) / a.drained_s if a.drained_s else None
    calls = per_action(a.by_endpoint, a.events) or "none"
    rows = [
        ("Events (one per issue)", f"{a.events}: {a.regressed} regressed, {a.events - a.regressed} resolved"),
        ("Workers × fake Notion latency", f"{workers} × {latency_ms:g} ms per call"),
        ("NOTION_RATE_LIMIT of this run", rate_limit_text(rate_limit, workers, latency_ms)),
        ("Burst sent in", f"{a.sent_in_s:.2f} s (ack p99 {a.sent.percentile(99):.1f} ms)"),
        ("Status PATCHes received", f"{a.patches} of {a.events}"),
        ("First webhook → all PATCHes received, s", applied),
        ("First webhook → queue empty, s", drained),
        (f"**Applied events/s** at NOTION_RATE_LIMIT={rate_limit}", f"**{a.applied_per_s:.2f}**"),
        ("Applied events/s from a quarter of the PATCHes on (burst allowance spent)", fmt(a.steady_per_s, 2)),
        ("Jobs finished/s", fmt(finished)),
        ("Notion calls per event", f"{a.calls_per_event:.2f} ({calls})"),
        ("Ceiling: workers / (calls per event × latency)", f"{fmt(ceiling)} events/s"),
        (
            f"**Ceiling at the default NOTION_RATE_LIMIT={DEFAULT_RATE_LIMIT}**: limit / 60 / calls per event",
            f"**{fmt(limit_ceiling(DEFAULT_RATE_LIMIT, a.calls_per_event), 2)} events/s**",
        ),
        ("Worker CPU per event", f"{a.workers_cpu_s * 1000 / a.events:.1f} ms"),
        ("Entries at the expected status afterwards", f"{a.correct} of {a.events}"),
    ]
    lines = ["| Applied throughput | |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def verdict(results: Sequence[AckResult]) -> tuple[str, str, str]:
    target = f"webhook acknowledgement p99 < {TARGET_P99_MS:.0f} ms at concurrency {TARGET_CONCURRENCY}"
    row = next((r for r in results if r.concurrency == TARGET_CONCURRENCY), None)
    if row is None or not row.requests:
        return "SKIP", target, f"concurrency {TARGET_CONCURRENCY} not measured"
    errors = sum(row.tally.errors.values())
    ok = row.percentile(99) < TARGET_P99_MS and not errors
    return (
        "PASS" if ok else "FAIL",
        target,
        f"p99 {row.percentile(99):.1f} ms" + (f", {errors} errors" if errors else ""),
    )


def print_report(bench: Bench) -> None:
    args = bench.args
    print()
    print(
        f"## Webhook benchmark: fake Notion latency {args.notion_latency_ms:g} ms per call, {args.workers} workers, "
        f"NOTION_RATE_LIMIT {rate_limit_text(args.notion_rate_limit, args.workers, args.notion_latency_ms)}, "
        f"{bench.info and len(bench.info['page_ids'])} linked entries, {machine()}"
    )
    print()
    print(f"### Acknowledgement ({per_level(args, 'webhooks')} per concurrency; workers running)")
    print()
    print(ack_table(bench.ack))
    print()
    print(
        "Service CPU: the service's CPU time per webhook. Workers, client (this load generator) and other (processes "
        "outside the benchmark and Redis) CPU: in % of one CPU over the run. Machine busy: all CPUs, in % of all; "
        "near 100 %, the load generator, the service, the workers and Redis compete for the cores and the tail "
        "latency is partly waiting for a CPU."
    )
    if warning := noise(bench.ack):
        print(warning)
    print(f"Phase-1 jobs still queued at its end, dropped before phase 2: {bench.dropped_after_phase1}.")
    a = bench.apply
    if a is not None:
        print()
        print(
            f"### Applied throughput (burst of {a.events} events, one per issue: {a.regressed} regressed, "
            f"{a.events - a.regressed} resolved; sent at concurrency {args.burst_concurrency})"
        )
        print()
        print(apply_table(a, args.workers, args.notion_latency_ms, args.notion_rate_limit))
        print()
        print(
            "Applied events/s: status PATCHes received by the fake Notion / time from the first webhook to the last "
            "PATCH (received, i.e. before its latency). Ceiling: workers / (calls per event × latency), one job at a "
            "time per worker; whichever is lower of it and the rate limit's ceiling bounds a deployment. The rate "
            f"limit's ceiling uses the calls per event measured here. {a.prepared_calls} entries were set beforehand "
            "(not counted)."
        )
        if a.progress:
            marks = [
                next((t for t, n in a.progress if n >= math.ceil(a.events * q)), None) for q in (0.25, 0.5, 0.75, 1.0)
            ]
            print("PATCHes at 25/50/75/100 %: " + " / ".join("–" if t is None else f"{t:.1f} s" for t in marks) + ".")
        outcomes = ", ".join(f"{k} {v}" for k, v in a.sent.outcomes.most_common())
        print(f"Burst outcomes: {outcomes}; errors {sum(a.sent.errors.values())}; dead letters {a.dead_letters}.")
        if a.wrong:
            print(f"**{len(a.wrong)} entries not at the expected status**, e.g. {'; '.join(a.wrong[:5])}.")
        if a.timed_out:
            print(f"**Timed out** after {args.apply_timeout:g} s with {a.unfinished} unfinished jobs.")
        if a.patches == 0 and not a.timed_out:
            print(
                "**No status PATCH at all**: the workers finished every job without writing a status. Is the "
                "configured `column_names.status` reaching the Notion tracker?"
            )
    print()
    print("### Target (issue 4)")
    mark, target, measured = verdict(bench.ack)
    print(f"- **{mark}** {target}: {measured}")
