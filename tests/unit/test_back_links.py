from adapters.memory import MemoryLocks, MemorySyncState
from domain.back_links import BackLinks
from domain.errors import SentryUnavailable
from domain.models import LinkedEntry
from tests.support.fakes import FakeSentryApi, sentry_issue

ENTRY = LinkedEntry(web_url="https://app.notion.com/p/abc", project="Bugs", identifier="BUG-12", page_id="abc")


async def test_the_note_is_left_once_per_entry() -> None:
    sentry = FakeSentryApi()
    back_links = BackLinks(sentry=sentry, state=MemorySyncState(), locks=MemoryLocks())

    await back_links(sentry_issue(), ENTRY)
    await back_links(sentry_issue(), ENTRY)  # a second link of the same entry
    await back_links(sentry_issue(), ENTRY.model_copy(update={"web_url": "https://app.notion.com/p/def"}))

    assert sentry.notes == [
        ("4242", "Linked to Notion BUG-12: https://app.notion.com/p/abc"),
        ("4242", "Linked to Notion BUG-12: https://app.notion.com/p/def"),
    ]


class Refusing(FakeSentryApi):
    async def add_note(self, issue_id: str, text: str) -> str:
        raise SentryUnavailable("Sentry failed (502); try again.")


async def test_a_note_sentry_refuses_does_not_fail_the_link_and_is_tried_again_next_time() -> None:
    state = MemorySyncState()

    await BackLinks(sentry=Refusing(), state=state, locks=MemoryLocks())(sentry_issue(), ENTRY)
    sentry = FakeSentryApi()
    await BackLinks(sentry=sentry, state=state, locks=MemoryLocks())(sentry_issue(), ENTRY)

    assert sentry.notes == [("4242", "Linked to Notion BUG-12: https://app.notion.com/p/abc")]


async def test_without_sentrys_api_nothing_is_written() -> None:
    state = MemorySyncState()

    await BackLinks(sentry=None, state=state, locks=MemoryLocks())(sentry_issue(), ENTRY)

    assert await state.get("note:a8e5d37a-696c-4c54-adb5-b3f28d64c7de:4242:https://app.notion.com/p/abc") is None
