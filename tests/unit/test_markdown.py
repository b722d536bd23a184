import multiprocessing
import re
from collections import Counter
from multiprocessing.connection import Connection

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.markdown import MAX_BLOCKS, MAX_SPANS, parse
from domain.models import Block, Span
from tests.support.sentry import description


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


# Inputs built to make a backtracking parser blow up (issue 7), each about SIZE characters, with the text the
# blocks must hold: nothing of it may be lost on the way.
SIZE = 200_000
BOUND_S = 5.0  # a linear parse of SIZE takes milliseconds; a blow-up takes minutes to days


def _repeat(unit: str) -> str:
    return unit * (SIZE // len(unit))


HOSTILE = {
    "fence of backticks, spaces, then !": ("```" + " " * SIZE + "!", None),
    "fence of tildes, tabs, then !": ("~~~" + "\t" * SIZE + "!", None),
    "run of [": ("[" * SIZE, None),
    "[a repeated": (_repeat("[a"), None),
    "*a repeated": (_repeat("*a"), None),
    "[a]( repeated": (_repeat("[a]("), None),
    "[a](http:// repeated": (_repeat("[a](http://"), None),
    "[a](http://]x and a space repeated": (_repeat("[a](http://]x "), None),
    "** repeated": ("x" + _repeat("**"), None),  # a line of nothing but * is a divider
    "` repeated": ("x" + _repeat("`"), None),  # and one of nothing but ` a code fence
    "http:// repeated": (_repeat("http://"), None),
    "spaces then a character": (" " * SIZE + "x", None),
    "heading of spaces": ("# x" + " " * SIZE + "y", "x" + " " * SIZE + "y"),
    "# and spaces": ("#" + " " * SIZE + "x", "x"),
    "- and spaces": ("-" + " " * SIZE + "x", "x"),
    "- repeated": (_repeat("- ") + "x", _repeat("- ")[2:] + "x"),
}


def test_italics_overlapping_one_long_link_are_parsed_in_linear_time_and_keep_their_text() -> None:
    (block,) = parse_within(_repeat("*[* ") + "](http://x)")

    # Fifty thousand italics: past the span budget the rest stays plain text, its asterisks included.
    assert len(block.spans) <= MAX_SPANS
    assert text_of((block,)).replace("*", "") == "[ " * (SIZE // 4) + "](http://x)"


@pytest.mark.parametrize(
    "markdown",
    ["`a` " * 100_000, "- a\n" * 100_000, "# a\n\n" * 50_000, "**a** *b* `c` http://d " * 20_000],
    ids=["code spans", "bullets", "headings", "mixed spans"],
)
def test_a_description_of_tiny_blocks_and_spans_is_kept_whole_within_a_budget(markdown: str) -> None:
    blocks = parse_within(markdown)

    assert len(blocks) <= MAX_BLOCKS
    assert sum(len(block.spans) for block in blocks) <= MAX_SPANS + 1
    assert letters(text_of(blocks)) == letters(markdown)


def _parse_into(markdown: str, send: Connection) -> None:
    send.send(parse(markdown))


def parse_within(markdown: str, seconds: float = BOUND_S) -> tuple[Block, ...]:
    # A backtracking regex holds the GIL until it returns, so neither a thread nor an alarm could stop a blow-up:
    # the parse runs in a child process that is killed when the bound is up.
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_parse_into, args=(markdown, send), daemon=True)
    child.start()
    try:
        if not receive.poll(seconds):
            pytest.fail(f"parsing {len(markdown)} characters took over {seconds} s")
        blocks: tuple[Block, ...] = receive.recv()
        return blocks
    finally:
        child.kill()
        child.join()


def text_of(blocks: tuple[Block, ...]) -> str:
    return "".join(span.text for block in blocks for span in block.spans)


@pytest.mark.parametrize(("markdown", "text"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_is_parsed_in_linear_time_and_keeps_its_text(markdown: str, text: str | None) -> None:
    (block,) = parse_within(markdown)

    assert text_of((block,)) == (markdown if text is None else text)


# Hypothesis composes documents out of the tokens the patterns care about, in runs long enough to make a
# backtracking parser blow up.
TOKENS = ("`", "```", "~~~", "[", "]", "(", ")", "](", "*", "**", "#", ">", "-", "_", "1.", " ", "\t", "\n", "\r\n")
WORDS = ("http://x", "https://ab", "a", "b", "ab")
runs = st.tuples(st.sampled_from(TOKENS + WORDS), st.integers(min_value=1, max_value=3000)).map(lambda r: r[0] * r[1])
documents = st.lists(st.one_of(st.sampled_from(TOKENS + WORDS), runs), max_size=30).map("".join)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def letters(text: str) -> Counter[str]:
    return Counter(c for c in text if c.isalpha())


@FUZZ
@given(documents)
def test_any_document_is_parsed_in_bounded_time_without_losing_letters(markdown: str) -> None:
    blocks = parse_within(markdown)

    spans = [span for block in blocks for span in block.spans]
    languages = "".join(block.language or "" for block in blocks)
    shown = letters(languages + "".join(span.text for span in spans))
    linked = letters("".join(span.link for span in spans if span.link and span.link != span.text))
    # Letters after a fence marker go to the code block's language, or are dropped with a closing fence.
    fence_lines = [line for line in re.split(r"\r\n|\r|\n", markdown) if line.strip().startswith(("```", "~~~"))]
    assert letters(markdown) - letters("".join(fence_lines)) <= shown + letters("".join(s.link or "" for s in spans))
    assert shown + linked <= letters(markdown)
