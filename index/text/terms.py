"""Terms: how text becomes the words every BM25 index here counts (bm25s' tokenizer, English
stop words, Snowball stemming), and the prefix terms the proximity re-rank reads. The local
BM25 index (``index.local.bm25``) and Qdrant's sparse vectors are computed from the same terms.
"""

from __future__ import annotations

import logging
import re
from collections import Counter

import bm25s
import Stemmer

# bm25s logs each index build at DEBUG: not news for our users.
logging.getLogger("bm25s").setLevel(logging.WARNING)
_STEMMER = Stemmer.Stemmer("english")
# Function words and question words: they carry no evidence of what a passage is about.
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "many",
        "much",
        "no",
        "not",
        "of",
        "on",
        "or",
        "said",
        "says",
        "such",
        "than",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "will",
        "with",
        "would",
    ]
)


PREFIX = 5
_WORD = re.compile(r"\w\w+")


def prefix_terms(text: str) -> list[str]:
    """Content words, stemmed and cut to their first ``PREFIX`` letters, in order, without
    stop words. Stemming joins slip/slipped, truncation joins Afghan/Afghanistan."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]
    return [stem[:PREFIX] for stem in _STEMMER.stemWords(words)]


def term_positions(text: str) -> dict[str, list[int]]:
    """Where each ``prefix_terms`` term stands in a text (word positions among its content
    words): what the proximity re-rank and the answer scorer's coverage read. Stored with
    each passage at index time, so a query does not stem its candidates again."""
    positions: dict[str, list[int]] = {}
    for i, term in enumerate(prefix_terms(text)):
        positions.setdefault(term, []).append(i)
    return positions


def tokenize(texts: list[str]) -> bm25s.tokenization.Tokenized:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, show_progress=False)


K1, B = 1.5, 0.75  # bm25s' defaults, used for the pending passages too


def term_counts(texts: list[str]) -> list[tuple[Counter[str], int]]:
    """Each text's BM25 terms (stemmed, without stop words) with their counts, and its
    length in terms: what every BM25 index here (bm25s, the pending list, Qdrant's sparse
    vectors) is computed from."""
    if not texts:
        return []
    tokens = tokenize(list(texts))
    words = {v: k for k, v in tokens.vocab.items()}
    return [(Counter(words[t] for t in doc), len(doc)) for doc in tokens.ids]


def query_terms(query: str) -> list[str]:
    """A query's BM25 terms, in order (repeats kept)."""
    tokens = tokenize([query])
    return _words(tokens) if tokens.ids and tokens.ids[0] else []


def _words(tokens: bm25s.tokenization.Tokenized) -> list[str]:
    """The query's tokens as words (bm25s numbers them in the query's own vocabulary)."""
    inverse = {v: k for k, v in tokens.vocab.items()}
    return [inverse[t] for t in tokens.ids[0]]
