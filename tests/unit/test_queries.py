import pytest

from domain.models import EntryQuery
from domain.queries import notion_id, parse_entry_query

PAGE = "be633bf1-dfa0-436d-b259-571129a590e5"


@pytest.mark.parametrize(
    "pasted",
    [
        "be633bf1dfa0436db259571129a590e5",
        "BE633BF1-DFA0-436D-B259-571129A590E5",
        "https://www.notion.so/be633bf1dfa0436db259571129a590e5",
        "https://www.notion.so/acme/Add-cafe-be633bf1dfa0436db259571129a590e5?pvs=4",
        "https://app.notion.com/p/be633bf1dfa0436db259571129a590e5",
        "https://app.notion.com/p/Login-bug-be633bf1dfa0436db259571129a590e5?source=copy_link",
        "https://www.notion.so/0f1e2d3c4b5a69788796a5b4c3d2e1f0?v=1f2e3d4c5b6a79880796a5b4c3d2e1f0&p=be633bf1dfa0436db259571129a590e5",
        "https://acme.notion.site/Login-bug-be633bf1dfa0436db259571129a590e5#block-1f2e3d4c5b6a79880796a5b4c3d2e1f0",
        "  notion.so/be633bf1-dfa0-436d-b259-571129a590e5  ",
    ],
)
def test_finds_the_page_in_every_pasted_form(pasted: str) -> None:
    assert notion_id(pasted) == PAGE
    assert parse_entry_query(pasted) == EntryQuery(page_id=PAGE)


@pytest.mark.parametrize(
    "text", ["https://example.com/be633bf1dfa0436db259571129a590e5", "login", "be633bf1dfa0436d", ""]
)
def test_other_text_is_not_a_page(text: str) -> None:
    assert notion_id(text) is None


@pytest.mark.parametrize(
    ("text", "number", "prefix"),
    [("BUG-12", 12, "bug"), ("bug-12", 12, "bug"), ("12", 12, None), ("#12", 12, None), ("Task_ID-7", 7, "task_id")],
)
def test_unique_ids_in_any_case(text: str, number: int, prefix: str | None) -> None:
    query = parse_entry_query(text)
    assert (query.number, query.prefix, query.words) == (number, prefix, (text,))


def test_words_are_split_and_blank_lists_recent() -> None:
    assert parse_entry_query("  login   bug ").words == ("login", "bug")
    assert parse_entry_query("   ") == EntryQuery()
