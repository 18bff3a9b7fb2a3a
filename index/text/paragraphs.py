"""Split a document into content paragraphs that keep exact character offsets.

Layout: blank lines separate blocks. A block of several lines is one hard-wrapped
paragraph when its lines look wrapped (similar widths, mostly no sentence end at the break);
otherwise each line is its own paragraph, which also covers documents that put one
paragraph per line and have no blank lines at all.

Content: a paragraph is kept when it reads as prose: at least ``MIN_WORDS`` words, and
either at least ``LONG_PARAGRAPH_WORDS`` words or an ending with a full stop or a question
mark (optionally inside closing quotes or brackets, or before reference markers such as
"[12]"), or with "!" inside a quote. Page furniture fails that test by its form: player
notices and captions are short or unpunctuated, promotions end with a bare "!", cross-links
start with an upper-case label and a colon ("SEE ALSO:"). Bullet items and short sentences
that state a fact are kept too, and so is the headline; a document with nothing else keeps
its short lines (a feed entry's one-line summary).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_WORDS = 8
# A bullet item or a line ending in a full stop states a fact from this many words on
# ("Tajikistan mobilized 20,000 reservists."); shorter lines are labels and captions.
MIN_FACT_WORDS = 5
# A document with no paragraph kept (a feed entry's one-line summary) is read whole: each of
# its lines of at least this many words.
MIN_FALLBACK_WORDS = 3
_MENU = re.compile(r"\s[|\u00b7\u00bb>/]\s")  # "Home | News", "World » Asia"
# Page furniture (captions, player notices, promotions, cross-links) is short: a paragraph of
# this many words is kept whatever it ends with. On SQuAD train, 874 of 18,896 paragraphs
# (4.6%) failed the sentence-end test only because they end in a colon, a reference marker
# ("[citation needed]", "[n 7]") or no full stop.
LONG_PARAGRAPH_WORDS = 40
# A paragraph longer than this is stored as several passages, cut after a sentence (or, for
# one endless sentence, at a space), so that the reader's work per passage is bounded
# whatever a document looks like (a 1 MB single-line file is ~350 passages, not one).
# News and Wikipedia paragraphs are far shorter: this only cuts what is not a paragraph.
MAX_PASSAGE_CHARS = 3000
_CLOSERS = re.escape("\"'\u201d\u2019)]")
_SENTENCE_END = re.compile(rf"(?:[.?][{_CLOSERS}]*|![{_CLOSERS}]+)$")
_TRAILING_REFERENCES = re.compile(r"(?:\s*\[[^\[\]\n]{1,30}\])+$")  # "...text.[citation needed]"
_LINK_LABEL = re.compile(r"^[A-Z][A-Z ]{2,}:")
_BULLET = re.compile(r"^\s*[\u2022\u00b7*\-\u2013]\s")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_SENTENCE_BREAK = re.compile(rf"[.?!][{_CLOSERS}]*\s+")


@dataclass(frozen=True)
class Paragraph:
    start: int
    end: int
    text: str


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _blocks(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for match in _BLANK_LINE.finditer(text):
        spans.append((pos, match.start()))
        pos = match.end()
    spans.append((pos, len(text)))
    return [(s, e) for s, e in (_strip(text, s, e) for s, e in spans) if s < e]


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, pos = [], start
    for line in text[start:end].splitlines(keepends=True):
        s, e = _strip(text, pos, pos + len(line))
        if s < e:
            spans.append((s, e))
        pos += len(line)
    return spans


def _looks_wrapped(text: str, lines: list[tuple[int, int]]) -> bool:
    """True when a block's line breaks are hard wraps inside one paragraph."""
    if len(lines) < 2 or any(_BULLET.match(text[s:e]) for s, e in lines):
        return False
    widths = [e - s for s, e in lines[:-1]]
    unbroken = sum(not _SENTENCE_END.search(text[s:e]) for s, e in lines[:-1])
    return max(widths) <= 100 and min(widths) >= 0.6 * max(widths) and unbroken * 2 > len(widths)


