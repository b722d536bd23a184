import uuid

import pytest

from adapters.memory import MemoryCache, MemoryVerificationTokens
from domain.errors import InvalidWebhook, StoreUnavailable, TrackerUnavailable
from domain.models import Database, EntrySnapshot, Job, JobOutcome, PendingToken
from domain.ports import Cache
from domain.use_cases.keep_verification_token import KeepVerificationToken
from domain.use_cases.receive_notion_event import ReceiveNotionEvent
from domain.use_cases.run_job import RunJob
from tests.support.fakes import FakeJobQueue, FakeWorkspace
from tests.support.notion_payloads import DATA_SOURCE_ID, PAGE_ID
from tests.support.notion_webhooks import OLD_TOKEN, TOKEN, WORKSPACE, event

OTHER_DATA_SOURCE = "98024f3c-b1d3-4aec-a301-f01e0dacf023"
OTHER_WORKSPACE = "5e0c1b7a-7d2f-4c61-9a43-2b8f0e6d4c11"


class Handler:
    def __init__(self, fail: Exception | None = None) -> None:
        self.ran: list[Job] = []
        self.fail = fail

    async def __call__(self, job: Job) -> JobOutcome:
        if self.fail:
            raise self.fail
        self.ran.append(job)
        return JobOutcome(outcome="applied", changes=("ran",))


def receive(
    queue: FakeJobQueue,
    handler: Handler | None = None,
    *,
    data_source_id: str = DATA_SOURCE_ID,
    workspace: FakeWorkspace | None = None,
) -> ReceiveNotionEvent:
    handlers = {} if handler is None else {"notion.page": handler, "notion.comment": handler, "notion.schema": handler}
    notion = workspace or FakeWorkspace()
    return ReceiveNotionEvent(
        queue=queue,
        run=RunJob(handlers=handlers),
        people=notion,
        columns=notion,
        data_source_id=data_source_id,
        budget_s=0.2,
        clock=lambda: 1e9,
    )


def workspace_of(workspace_id: str) -> FakeWorkspace:
    # The token's workspace, as Notion's GET /v1/users/me names it.
    notion = FakeWorkspace()
    notion.db = notion.db.model_copy(update={"workspace": workspace_id})
    return notion


async def test_an_event_is_queued_once_under_its_id_even_before_a_handler_is_registered() -> None:
    queue = FakeJobQueue()
    take = receive(queue)  # the workers, another version, may handle what this process cannot
    body = event(id="1782edd6-a853-4d4a-b02c-9c8c16f28e53")

    first, parsed = await take(body)
    retry, _ = await take(body | {"attempt_number": 2})  # Notion's retry: the same id

    assert (first, retry) == ("queued", "duplicate")
    assert parsed.id == body["id"]
    assert [(j.kind, j.key, j.action, j.body) for j in queue.jobs] == [
        ("notion.page", f"notion:{body['id']}", "page.properties_updated", body)
    ]


@pytest.mark.parametrize(
    "body",
    [
        event("page.content_updated"),
        event("view.updated"),
        event("page.properties_updated", data_source_id=OTHER_DATA_SOURCE),
        event("page.deleted", data_source_id=OTHER_DATA_SOURCE.replace("-", "").upper()),
    ],
    ids=["content", "unknown-type", "other-data-source", "other-data-source-undashed"],
)
async def test_types_the_sync_does_not_act_on_and_other_databases_are_ignored(body: dict[str, object]) -> None:
    queue = FakeJobQueue()

    outcome, _ = await receive(queue)(body)

    assert (outcome, queue.jobs) == ("ignored", [])


async def test_the_data_source_is_compared_whatever_its_dashes() -> None:
    queue = FakeJobQueue()

    outcome, _ = await receive(queue, data_source_id=DATA_SOURCE_ID.replace("-", ""))(event())

    assert outcome == "queued"


async def test_without_a_configured_data_source_or_one_in_the_event_the_workers_decide() -> None:
    queue = FakeJobQueue()

    unknown, _ = await receive(queue, data_source_id="")(event(data_source_id=OTHER_DATA_SOURCE))
    comment, _ = await receive(queue)(event("comment.created"))  # a comment names its page, not a data source

    assert (unknown, comment) == ("queued", "queued")


async def test_an_event_of_another_workspace_is_acknowledged_and_not_queued() -> None:
    queue = FakeJobQueue()
    ours = receive(queue, workspace=workspace_of(WORKSPACE.replace("-", "").upper()))

    mine, _ = await ours(event())
    other, _ = await receive(queue, workspace=workspace_of(OTHER_WORKSPACE))(event(id=str(uuid.uuid4())))

    assert (mine, other) == ("queued", "other_workspace")
    assert len(queue.jobs) == 1


