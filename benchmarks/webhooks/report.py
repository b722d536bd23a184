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
# Issue 10's, once Notion's events tell the service of the entries' changes.
TARGET_CALLS_PER_EVENT = 1.2
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


def apply_table(bursts: Sequence[ApplyResult], workers: int, latency_ms: float, rate_limit: int) -> str:
    def column(a: ApplyResult) -> list[str]:
        ceiling = workers * 1000 / (a.calls_per_event * latency_ms) if a.calls_per_event and latency_ms else None
        applied = f"{a.applied_s:.1f}" if a.applied_s is not None else f"not reached ({a.patches} of {a.events})"
        drained = f"{a.drained_s:.1f}" if a.drained_s is not None else f"timed out ({a.unfinished} jobs left)"
        finished = (a.events - a.unfinished) / a.drained_s if a.drained_s else None
        return [
            f"{a.events} {a.transition}",
            f"{a.sent_in_s:.2f} s (ack p99 {a.sent.percentile(99):.1f} ms)",
            f"{a.patches} of {a.events}",
            applied,
            drained,
            f"**{a.applied_per_s:.2f}**",
            fmt(a.steady_per_s, 2),
            fmt(finished),
            f"**{a.calls_per_event:.2f}**",
            per_action(a.by_endpoint, a.events) or "none",
            f"{fmt(ceiling)} events/s",
            f"**{fmt(limit_ceiling(DEFAULT_RATE_LIMIT, a.calls_per_event), 2)} events/s**",
            f"{a.workers_cpu_s * 1000 / a.events:.1f} ms",
            f"{a.correct} of {a.events}",
        ]

    names = (
        "Events (one per issue)",
        "Burst sent in",
        "Status PATCHes received",
        "First webhook → all PATCHes received, s",
        "First webhook → queue empty, s",
        f"**Applied events/s** at NOTION_RATE_LIMIT={rate_limit}",
        "Applied events/s from a quarter of the PATCHes on (burst allowance spent)",
        "Jobs finished/s",
        "**Notion calls per event**",
        "Notion calls by endpoint, per event",
        "Ceiling: workers / (calls per event × latency)",
        f"**Ceiling at the default NOTION_RATE_LIMIT={DEFAULT_RATE_LIMIT}**: limit / 60 / calls per event",
        "Worker CPU per event",
        "Entries at the expected status afterwards",
    )
    columns = [column(a) for a in bursts]
    lines = ["| Applied throughput | " + " | ".join(a.name for a in bursts) + " |"]
    lines.append("|---|" + "---:|" * len(bursts))
    lines += [f"| {name} | " + " | ".join(c[n] for c in columns) + " |" for n, name in enumerate(names)]
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


def cost_verdict(bursts: Sequence[ApplyResult]) -> tuple[str, str, str]:
    target = f"a Sentry status change on a seen entry costs at most {TARGET_CALLS_PER_EVENT} Notion calls on average"
    again = next((a for a in bursts if a.name == "again"), None)
    if again is None or again.timed_out or again.wrong:
        return "SKIP", target, "the second burst was not applied in full"
    ok = again.calls_per_event <= TARGET_CALLS_PER_EVENT
    return "PASS" if ok else "FAIL", target, f"{again.calls_per_event:.2f} in the second burst"


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
    if bench.apply:
        mode = "two-way (Sentry's API and Notion's events)" if bench.sentry else "one-way (no Sentry API)"
        print()
        print(
            f"### Applied throughput ({mode}: two bursts of {args.events} events, one per issue, sent at "
            f"concurrency {args.burst_concurrency}; {args.workers} workers × {args.notion_latency_ms:g} ms per Notion "
            f"call; NOTION_RATE_LIMIT {rate_limit_text(args.notion_rate_limit, args.workers, args.notion_latency_ms)})"
        )
        print()
        print(apply_table(bench.apply, args.workers, args.notion_latency_ms, args.notion_rate_limit))
        print()
        print(
            "first: the entries of issues the service has not seen (phase 1 used others), moved from Not started "
            "to Done; again: the same entries back to Not started. Applied events/s: status PATCHes received by the "
            "fake Notion / time from the first webhook to the last PATCH (received, i.e. before its latency). "
            "Ceiling: workers / (calls per event × latency), one job at a time per worker; whichever is lower of it "
            "and the rate limit's ceiling bounds a deployment. The rate limit's ceiling uses the calls per event "
            "measured here."
        )
        for a in bench.apply:
            marks = [
                next((t for t, n in a.progress if n >= math.ceil(a.events * q)), None) for q in (0.25, 0.5, 0.75, 1.0)
            ]
            outcomes = ", ".join(f"{k} {v}" for k, v in a.sent.outcomes.most_common())
            print(
                f"{a.name}: PATCHes at 25/50/75/100 %: "
                + " / ".join("–" if t is None else f"{t:.1f} s" for t in marks)
                + f"; webhook outcomes {outcomes}; errors {sum(a.sent.errors.values())}; "
                f"dead letters {a.dead_letters}."
            )
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
    print("### Targets (issues 4 and 10)")
    mark, target, measured = verdict(bench.ack)
    print(f"- **{mark}** {target}: {measured}")
    mark, target, measured = cost_verdict(bench.apply)
    print(f"- **{mark}** {target}: {measured}")
