from prometheus_client import Counter, Histogram

REQUESTS = Counter("sentry_notion_requests_total", "Requests answered, by route and status", ["route", "status"])
REQUEST_SECONDS = Histogram(
    "sentry_notion_request_seconds",
    "Time to answer a request",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25),
)
WEBHOOKS = Counter(
    "sentry_notion_webhooks_total", "Sentry webhooks: queued, duplicate, ignored, applied or lost", ["outcome"]
)
DUPLICATES_PREVENTED = Counter(
    "sentry_notion_duplicates_prevented_total", "Creates answered with the entry the Sentry issue already had"
)
