import asyncio

import pytest

from domain.errors import DomainError, InvalidWebhook, TrackerUnavailable
from domain.models import Job, JobOutcome
from domain.use_cases.receive_webhook import ReceiveWebhook
from domain.use_cases.run_job import RunJob
from tests.support.fakes import FakeJobQueue
from tests.support.sentry import group, webhook

T0 = "1764800000"
RESOLVED = webhook("resolved", {"issue": group(status="resolved")})
APP = {"type": "application", "id": "2ebf071f-2c1a-4a4c-9d3e-7f1b2d3c4e5f", "name": "Notion Sync"}


DONE = JobOutcome(outcome="applied", entry="page-1", changes=("status → Done",))


class Handler:
    def __init__(self, fail: Exception | None = None, delay_s: float = 0.0, outcome: JobOutcome = DONE) -> None:
        self.ran: list[Job] = []
        self.fail, self.delay_s, self.outcome = fail, delay_s, outcome

    async def __call__(self, job: Job) -> JobOutcome:
        await asyncio.sleep(self.delay_s)
        if self.fail:
            raise self.fail
        self.ran.append(job)
        return self.outcome


def receive(queue: FakeJobQueue, handler: Handler, *, triggers: bool = False) -> ReceiveWebhook:
    run = RunJob(handlers={"sentry.issue": handler, "sentry.comment": handler})
    return ReceiveWebhook(queue=queue, run=run, triggers=triggers, budget_s=0.2, clock=lambda: 1e9)


async def test_a_webhook_is_queued_once_whatever_its_timestamp() -> None:
    queue, handler = FakeJobQueue(), Handler()
    take = receive(queue, handler)

    first = await take("issue", T0, RESOLVED)
    again = await take("issue", "1764800300", RESOLVED)  # the same signed body, sent again later

    assert (first.outcome, again.outcome) == ("queued", "duplicate")
    job = first.job
    assert (job.kind, job.action, job.sent_at, job.received_at) == ("sentry.issue", "resolved", 1764800000, 1e9)
    assert queue.jobs == [job]
    assert handler.ran == []


@pytest.mark.parametrize(
    ("resource", "body"),
    [
        ("issue", webhook("created", {"issue": group()})),  # a new issue has no entry yet
        ("installation", webhook("created", {"installation": {"uuid": "x"}})),
        ("error", webhook("created", {"error": {"event_id": "e"}})),
        ("issue", webhook("resolved", {"issue": group(status="resolved")}, APP)),  # our own change, coming back
        ("Issue ✓", RESOLVED),
    ],
)
async def test_what_changes_no_entry_is_ignored(resource: str, body: bytes) -> None:
    queue, handler = FakeJobQueue(), Handler()

    receipt = await receive(queue, handler)(resource, T0, body)

    assert receipt.outcome == "ignored"
    assert (queue.jobs, handler.ran) == ([], [])


async def test_without_the_queue_a_webhook_is_applied_at_once_or_reported_lost() -> None:
    queue = FakeJobQueue()
    queue.down = True
    handler = Handler()

    receipt = await receive(queue, handler)("issue", T0, RESOLVED)

    assert (receipt.outcome, receipt.result) == ("applied", DONE)
    assert len(handler.ran) == 1
    for failing in (Handler(fail=TrackerUnavailable("Notion answered 503")), Handler(delay_s=1.0)):
        assert (await receive(queue, failing)("issue", T0, RESOLVED)).outcome == "lost"


@pytest.mark.parametrize(
    "done",
    [
        JobOutcome(outcome="skipped", reason="no Notion entry is linked to this issue"),
        JobOutcome(outcome="unchanged", entry="page-1"),
    ],
)
async def test_a_webhook_applied_at_once_is_answered_with_what_the_job_did(done: JobOutcome) -> None:
    queue = FakeJobQueue()
    queue.down = True

    receipt = await receive(queue, Handler(outcome=done))("issue", T0, RESOLVED)

    assert (receipt.outcome, receipt.result) == (done.outcome, done)


async def test_with_sentrys_api_the_events_of_one_issue_merge_while_they_wait() -> None:
    queue = FakeJobQueue()
    take = receive(queue, Handler(), triggers=True)

    outcomes = [
        (await take("issue", T0, webhook(action, {"issue": group()}))).outcome for action in ("resolved", "assigned")
    ]

    assert outcomes == ["queued", "duplicate"]
    assert queue.jobs[0].coalesce


async def test_a_delivery_sentry_would_not_send_is_refused_before_anything_is_queued() -> None:
    queue = FakeJobQueue()

    with pytest.raises(InvalidWebhook):
        await receive(queue, Handler())("issue", "nan", RESOLVED)
    assert queue.jobs == []


async def test_a_job_of_a_kind_nobody_handles_fails_rather_than_vanishes() -> None:
    run = RunJob(handlers={"sentry.issue": Handler()})

    with pytest.raises(DomainError, match=r"alert\.fired"):
        await run(Job(kind="alert.fired", key="k", body={}, received_at=0))
