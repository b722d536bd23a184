import re

from domain.models import Block, BlockKind, Span

_FENCE = re.compile(r"^\s{0,3}(```+|~~~+)\s*([\w#+.\- ]*)\s*$")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s{0,3}[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s{0,3}\d{1,9}[.)]\s+(.*)$")
_QUOTE = re.compile(r"^\s{0,3}>\s?(.*)$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_INLINE = re.compile(
    r"`(?P<code>[^`\n]+)`"
    r"|\[(?P<label>[^\]\n]+)\]\((?P<href>https?://[^)\s]+)\)"
    r"|\*\*(?P<bold>[^*\n]+)\*\*"
    r"|(?<![\w*])\*(?P<italic>[^*\n]+)\*(?![\w*])"
    r"|(?P<url>https?://[^\s<>()\[\]]+[^\s<>()\[\].,;:!?'\"])"
)


def parse(markdown: str) -> tuple[Block, ...]:
    blocks: list[Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(Block(kind="paragraph", spans=spans("\n".join(paragraph))))
            paragraph.clear()

    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if fence := _FENCE.match(line):
            flush()
            marker, code = fence.group(1), []
            while i < len(lines) and not lines[i].strip().startswith(marker):
                code.append(lines[i])
                i += 1
            i += 1  # the closing fence; an unclosed fence runs to the end, as in CommonMark
            language = fence.group(2).strip().lower() or None
            blocks.append(Block(kind="code", spans=(Span(text="\n".join(code)),), language=language))
        elif not line.strip():
            flush()
        elif _RULE.match(line):
            flush()
            blocks.append(Block(kind="divider"))
        elif item := _line_block(line):
            flush()
            blocks.append(item)
        else:
            paragraph.append(line)
    flush()
    return tuple(blocks)


def _line_block(line: str) -> Block | None:
    kinds: tuple[tuple[re.Pattern[str], BlockKind], ...] = (
        (_HEADING, "heading"),
        (_BULLET, "bullet"),
        (_NUMBERED, "numbered"),
        (_QUOTE, "quote"),
    )
    for pattern, kind in kinds:
        if match := pattern.match(line):
            return Block(kind=kind, spans=spans(match.group(1)))
    return None


def spans(text: str) -> tuple[Span, ...]:
    out: list[Span] = []
    at = 0
    for match in _INLINE.finditer(text):
        if match.start() > at:
            out.append(Span(text=text[at : match.start()]))
        if match["code"] is not None:
            out.append(Span(text=match["code"], code=True))
        elif match["label"] is not None:
            out.append(Span(text=match["label"], link=match["href"]))
        elif match["bold"] is not None:
            out.append(Span(text=match["bold"], bold=True))
        elif match["italic"] is not None:
            out.append(Span(text=match["italic"], italic=True))
        else:
            out.append(Span(text=match["url"], link=match["url"]))
        at = match.end()
    if at < len(text):
        out.append(Span(text=text[at:]))
    return tuple(out)
