from domain.markdown import parse
from domain.models import Block, Span
from tests.sentry import description


def test_sentry_description_becomes_a_link_and_a_code_block() -> None:
    blocks = parse(description("BACKEND-1A", 4242, 'File "app.py", line 3\n    raise KeyError'))

    assert blocks == (
        Block(
            kind="paragraph",
            spans=(
                Span(text="Sentry Issue: "),
                Span(text="BACKEND-1A", link="https://acme.sentry.io/issues/4242/?referrer=Notion"),
            ),
        ),
        Block(kind="code", spans=(Span(text='File "app.py", line 3\n    raise KeyError'),)),
    )


def test_block_kinds_and_inline_marks() -> None:
    blocks = parse("# Title\n- one **two**\n1. `three`\n> quoted\n\n---\nsee https://x.io/a.\nsecond line")

    assert [b.kind for b in blocks] == ["heading", "bullet", "numbered", "quote", "divider", "paragraph"]
    assert blocks[1].spans == (Span(text="one "), Span(text="two", bold=True))
    assert blocks[2].spans == (Span(text="three", code=True),)
    assert blocks[5].spans == (
        Span(text="see "),
        Span(text="https://x.io/a", link="https://x.io/a"),
        Span(text=".\nsecond line"),
    )


def test_fence_language_and_unclosed_fence() -> None:
    (code,) = parse("```python\nraise ValueError\n\nmore")

    assert code.language == "python"
    assert code.spans[0].text == "raise ValueError\n\nmore"


def test_non_http_links_stay_text() -> None:
    (paragraph,) = parse("[click](javascript:alert(1))")

    assert all(span.link is None for span in paragraph.spans)
