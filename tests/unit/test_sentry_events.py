import pytest

from domain.errors import InvalidWebhook
from domain.sentry_events import delivery, sent_at
from tests.support.sentry import group, webhook

T0 = 1_764_800_000
RESOLVED = webhook("resolved", {"issue": group(status="resolved")})


@pytest.mark.parametrize(
    "timestamp",
    [None, "", "abc", "nan", "NaN", "inf", "-inf", "1e20", "1e9", "-1764800000", "1764800000.5", "17648000001",
     "99999999999999999999999", "0", "123", "4102444800", "01764800000", "0950000000", "１７６４８０００００",
     "1764800000\n1"],
)  # fmt: skip
def test_timestamps_sentry_would_not_send_are_refused(timestamp: str | None) -> None:
    with pytest.raises(InvalidWebhook, match="Sentry-Hook-Timestamp"):
        delivery("issue", timestamp, RESOLVED, received_at=T0, triggers=False)


def test_a_timestamp_as_sentry_writes_it_is_taken_as_whole_seconds() -> None:
    assert sent_at(str(T0)) == T0
    assert sent_at(f" {T0} ") == T0
    assert delivery("issue", str(T0), RESOLVED, received_at=T0 + 30.5, triggers=False).sent_at == T0


def test_a_delivery_sent_again_with_another_timestamp_has_the_same_key() -> None:
    first = delivery("issue", str(T0), RESOLVED, received_at=T0, triggers=False)
    again = delivery("issue", str(T0 + 300), RESOLVED, received_at=T0 + 300, triggers=False)
    counted = webhook("resolved", {"issue": group(status="resolved", count="43")})
    other = delivery("issue", str(T0), counted, received_at=T0, triggers=False)

    assert first.key == again.key
    assert other.key != first.key


def test_with_sentrys_api_the_events_of_one_issue_share_one_coalescing_key() -> None:
    resolved = delivery("issue", str(T0), RESOLVED, received_at=T0, triggers=True)
    reopened = delivery("issue", str(T0), webhook("unresolved", {"issue": group()}), received_at=T0, triggers=True)
    elsewhere = delivery("issue", str(T0), webhook("resolved", {"issue": group(4343)}), received_at=T0, triggers=True)
    comment = webhook(
        "created", {"comment_id": 7, "issue_id": 4242, "comment": "hi", "timestamp": "2026-12-01T00:00:00Z"}
    )

    assert resolved.coalesce
    assert resolved.key == reopened.key != elsewhere.key
    assert not delivery("comment", str(T0), comment, received_at=T0, triggers=True).coalesce


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b'{"data": {}}', b'{"action": 3}', b"\xff\xfe"])
def test_bodies_sentry_would_not_send_are_refused(raw: bytes) -> None:
    with pytest.raises(InvalidWebhook):
        delivery("issue", str(T0), raw, received_at=T0, triggers=False)
