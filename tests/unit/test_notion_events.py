from datetime import UTC, datetime
from typing import Any

import pytest

from domain import notion_events
from domain.errors import InvalidWebhook
from tests.support.fake_notion.webhooks import encode
from tests.support.notion_payloads import DATA_SOURCE_ID, PAGE_ID
from tests.support.notion_webhooks import COMMENT_ID, DOC_HANDSHAKE, DOC_TOKEN, event

BOT = {"id": "b0b0b0b0-0000-4000-8000-000000000001", "type": "bot"}
PERSON = {"id": "c7c11cca-1d73-471d-9b6e-bdef51470190", "type": "person"}


def test_a_page_event_names_the_page_its_data_source_and_the_changed_property_ids() -> None:
    body = event(id="1782edd6-a853-4d4a-b02c-9c8c16f28e53")

    parsed = notion_events.parse(body)

    assert (parsed.id, parsed.type, parsed.kind) == (body["id"], "page.properties_updated", "notion.page")
    assert parsed.timestamp == datetime(2026, 3, 20, 9, 15, 2, 118000, tzinfo=UTC)
    assert (parsed.page_id, parsed.entity_type, parsed.data_source_id) == (PAGE_ID, "page", DATA_SOURCE_ID)
    assert parsed.updated_properties == ("biOx", "XGe%40")


def test_ids_are_taken_with_or_without_dashes() -> None:
    bare = PAGE_ID.replace("-", "").upper()

    assert notion_events.parse(event() | {"entity": {"id": bare, "type": "page"}}).page_id == bare


def test_a_comment_event_names_the_page_the_comment_is_on() -> None:
    parsed = notion_events.parse(event("comment.created"))

    assert (parsed.kind, parsed.entity_id, parsed.page_id) == ("notion.comment", COMMENT_ID, PAGE_ID)
    assert parsed.data_source_id is None


def test_a_schema_event_lists_the_ids_of_the_properties_it_changed() -> None:
    parsed = notion_events.parse(event("data_source.schema_updated"))

    assert (parsed.kind, parsed.updated_properties) == ("notion.schema", ("biOx",))


def test_the_job_is_keyed_on_the_event_id_and_carries_the_body_as_sent() -> None:
    body = event("page.deleted", id="e-1")

    job = notion_events.job(notion_events.parse(body), body, received_at=1e9)

    assert job is not None
    assert (job.kind, job.key, job.action, job.body, job.received_at) == (
        "notion.page",
        "notion:e-1",
        "page.deleted",
        body,
        1e9,
    )
    assert notion_events.parse(job.body) == notion_events.parse(body)  # what a worker reads back


def test_types_the_sync_does_not_act_on_make_no_job() -> None:
    body = event("page.content_updated")

    assert notion_events.job(notion_events.parse(body), body, received_at=0) is None


@pytest.mark.parametrize(
    ("authors", "only_ours"),
    [([BOT], True), ([BOT, PERSON], False), ([PERSON], False), ([], False), ([{**BOT, "type": "person"}], False)],
)
def test_only_by_our_bot_when_every_author_is_it(authors: list[dict[str, str]], only_ours: bool) -> None:
    assert notion_events.parse(event(authors=authors)).only_by_service(BOT["id"]) is only_ours


@pytest.mark.parametrize(
    "body",
    [
        [],
        "page.properties_updated",
        {},
        {k: v for k, v in event().items() if k != "id"},
        {k: v for k, v in event().items() if k != "entity"},
        event() | {"timestamp": "2026-03-20T09:15:02"},  # no time zone
        event() | {"timestamp": "yesterday"},
        event() | {"type": ""},
        event() | {"authors": [{"type": "person"}]},
        event() | {"id": "x" * 65},
        # Ids the worker would put in Notion's API paths: only Notion's own (UUIDs) are taken.
        event() | {"entity": {"id": "../../v1/users/me", "type": "page"}},
        event("comment.created") | {"data": {"page_id": "x?filter_properties=title"}},
        event() | {"data": {"parent": {"id": "d", "type": "database", "data_source_id": "a/b"}}},
    ],
)
def test_a_body_notion_would_not_send_is_invalid(body: Any) -> None:
    with pytest.raises(InvalidWebhook) as caught:
        notion_events.parse(body)

    assert caught.value.message.startswith("The Notion event")


def test_the_handshake_token_is_read_only_from_a_body_without_a_type() -> None:
    assert notion_events.verification_token(notion_events.decode(DOC_HANDSHAKE)) == DOC_TOKEN
    assert notion_events.verification_token({"verification_token": DOC_TOKEN, "type": "page.created"}) is None
    assert notion_events.verification_token({"verification_token": 42}) is None
    assert notion_events.verification_token({"verification_token": ""}) is None
    assert notion_events.verification_token({"verification_token": "a\nb"}) is None
    assert notion_events.verification_token([DOC_TOKEN]) is None


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe{}", b"[" * 100_000 + b"]" * 100_000])
def test_bytes_that_are_not_json_are_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidWebhook):
        notion_events.decode(raw)


def test_decoding_reads_compact_utf8_as_notion_sends_it() -> None:
    assert notion_events.decode(encode({"name": "Zoë"})) == {"name": "Zoë"}