async def test_while_notion_cannot_say_which_workspace_is_ours_an_event_is_queued_for_the_workers() -> None:
    class Unreachable(FakeWorkspace):
        async def database(self) -> Database:
            raise TrackerUnavailable("Notion answered 503")

    queue = FakeJobQueue()

    outcome, _ = await receive(queue, workspace=Unreachable())(event())

    # Not refused: Notion would send it again only a minute later. Its page is read with our token by the worker.
    assert (outcome, [job.kind for job in queue.jobs]) == ("queued", ["notion.page"])


async def seen_entry(seen: Cache[EntrySnapshot]) -> FakeWorkspace:
    """A workspace whose entry PAGE_ID was read, and is kept as last seen in `seen`."""
    notion = FakeWorkspace(seen=seen)
    notion.pages[PAGE_ID] = notion.pages[notion.add("Checkout crashes").page_id]
    await notion.snapshot(PAGE_ID)
    return notion


async def test_a_page_moved_to_another_database_is_ignored_once_its_entry_is_forgotten() -> None:
    queue, notion = FakeJobQueue(), await seen_entry(MemoryCache())

    outcome, _ = await receive(queue, workspace=notion)(event("page.moved", data_source_id=OTHER_DATA_SOURCE))

    assert (outcome, queue.jobs) == ("ignored", [])
    assert await notion.last_seen(PAGE_ID) is None  # a Sentry change reads where it went, and leaves it alone


async def test_a_change_whose_entry_cannot_be_forgotten_is_refused_for_notion_to_send_again() -> None:
    class Unforgetting(MemoryCache[EntrySnapshot]):
        async def forget(self, key: str) -> None:
            raise StoreUnavailable("Redis could not forget the cached page.")

    queue, notion = FakeJobQueue(), await seen_entry(Unforgetting())

    outcome, _ = await receive(queue, workspace=notion)(event())

    # Acknowledged, it would leave a Sentry change planned on the entry as it was before the person's change.
    assert outcome == "lost"
    assert [job.kind for job in queue.jobs] == ["notion.page"]  # Notion's resend is a duplicate of it


async def test_a_malformed_event_is_refused_and_nothing_is_queued() -> None:
    queue = FakeJobQueue()

    with pytest.raises(InvalidWebhook):
        await receive(queue)(event() | {"timestamp": None})

    assert queue.jobs == []


async def test_without_the_queue_an_event_is_applied_at_once_or_lost_for_notion_to_resend() -> None:
    queue = FakeJobQueue()
    queue.down = True
    handler = Handler()

    assert (await receive(queue, handler)(event()))[0] == "applied"
    assert len(handler.ran) == 1
    assert (await receive(queue, Handler(fail=TrackerUnavailable("Notion answered 503")))(event()))[0] == "lost"
    assert (await receive(queue)(event()))[0] == "ignored"  # nothing here can apply it, nothing can keep it


async def test_a_handshake_is_kept_pending_and_never_replaces_an_active_token() -> None:
    tokens = MemoryVerificationTokens()
    tokens.shared = True  # as on Redis
    times = iter([100.0, 200.0])
    keep = KeepVerificationToken(tokens=tokens, active=(OLD_TOKEN,), clock=lambda: next(times))

    assert await keep(OLD_TOKEN) == "active"  # Notion resending the configured token: nothing to keep
    assert await keep(TOKEN) == "pending"
    assert await tokens.pending() == [PendingToken(token=TOKEN, received_at=100.0)]
    assert await keep("secret_forged") == "pending"  # kept for the operator to judge, never used

    assert [t.token for t in await tokens.pending()] == ["secret_forged", TOKEN]


async def test_in_one_process_only_the_token_is_kept_where_the_command_cannot_read_it() -> None:
    keep = KeepVerificationToken(tokens=MemoryVerificationTokens(), active=())

    assert await keep(TOKEN) == "local"


async def test_a_token_the_store_could_not_keep_says_so() -> None:
    class Down(MemoryVerificationTokens):
        shared = True

        async def offer(self, token: str, received_at: float) -> bool:
            return False

    assert await KeepVerificationToken(tokens=Down(), active=())(TOKEN) == "unkept"


async def test_only_the_few_most_recent_tokens_are_kept() -> None:
    tokens = MemoryVerificationTokens()
    for n in range(8):
        await tokens.offer(f"secret_{n}", float(n))
    await tokens.offer("secret_3", 9.0)  # a resend moves it to the front

    assert [t.token for t in await tokens.pending()] == ["secret_3", "secret_7", "secret_6", "secret_5", "secret_4"]
