import json

from adapters.notion import wire
from adapters.notion.columns import Column, Columns
from adapters.notion.languages import language
from domain.markdown import parse
from domain.models import Block, Span
from tests.support.sentry import description


def test_a_60000_character_stack_trace_arrives_whole() -> None:
    stack = "".join(f"  at frame{i} (module{i}.js:{i}:{i})\n" for i in range(2000))[:60000]
    children = wire.blocks(parse(description("BACKEND-1A", 4242, stack)))

    code = [c["code"] for c in children if c["type"] == "code"]
    assert "".join(item["text"]["content"] for c in code for item in c["rich_text"]) == stack
    assert all(len(item["text"]["content"]) <= 2000 for c in code for item in c["rich_text"])
    assert all(len(c["rich_text"]) <= 100 for c in code)


def test_huge_bodies_are_split_into_requests_under_notions_limits() -> None:
    paragraphs = tuple(Block(kind="paragraph", spans=(Span(text=f"line {i} " + "x" * 1900),)) for i in range(450))
    batches = list(wire.batches(wire.blocks(paragraphs)))

    assert sum(len(b) for b in batches) == 450
    assert all(len(b) <= 100 for b in batches)
    assert all(len(json.dumps({"children": b}).encode()) < 500_000 for b in batches)


def test_long_rich_text_continues_in_a_block_of_the_same_kind() -> None:
    (block,) = parse("```js\n" + "y" * 250_000 + "\n```")
    children = wire.blocks([block])

    assert [c["type"] for c in children] == ["code", "code"]
    assert [len(c["code"]["rich_text"]) for c in children] == [100, 25]
    assert {c["code"]["language"] for c in children} == {"javascript"}


def test_length_counts_utf16_units_like_notion() -> None:
    parts = wire.split_text("😀" * 1500)

    assert [len(p) for p in parts] == [1000, 500]


def test_title_over_the_limit_is_cut_with_an_ellipsis() -> None:
    title = wire.truncate("é" * 2500)

    assert len(title) == 2000
    assert title.endswith("…")
    assert wire.truncate("short") == "short"


def test_marks_and_links_become_annotations() -> None:
    (item,) = wire.rich_text([Span(text="x", link="https://a.io", bold=True, code=True)])

    assert item == {
        "type": "text",
        "text": {"content": "x", "link": {"url": "https://a.io"}},
        "annotations": {"bold": True, "code": True},
    }


def test_unknown_code_languages_fall_back_to_plain_text() -> None:
    assert [language(n) for n in ("py", "TS", "brainfuck", None)] == [
        "python",
        "typescript",
        "plain text",
        "plain text",
    ]


def test_long_page_urls_lose_their_slug_to_fit_sentry() -> None:
    hex_id = "be633bf1dfa0436db259571129a590e5"
    long_url = f"https://app.notion.com/p/{'Very-long-title-' * 20}{hex_id}?source=x"

    assert wire.short_url(long_url) == f"https://app.notion.com/p/{hex_id}"
    assert wire.short_url(f"https://app.notion.com/p/Short-{hex_id}") == f"https://app.notion.com/p/Short-{hex_id}"


def test_identifier_with_and_without_prefix() -> None:
    assert wire.identifier({"prefix": "BUG", "number": 12}) == "BUG-12"
    assert wire.identifier({"prefix": None, "number": 12}) == "12"
    assert wire.identifier(None) == ""


def test_batches_are_measured_as_sent_so_escaped_text_stays_under_500_kb() -> None:
    cjk = tuple(Block(kind="paragraph", spans=(Span(text="漢" * 1990),)) for _ in range(90))
    batches = list(wire.batches(wire.blocks(cjk)))

    assert len(batches) > 1
    assert all(len(json.dumps({"children": b}).encode()) < 500_000 for b in batches)


def test_a_value_of_another_type_than_its_column_has_now_reads_as_none() -> None:
    # The page as read before Level went from select to text and Status from status to select.
    page = {
        "properties": {
            "Level": {"id": "lv", "type": "select", "select": {"name": "error"}},
            "Status": {"id": "st", "type": "status", "status": {"name": "Done"}},
            "Events": {"id": "ev", "type": "number", "number": 12},
        }
    }
    columns = {
        "Level": Column(id="lv", type="rich_text"),
        "Status": Column(id="st", type="select", options=("Done",)),
        "Events": Column(id="ev", type="number"),
    }
    names = Columns(status="Status", details=(("level", "Level"), ("events", "Events")))

    state = wire.entry_state(page, columns, names)

    assert (state.status, state.details) == (None, {"level": None, "events": 12})
