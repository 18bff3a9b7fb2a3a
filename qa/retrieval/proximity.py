"""Content terms, and term proximity: do the question's neighbouring content words stand
close in a passage?

"president of Afghanistan" and "Afghan President Ashraf Ghani" share the pair
(president, afghan*) within a few words; a paragraph that names a Tajik president and,
later, the Afghan border does not. BM25 and a bag-of-words embedding both miss that.
Words are compared by their first five letters (truncation stemming), which also joins
demonyms to place names (Afghan/Afghanistan, Tajik/Tajikistan).
"""

from __future__ import annotations

import itertools
import json

from index.text.terms import prefix_terms as content_terms
from index.text.terms import term_positions as compute_positions
from qa.retrieval.lru import LRU

WINDOW = 3
CACHE_SIZE = 65_536  # passages' term positions kept in memory
Positions = dict[str, tuple[int, ...]]


def query_pairs(question: str) -> set[tuple[str, str]]:
    terms = content_terms(question)
    return {(a, b) for a, b in itertools.pairwise(terms) if a != b}


class TermPositions:
    """Where each content term stands in passages, by passage text: the positions stored
    with a passage at index time (``remember``, as the retriever reads it), else computed on
    first use (stemming a passage is most of a re-rank's cost when it is not stored); the
    last ``size`` passages kept. The retriever owns one and the answer pipeline is handed
    the same (``Engine`` wires them), so a passage's positions are decoded once."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._known: LRU[Positions] = LRU(size)

    def of(self, passage: str) -> Positions:
        found = self._known.get(passage)
        if found is None:
            found = positions_in(passage)
            self._known.put(passage, found)
        return found

    def remember(self, passage: str, stored: str | None) -> None:
        """Keep a passage's term positions as stored with it (JSON), when it has them."""
        if stored is None or self._known.get(passage) is not None:
            return
        try:
            decoded = json.loads(stored)
        except ValueError:
            return  # computed from the text when asked for
        self._known.put(passage, {term: tuple(at) for term, at in decoded.items()})


def positions_in(passage: str) -> Positions:
    """Where each content term stands in a passage, computed from its text."""
    return {term: tuple(at) for term, at in compute_positions(passage).items()}


def proximity_score(pairs: set[tuple[str, str]], passage: str | Positions, window: int = WINDOW) -> float:
    """Share of the question's term pairs found within ``window`` words of each other in a
    passage (its text, or its ``TermPositions``)."""
    if not pairs:
        return 0.0
    positions = positions_in(passage) if isinstance(passage, str) else passage
    found = sum(
        any(abs(i - j) <= window for i in positions.get(a, ()) for j in positions.get(b, ()))
        for a, b in pairs
    )
    return found / len(pairs)
