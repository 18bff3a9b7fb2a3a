"""BM25 over passages (bm25s, English stop words, Snowball stemming), keyed by passage id.

bm25s precomputes its scores and has no incremental update, so adds go to a *pending* list
scored at query time with the same formula (bm25s' "lucene" variant) and the statistics of
the whole index, main and pending (document frequencies, passage count, mean length), so
that a pending passage scores exactly as it would after a rebuild. The owner folds the
pending passages into a rebuilt main index when ``needs_rebuild`` says so (past a few percent
of the corpus, or more than the main index holds): an add costs the tokenizing of its own
passages, not a rebuild of the corpus. A delete masks rows until the next rebuild.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import Counter
from pathlib import Path

import bm25s
import numpy as np

from index.text.terms import K1, B, prefix_terms, query_terms, term_counts, tokenize

log = logging.getLogger(__name__)


class LexicalIndex:
    def __init__(self) -> None:
        self._bm25: bm25s.BM25 | None = None
        self._ids = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=np.float32)
        self._row: dict[int, int] = {}
        self._prefix_df: Counter[str] = Counter()  # passages using each prefix term
        # Statistics of the main index as built; with the pending passages' own, they score
        # the pending passages.
        self._df: Counter[str] = Counter()
        self._mean_length = 1.0
        self._pending_df: Counter[str] = Counter()
        # Passages added since the main index was built: id -> (term frequencies, length).
        self._pending: dict[int, tuple[Counter[str], int]] = {}

    def __len__(self) -> int:
        return int(self._alive.sum()) + len(self._pending)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def needs_rebuild(self) -> bool:
        """Whether the owner should rebuild (``build``) from all texts: the pending passages
        are past 5% of the main index (at least 2,000), or outnumber it (a first build)."""
        return len(self._pending) > min(max(2000, len(self._ids) // 20), len(self._ids))

    def ids(self) -> np.ndarray:
        """Every live passage id."""
        main = self._ids[self._alive > 0]
        return np.concatenate([main, np.fromiter(self._pending, dtype=np.int64, count=len(self._pending))])

    def build(self, ids: np.ndarray, texts: list[str]) -> None:
        self._ids = np.asarray(ids, dtype=np.int64)
        self._alive = np.ones(len(self._ids), dtype=np.float32)
        self._row = {int(i): r for r, i in enumerate(self._ids)}
        self._prefix_df = Counter(t for text in texts for t in set(prefix_terms(text)))
        self._pending, self._pending_df = {}, Counter()
        if len(texts) == 0:
            self._bm25, self._df, self._mean_length = None, Counter(), 1.0
            return
        tokens = tokenize(texts)
        words = {v: k for k, v in tokens.vocab.items()}
        self._df = Counter(words[t] for doc in tokens.ids for t in set(doc))
        self._mean_length = max(1.0, sum(len(doc) for doc in tokens.ids) / len(tokens.ids))
        bm25 = bm25s.BM25(k1=K1, b=B)
        bm25.index(tokens, show_progress=False)
        self._bm25 = bm25

    def add(self, ids: np.ndarray, texts: list[str]) -> None:
        """Index passages without rebuilding: they are scored at query time (see above)."""
        if not len(texts):
            return
        for i, text, (tf, length) in zip(ids, texts, term_counts(list(texts)), strict=True):
            self.remove(np.array([i]))
            self._pending[int(i)] = (tf, length)
            self._pending_df.update(tf.keys())
            self._prefix_df.update(set(prefix_terms(text)))

    def remove(self, ids: np.ndarray) -> None:
        for i in ids:
            row = self._row.pop(int(i), None)
            if row is not None:
                self._alive[row] = 0.0
            removed = self._pending.pop(int(i), None)
            if removed is not None:
                self._pending_df.subtract(removed[0].keys())

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) with a positive BM25 score; ``allowed`` restricts to those ids."""
        empty = np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        if k <= 0:
            return empty
        words = query_terms(query)
        if not words:
            return empty
        scores, ids = empty
        if self._bm25 is not None:
            mask = self._alive
            if allowed is not None:
                mask = mask * np.isin(self._ids, allowed).astype(np.float32)
            all_scores = self._bm25.get_scores(words, weight_mask=mask)
            top = _top_k(all_scores, k)
            scores, ids = all_scores[top].astype(np.float32), self._ids[top]
        if self._pending:
            more_scores, more_ids = self._search_pending(words, k, allowed)
            scores, ids = np.concatenate([scores, more_scores]), np.concatenate([ids, more_ids])
            top = np.argsort(-scores, kind="stable")[:k]
            scores, ids = scores[top], ids[top]
        return scores, ids

    def _search_pending(
        self, words: list[str], k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        n = len(self._ids) + len(self._pending)
        pending_length = sum(length for _, length in self._pending.values())
        mean_length = max(1.0, (self._mean_length * len(self._ids) + pending_length) / n)
        df = {w: self._df[w] + self._pending_df[w] for w in set(words)}
        idf = {w: float(np.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))) for w in df}
        permitted = None if allowed is None else set(np.asarray(allowed).tolist())
        found = []
        for i, (tf, length) in self._pending.items():
            if permitted is not None and i not in permitted:
                continue
            norm = K1 * (1 - B + B * length / mean_length)
            score = sum(idf[w] * tf[w] / (norm + tf[w]) for w in words if w in tf)
            if score > 0:
                found.append((score, i))
        found.sort(key=lambda si: -si[0])
        found = found[:k]
        return np.array([s for s, _ in found], dtype=np.float32), np.array(
            [i for _, i in found], dtype=np.int64
        )

    def prefix_idf(self, terms: set[str]) -> dict[str, float]:
        """Inverse document frequency of ``prefix_terms`` over the indexed passages; a term
        the corpus never uses gets the highest value."""
        n = len(self._ids) + len(self._pending)
        return {t: float(np.log((n + 1) / (self._prefix_df.get(t, 0) + 0.5))) for t in terms}

    def save(self, directory: Path) -> None:
        """Write to a fresh folder and swap it in, so a crash leaves the old copy whole."""
        tmp = directory.with_name(directory.name + ".tmp")
        try:
            self._save_to(tmp, directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # only there when the write failed

    def _save_to(self, tmp: Path, directory: Path) -> None:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self._bm25 is not None:
            self._bm25.save(str(tmp), show_progress=False)
        np.save(tmp / "ids.npy", self._ids)
        np.save(tmp / "alive.npy", self._alive)
        (tmp / "prefix_df.json").write_text(json.dumps(self._prefix_df))
        stats = {"df": self._df, "mean_length": self._mean_length}
        (tmp / "stats.json").write_text(json.dumps(stats))
        pending = [[i, dict(tf), length] for i, (tf, length) in self._pending.items()]
        (tmp / "pending.json").write_text(json.dumps(pending))
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
        stats = json.loads((directory / "stats.json").read_text())
        obj._df, obj._mean_length = Counter(stats["df"]), float(stats["mean_length"])
        obj._pending = {
            int(i): (Counter(tf), int(length))
            for i, tf, length in json.loads((directory / "pending.json").read_text())
        }
        obj._pending_df = Counter(w for tf, _ in obj._pending.values() for w in tf)
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
