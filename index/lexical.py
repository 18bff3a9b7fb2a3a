"""BM25 over passages (bm25s, English stop words, Snowball stemming), keyed by passage id.

bm25s has no incremental update: an add rebuilds the index from all live texts (cheap at
news-corpus sizes), and a delete only masks the removed rows until the next rebuild.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

log = logging.getLogger(__name__)
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


def _tokenize(texts: list[str]) -> bm25s.tokenization.Tokenized:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, show_progress=False)


class LexicalIndex:
    def __init__(self) -> None:
        self._bm25: bm25s.BM25 | None = None
        self._ids = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=np.float32)
        self._row: dict[int, int] = {}
        self._prefix_df: Counter[str] = Counter()  # passages using each prefix term

    def __len__(self) -> int:
        return int(self._alive.sum())

    def build(self, ids: np.ndarray, texts: list[str]) -> None:
        self._ids = np.asarray(ids, dtype=np.int64)
        self._alive = np.ones(len(self._ids), dtype=np.float32)
        self._row = {int(i): r for r, i in enumerate(self._ids)}
        self._prefix_df = Counter(t for text in texts for t in set(prefix_terms(text)))
        if len(texts) == 0:
            self._bm25 = None
            return
        bm25 = bm25s.BM25()
        bm25.index(_tokenize(texts), show_progress=False)
        self._bm25 = bm25

    def remove(self, ids: np.ndarray) -> None:
        for i in ids:
            row = self._row.pop(int(i), None)
            if row is not None:
                self._alive[row] = 0.0

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) with a positive BM25 score; ``allowed`` restricts to those ids."""
        empty = np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        if self._bm25 is None or k <= 0:
            return empty
        tokens = _tokenize([query])
        if not tokens.ids or not tokens.ids[0]:
            return empty
        mask = self._alive
        if allowed is not None:
            mask = mask * np.isin(self._ids, allowed).astype(np.float32)
        scores = self._bm25.get_scores(_words(tokens), weight_mask=mask)
        top = _top_k(scores, k)
        return scores[top].astype(np.float32), self._ids[top]

    def prefix_idf(self, terms: set[str]) -> dict[str, float]:
        """Inverse document frequency of ``prefix_terms`` over the indexed passages; a term
        the corpus never uses gets the highest value."""
        n = len(self._ids)
        return {t: float(np.log((n + 1) / (self._prefix_df.get(t, 0) + 0.5))) for t in terms}

    def save(self, directory: Path) -> None:
        """Write to a fresh folder and swap it in, so a crash leaves the old copy whole."""
        tmp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self._bm25 is not None:
            self._bm25.save(str(tmp), show_progress=False)
        np.save(tmp / "ids.npy", self._ids)
        np.save(tmp / "alive.npy", self._alive)
        (tmp / "prefix_df.json").write_text(json.dumps(self._prefix_df))
        (tmp / "ok.json").write_text(json.dumps({"rows": len(self._ids)}))
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        if not (directory / "ok.json").exists():
            raise FileNotFoundError(directory)
        obj = cls()
        obj._ids = np.load(directory / "ids.npy", allow_pickle=False)
        obj._alive = np.load(directory / "alive.npy", allow_pickle=False)
        obj._row = {int(i): r for r, i in enumerate(obj._ids) if obj._alive[r] > 0}
        obj._prefix_df = Counter(json.loads((directory / "prefix_df.json").read_text()))
        if len(obj._ids):
            obj._bm25 = bm25s.BM25.load(str(directory), show_progress=False, verbosity=0)
        return obj


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` highest positive scores, best first, ties by row. Only rows that
    share a query term score above 0 (a few percent of a large corpus), and of those only
    the best are sorted: a full sort costs ~100 ms at a million passages."""
    rows = np.flatnonzero(scores > 0)
    if k < len(rows):
        cut = np.partition(scores[rows], len(rows) - k)[len(rows) - k]  # the k-th highest
        rows = rows[scores[rows] >= cut]  # ties with it are kept, and ordered by row below
    return rows[np.argsort(-scores[rows], kind="stable")][:k]


def _words(tokens: bm25s.tokenization.Tokenized) -> list[str]:
    """The query's tokens as words (bm25s numbers them in the query's own vocabulary)."""
    inverse = {v: k for k, v in tokens.vocab.items()}
    return [inverse[t] for t in tokens.ids[0]]
