"""Content terms, and term proximity: do the question's neighbouring content words stand
close in a passage?

"president of Afghanistan" and "Afghan President Ashraf Ghani" share the pair
(president, afghan*) within a few words; a paragraph that names a Tajik president and,
later, the Afghan border does not. BM25 and a bag-of-words embedding both miss that.
Words are compared by their first five letters (truncation stemming), which also joins
demonyms to place names (Afghan/Afghanistan, Tajik/Tajikistan).
"""

from __future__ import annotations

import functools
import itertools

from index.lexical import prefix_terms as content_terms

WINDOW = 3


def query_pairs(question: str) -> set[tuple[str, str]]:
    terms = content_terms(question)
    return {(a, b) for a, b in itertools.pairwise(terms) if a != b}


@functools.lru_cache(maxsize=65_536)
def term_positions(passage: str) -> dict[str, tuple[int, ...]]:
    """Where each content term stands in a passage. Cached: the same passages come back
    for query after query, and stemming them is most of a re-rank's cost."""
    positions: dict[str, list[int]] = {}
    for i, term in enumerate(content_terms(passage)):
        positions.setdefault(term, []).append(i)
    return {term: tuple(at) for term, at in positions.items()}


def proximity_score(pairs: set[tuple[str, str]], passage: str, window: int = WINDOW) -> float:
    """Share of the question's term pairs found within ``window`` words of each other."""
    if not pairs:
        return 0.0
    positions = term_positions(passage)
    found = sum(
        any(abs(i - j) <= window for i in positions.get(a, ()) for j in positions.get(b, ()))
        for a, b in pairs
    )
    return found / len(pairs)
