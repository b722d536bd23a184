import re

from domain.models import Block, BlockKind, Span

# Descriptions are typed by any Sentry user and parsed on the event loop, so every step here is linear in the
# text (a backtracking pattern let one description stall a replica for minutes). Block syntax is read with str
# methods; inline patterns are possessive, and a bare URL gives back only its trailing punctuation.
_INLINE = re.compile(
    r"`(?P<code>[^`\n]++)`"
    r"|\*\*(?P<bold>[^*\n]++)\*\*"
    r"|\*(?<![\w*]\*)(?P<italic>[^*\n]++)\*(?![\w*])"
    r"|(?P<url>https?+://[^\s<>()\[\]]+[^\s<>()\[\].,;:!?'\"])"
)
# A link's label runs from its "[" to the first "]" or newline, which every "[" before it shares: only the first
# "[" of such a stretch needs trying, and _LINK_STRETCH finds the next stretch that ends like a link (reading its
# href only up to the next "]", where the next stretch starts).
_LINK_STRETCH = re.compile(
    r"(?<=[\]\n])[^\[\]\n]*+(?P<open>\[)[^\]\n]++(?P<middle>\]\(https?+://)(?:[^)\s\]]++\)|[^)\s\]]*+\])"
)
_LINK_MIDDLE = re.compile(r"\]\(https?+://")
_OPEN, _CLOSE, _HREF_END = re.compile(r"\["), re.compile(r"[\]\n]"), re.compile(r"[)\s]")
_INFO = re.compile(r"[\w#+.\- ]*+")
_NUMBER = re.compile(r"\d{1,9}[.)]\s")
# Notion takes 100 blocks per request, so a thousand already cost ten. Past these, the rest of a description stays
# plain text: nothing is lost, and a description built of tiny blocks or spans costs neither Notion's budget nor
# the event loop's time in building them.
MAX_BLOCKS, MAX_SPANS = 1000, 5000


def parse(markdown: str) -> tuple[Block, ...]:
    blocks: list[Block] = []
    paragraph: list[str] = []
    made = 0  # spans so far

    def add(block: Block) -> None:
        nonlocal made
        blocks.append(block)
        made += len(block.spans)

    def flush() -> None:
        if paragraph:
            add(Block(kind="paragraph", spans=spans("\n".join(paragraph), MAX_SPANS - made)))
            paragraph.clear()

    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines):
        if len(blocks) + 1 >= MAX_BLOCKS or made >= MAX_SPANS:
            paragraph.extend(lines[i:])
            add(Block(kind="paragraph", spans=(Span(text="\n".join(paragraph)),)))
            return tuple(blocks)
        line = lines[i]
        i += 1
        if fence := _fence(line):
            flush()
            marker, language = fence
            code = []
            while i < len(lines) and not lines[i].strip().startswith(marker):
                code.append(lines[i])
                i += 1
            i += 1  # the closing fence; an unclosed fence runs to the end, as in CommonMark
            add(Block(kind="code", spans=(Span(text="\n".join(code)),), language=language))
        elif not line.strip():
            flush()
        elif _is_rule(line):
            flush()
            add(Block(kind="divider"))
        elif item := _line_block(line, MAX_SPANS - made):
            flush()
            add(item)
        else:
            paragraph.append(line)
    flush()
    return tuple(blocks)


def _marked(line: str) -> str | None:
    # Block markers may be indented by up to three whitespace characters.
    body = line.lstrip()
    return body if len(line) - len(body) <= 3 else None


def _fence(line: str) -> tuple[str, str | None] | None:
    body = _marked(line)
    if body is None or body[:1] not in ("`", "~"):
        return None
    rest = body.lstrip(body[0])
    marker = body[: len(body) - len(rest)]
    rest = rest.lstrip()
    info = _INFO.match(rest)
    if len(marker) < 3 or info is None or rest[info.end() :].strip():
        return None
    return marker, info.group().strip().lower() or None


def _is_rule(line: str) -> bool:
    body = (_marked(line) or "").rstrip()
    mark = body[:1]
    return mark in ("-", "*", "_") and body.count(mark) >= 3 and not body.replace(mark, "").strip()


def _line_block(line: str, most: int) -> Block | None:
    body = _marked(line)
    if not body:
        return None
    kind: BlockKind
    if (level := len(body) - len(body.lstrip("#"))) and level <= 6 and body[level : level + 1].isspace():
        kind, text = "heading", body[level:].strip().rstrip("#").rstrip()
    elif body[0] in "-*+" and body[1:2].isspace():
        kind, text = "bullet", body[1:].lstrip()
    elif number := _NUMBER.match(body):
        kind, text = "numbered", body[number.end() :].lstrip()
    elif body[0] == ">":
        kind, text = "quote", body[2:] if body[1:2].isspace() else body[1:]
    else:
        return None
    return Block(kind=kind, spans=spans(text, most))


def spans(text: str, most: int = MAX_SPANS) -> tuple[Span, ...]:
    # Past `most` spans, the rest of the text is one plain span.
    out: list[Span] = []
    find = _Finder(text)
    at = 0
    mark = _INLINE.search(text)
    link = _link(text, 0, find)
    while (mark or link) and len(out) + 3 <= most:
        span: Span
        if link and (not mark or link[0] < mark.start()):
            start, close, href_end = link
            end, span = href_end + 1, Span(text=text[start + 1 : close], link=text[close + 2 : href_end])
        elif mark:
            start, end, span = mark.start(), mark.end(), _mark_span(mark)
        if start > at:
            out.append(Span(text=text[at:start]))
        out.append(span)
        at = end
        if mark and mark.start() < at:
            mark = _INLINE.search(text, at)
        if link and link[0] < at:
            link = _link(text, at, find)
    if at < len(text):
        out.append(Span(text=text[at:]))
    return tuple(out)


def _mark_span(mark: re.Match[str]) -> Span:
    if mark["code"] is not None:
        return Span(text=mark["code"], code=True)
    if mark["bold"] is not None:
        return Span(text=mark["bold"], bold=True)
    if mark["italic"] is not None:
        return Span(text=mark["italic"], italic=True)
    return Span(text=mark["url"], link=mark["url"])


def _link(text: str, pos: int, find: "_Finder") -> tuple[int, int, int] | None:
    # The first [label](http…) at or after pos, as the positions of its "[", "]" and ")".
    opening = find(_OPEN, pos)
    close = find(_CLOSE, opening + 1)
    middle = _LINK_MIDDLE.match(text, close) if close > opening + 1 else None
    href_at = middle.end() if middle else None
    while True:
        if href_at is not None:
            href_end = find(_HREF_END, href_at)
            if href_end > href_at and text.startswith(")", href_end):
                return opening, close, href_end
            close = text.rfind("]", close, href_end)  # every link whose "](" comes before href_end ends there too
        if not (stretch := _LINK_STRETCH.search(text, close + 1)):
            return None
        opening, close, href_at = stretch.start("open"), stretch.start("middle"), stretch.end("middle")


class _Finder:
    # Where the next match of a pattern starts, at or after a position (len(text) if none). The answer holds for
    # every position up to it, so searches from positions that only move forward read each character once.
    def __init__(self, text: str) -> None:
        self._text = text
        self._known: dict[re.Pattern[str], tuple[int, int]] = {}

    def __call__(self, pattern: re.Pattern[str], start: int) -> int:
        since, at = self._known.get(pattern, (1, 0))
        if not since <= start <= at:
            found = pattern.search(self._text, start)
            since, at = start, found.start() if found else len(self._text)
            self._known[pattern] = since, at
        return at