def raw_paragraphs(text: str) -> list[Paragraph]:
    """Every non-empty paragraph, in order, before furniture is removed."""
    spans: list[tuple[int, int]] = []
    for start, end in _blocks(text):
        lines = _lines(text, start, end)
        spans += [(start, end)] if _looks_wrapped(text, lines) else lines
    return [Paragraph(s, e, text[s:e]) for s, e in spans]


def is_fact_line(paragraph: str) -> bool:
    """A bullet item or a short line that states something: read, though it is no
    paragraph of prose ("• More than 1,000 Afghan soldiers crossed the border")."""
    words = len(paragraph.split())
    if _LINK_LABEL.match(paragraph):
        return False
    if _BULLET.match(paragraph):
        return words - 1 >= MIN_FACT_WORDS
    return words >= MIN_FACT_WORDS and bool(_SENTENCE_END.search(paragraph))


def _states_something(line: str) -> bool:
    """A short line of words, not a menu ("Home | News | Sport") or a label."""
    words = [w for w in line.split() if any(c.isalpha() for c in w)]
    return len(words) >= MIN_FALLBACK_WORDS and not _MENU.search(line) and not _LINK_LABEL.match(line)


def is_prose(paragraph: str) -> bool:
    words = len(paragraph.split())
    if words < MIN_WORDS or _LINK_LABEL.match(paragraph):
        return False
    if words >= LONG_PARAGRAPH_WORDS:  # furniture is short; a long block is text however it ends
        return True
    return bool(_SENTENCE_END.search(_TRAILING_REFERENCES.sub("", paragraph)))


def _is_heading(paragraph: str) -> bool:
    words = paragraph.split()
    return (
        3 <= len(words) <= 25
        and paragraph[0].isupper()
        and not paragraph.isupper()
        and not _LINK_LABEL.match(paragraph)
        and not re.search(r"[.!?:]$", paragraph)
    )


def bounded_pieces(text: str, start: int, end: int, limit: int = MAX_PASSAGE_CHARS) -> list[tuple[int, int]]:
    """``text[start:end]`` cut into pieces of at most ``limit`` characters: after the last
    sentence end that leaves a piece at least half full, else at the last space, else hard."""
    pieces = []
    while end - start > limit:
        window = text[start : start + limit]
        breaks = [m.end() for m in _SENTENCE_BREAK.finditer(window) if m.end() >= limit // 2]
        space = window.rfind(" ", limit // 2)
        cut = breaks[-1] if breaks else (space + 1 if space > 0 else limit)
        s, e = _strip(text, start, start + cut)
        if s < e:
            pieces.append((s, e))
        start, end = _strip(text, start + cut, end)
    if start < end:
        pieces.append((start, end))
    return pieces


def split_paragraphs(text: str, limit: int = MAX_PASSAGE_CHARS, title: str | None = None) -> list[Paragraph]:
    """Content paragraphs of a document with exact offsets, in order: prose paragraphs,
    bullet items and short lines that state facts, and the headline (the paragraph that is
    ``title``); a document with none of these keeps every line of a few words (a feed
    entry's summary). One longer than ``limit`` characters becomes several
    (see ``bounded_pieces``)."""
    raw = raw_paragraphs(text)
    headline = " ".join(title.split()) if title else None
    kept = [
        p
        for p in raw
        if is_prose(p.text)
        or is_fact_line(p.text)
        or (headline and " ".join(p.text.split()) == headline and _states_something(p.text))
    ]
    if not kept:
        kept = [p for p in raw if _states_something(p.text)]
    out = []
    for p in kept:
        out += [Paragraph(s, e, text[s:e]) for s, e in bounded_pieces(text, p.start, p.end, limit)]
    return out


def document_title(text: str, limit: int = 200) -> str:
    """The first heading or prose line of the document, at most ``limit`` characters, cut
    at a word boundary (with an ellipsis) when longer."""
    for p in raw_paragraphs(text):
        if _is_heading(p.text) or is_prose(p.text):
            return clipped(" ".join(p.text.split()), limit)
    return ""


def clipped(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else cut at a word boundary with an
    ellipsis, within ``limit``."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return (text[:cut] if cut > limit // 2 else text[: limit - 1]).rstrip(",;:") + "…"
