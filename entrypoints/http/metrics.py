import math
from typing import get_args

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)

from domain import notion_events
from domain.models import DependencyHealth, QueueStats
from domain.use_cases.keep_verification_token import Kept
from domain.use_cases.take_job import Outcome

# A *_created series per counter and histogram doubles the output, and no dashboard or alert reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

BUILD = Info("sentry_notion_build", "The running version and the Notion API version it speaks")

REQUESTS = Counter("sentry_notion_requests_total", "Requests answered, by route and status", ["route", "status"])
REQUEST_SECONDS = Histogram(
    "sentry_notion_request_seconds",
    "Time to answer a request",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25),
)
WEBHOOKS = Counter(
    "sentry_notion_webhooks_total",
    "Sentry webhooks: queued, duplicate, ignored, lost, or run at once: applied, skipped or unchanged",
    ["outcome"],
)
NOTION_EVENTS = Counter(
    "sentry_notion_notion_events_total",
    "Notion webhooks by event type (verification for the handshake, other for types the sync does not act on) and "
    "outcome",
    ["type", "outcome"],
)
DUPLICATES_PREVENTED = Counter(
    "sentry_notion_duplicates_prevented_total", "Creates answered with the entry the Sentry issue already had"
)
# Counted by the workers, which serve them on their own /metrics, or on the app's when they run inside `serve`.
JOB_OUTCOMES = ("applied", "skipped", "unchanged", "failed", "unavailable")
JOBS = Counter(
    "sentry_notion_jobs_total",
    "Queued jobs run by workers: applied, skipped, unchanged, failed, or unavailable (an outage; run again)",
    ["kind", "outcome"],
)
JOB_SECONDS = Histogram(
    "sentry_notion_job_duration_seconds",
    "Time a worker took to run a job",
    ["kind", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

# Set from the domain's answers whenever /metrics is scraped.
DEPENDENCY_UP = Gauge(
    "sentry_notion_dependency_up", "1 when the dependency's last probe passed, 0 when it failed", ["dependency"]
)
QUEUE_UP = Gauge("sentry_notion_queue_up", "1 when the job queue could be read for the queue gauges, 0 when not")
QUEUE_DEPTH = Gauge("sentry_notion_queue_depth", "Queued webhooks waiting or being applied, retries included")
QUEUE_OLDEST_AGE = Gauge(
    "sentry_notion_queue_oldest_job_age_seconds", "Age of the oldest unfinished queued webhook, by Redis's clock"
)
QUEUE_DEAD_LETTERS = Gauge("sentry_notion_queue_dead_letters", "Webhooks set aside after their last attempt failed")
QUEUE_WORKERS = Gauge("sentry_notion_queue_workers", "Queue workers that reported in the last 30 s")


# Every webhook outcome at zero from the start: increase() and rate() miss the first count of a series that appears
# with it, such as the first lost webhook.
def count_from_zero() -> None:
    for outcome in get_args(Outcome):
        WEBHOOKS.labels(outcome=outcome)
        for event_type in notion_events.KINDS:
            NOTION_EVENTS.labels(type=event_type, outcome=outcome)
    NOTION_EVENTS.labels(type="other", outcome="ignored")
    for kept in get_args(Kept):
        NOTION_EVENTS.labels(type="verification", outcome=kept)


def observe(health: list[DependencyHealth], queue: QueueStats | None) -> None:
    for dependency in health:
        if dependency.checked_at is not None:
            DEPENDENCY_UP.labels(dependency=dependency.name).set(dependency.up)
    QUEUE_UP.set(queue is not None)
    # NaN while the queue cannot be read: a stale figure would keep an alert firing, or silence one.
    QUEUE_DEPTH.set(math.nan if queue is None else queue.depth)
    QUEUE_OLDEST_AGE.set(math.nan if queue is None else queue.oldest_age_s)
    QUEUE_DEAD_LETTERS.set(math.nan if queue is None else queue.dead_letters)
    QUEUE_WORKERS.set(math.nan if queue is None else queue.workers)


def exposition() -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
