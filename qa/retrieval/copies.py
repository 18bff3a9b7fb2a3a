"""Wire copies: the same text under several outlets' names (a syndicated agency story, a
press release, a lightly edited rewrite) is one source, not several.

Two texts are copies when most of the shorter one's word 5-grams ("shingles") are in the
longer one. Independent reports of one event share names and figures but seldom five words
in a row: on the 133 real pages of ``../shared/eval/news`` (stories that several outlets
covered in their own words), no two bodies share more than 2% of their shingles, two pages of
one site share at most 27% (boilerplate), and a syndicated copy shares nearly all of them.
Passages are judged the same way, which is what an answer's citations need: the sentence
that states the answer, copied, counts once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar


class _Text(Protocol):
    @property
    def doc_id(self) -> str: ...
    @property
    def text(self) -> str: ...


P = TypeVar("P", bound=_Text)
SHINGLE_WORDS = 5
# The share of the shorter text's shingles the longer must hold for the two to be copies.
COPY_CONTAINMENT = 0.6
# Passages are held to more: a paragraph is short, and one edited word moves five shingles.
PASSAGE_CONTAINMENT = 0.8
MIN_SHINGLES = 8  # shorter texts (a headline, a dateline) are too short to tell
_WORD = re.compile(r"\w+")
_FIGURE = re.compile(r"\d[\d,.]*")


def shingles(text: str, n: int = SHINGLE_WORDS) -> frozenset[int]:
    """The hashed word ``n``-grams of ``text`` (case and punctuation aside)."""
    words = _WORD.findall(text.casefold())
    return frozenset(hash(" ".join(words[i : i + n])) for i in range(len(words) - n + 1))


def containment(a: frozenset[int], b: frozenset[int]) -> float:
    """The share of the smaller set's shingles that the other holds."""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return len(small & large) / len(small) if small else 0.0


def are_copies(a: frozenset[int], b: frozenset[int]) -> bool:
    return min(len(a), len(b)) >= MIN_SHINGLES and containment(a, b) >= COPY_CONTAINMENT


def sources(doc_ids: Sequence[str], texts: Sequence[str]) -> list[str]:
    """For each passage (its document and text, best first), the document that stands for
    its source: the document of the first passage before it that it copies (``same_words``),
    else its own. Judged passage by passage: two articles that share one wire paragraph are
    one source for what that paragraph says, not for the rest."""
    out: list[str] = []
    seen: list[tuple[str, Words]] = []  # (source, words) of the passages so far
    for doc_id, text in zip(doc_ids, texts, strict=True):
        words = Words.of(text)
        out.append(next((s for s, other in seen if s != doc_id and words.same(other)), doc_id))
        seen.append((out[-1], words))
    return out


@dataclass(frozen=True)
class Words:
    """What two passages are compared by: their shingles and the figures they state."""

    shingles: frozenset[int]
    figures: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Words:
        return cls(shingles(text), tuple(sorted(_FIGURE.findall(text))))

    def same(self, other: Words) -> bool:
        """The same passage in other hands: nearly all its words in a row, and every figure
        (a copy that changes "1,030" to "more than 1,000" is another statement)."""
        return (
            min(len(self.shingles), len(other.shingles)) >= MIN_SHINGLES
            and containment(self.shingles, other.shingles) >= PASSAGE_CONTAINMENT
            and self.figures == other.figures
        )


def distinct(passages: Sequence[P]) -> list[P]:
    """``passages`` (best first) without those whose source is another document before
    them (``sources``): one passage of a copied text, not each copy of it; nor one that
    repeats a passage of its own document before it word for word (a page that shows its
    headline or a pull quote twice)."""
    of = sources([p.doc_id for p in passages], [p.text for p in passages])
    kept, said = [], set()
    for p, source in zip(passages, of, strict=True):
        words = (p.doc_id, " ".join(_WORD.findall(p.text.casefold())))
        if source == p.doc_id and words not in said:
            kept.append(p)
            said.add(words)
    return kept
