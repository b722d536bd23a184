from collections.abc import Callable
from typing import get_args

from prometheus_client import Counter, Histogram

from domain.alerts import AlertOutcome

NOTION_REQUESTS = Counter(
    "sentry_notion_notion_requests_total", "Requests sent to Notion, retries included", ["endpoint", "status"]
)
NOTION_SECONDS = Histogram(
    "sentry_notion_notion_request_seconds",
    "Time Notion took to answer",
    ["endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
NOTION_RETRIES = Counter("sentry_notion_notion_retries_total", "Notion requests sent again", ["reason"])
NOTION_THROTTLED = Counter("sentry_notion_notion_throttled_total", "429 and 529 answers from Notion")
CACHE_LOOKUPS = Counter("sentry_notion_cache_lookups_total", "Cache lookups: hit, stale or miss", ["cache", "result"])


def count_lookups(cache: str) -> Callable[[str], None]:
    return lambda result: CACHE_LOOKUPS.labels(cache=cache, result=result).inc()


ALERT_ENTRIES = Counter(
    "sentry_notion_alert_entries_total",
    "Alerts that fired the Create a Notion entry action: created, existing (the issue or incident had its entry) or "
    "capped (over the rule's hourly ALERT_CREATE_LIMIT, held)",
    ["outcome"],
)


def count_alert_entries() -> Callable[[AlertOutcome], None]:
    for outcome in get_args(AlertOutcome):
        ALERT_ENTRIES.labels(outcome=outcome)  # at zero from the start: increase() misses a series' first count
    return lambda outcome: ALERT_ENTRIES.labels(outcome=outcome).inc()
