"""The hybrid retriever: dense (MiniLM + FAISS) and BM25 candidates, fused, re-ranked.

``Engine`` calls ``retrieve`` for ranked passages and ``verbatim`` for passages that state an
answer word for word; everything about how candidates are found and ordered lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from index.backend import Backend, Filter, StoredPassage
from qa.retrieval.copies import MIN_SHINGLES, Words, distinct
from qa.retrieval.fusion import fuse
from qa.retrieval.lru import LRU
from qa.retrieval.proximity import TermPositions, proximity_score, query_pairs
from qa.schemas import MAX_K, Passage
from qa.settings import Settings

MODES = ("hybrid", "dense", "lexical")


class QueryEncoder(Protocol):
    def encode_query(self, text: str) -> np.ndarray: ...


class HybridRetriever:
    """Ranked passages for a query from one ``CorpusIndex``."""

    def __init__(self, index: Backend, encoder: QueryEncoder, settings: Settings) -> None:
        self.index = index
        self.encoder = encoder
        self.settings = settings
        self._query_cache: LRU[np.ndarray] = LRU(settings.query_cache_size)
        self.positions = TermPositions()  # the reader's signals read the same (Engine wires it)

    def retrieve(
        self, query: str, k: int, where: Filter | None = None, mode: str = "hybrid"
    ) -> list[Passage]:
        """The ``k`` best passages; ``mode`` is ``hybrid``, ``dense`` or ``lexical``."""
        lists = self.candidates(query, max(self.settings.candidates, k), where, mode)
        return self.rank(query, lists, k, mode)

    def retrieve_many(
        self,
        queries: Sequence[str],
        k: int,
        where: Filter | None = None,
        vectors: Sequence[np.ndarray] | None = None,
    ) -> list[list[Passage]]:
        """``retrieve`` (hybrid) for a batch of questions: their candidates in one call to the
        back end (one round trip on a cluster). ``vectors``: the queries' embeddings, if the
        caller has them."""
        n = max(self.settings.candidates, k)
        vectors = vectors if vectors is not None else [self.embed_query(q) for q in queries]
        found = self.index.hybrid_many(vectors, queries, n, where)
        return [
            self.rank(q, [[(h.id, h.score) for h in dense], [(h.id, h.score) for h in sparse]], k)
            for q, (dense, sparse) in zip(queries, found, strict=True)
        ]

    def candidates(
        self, query: str, n: int, where: Filter | None = None, mode: str = "hybrid"
    ) -> list[list[tuple[int, float]]]:
        """Up to ``n`` (passage id, score) hits from each retriever the mode uses."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if mode == "hybrid":
            dense, sparse = self.index.hybrid(self.embed_query(query), query, n, where)
            return [[(h.id, h.score) for h in dense], [(h.id, h.score) for h in sparse]]
        if mode == "dense":
            return [[(h.id, h.score) for h in self.index.dense(self.embed_query(query), n, where)]]
        return [[(h.id, h.score) for h in self.index.sparse(query, n, where)]]

    def rank(
        self,
        query: str,
        lists: list[list[tuple[int, float]]],
        k: int,
        mode: str = "hybrid",
        settings: Settings | None = None,
        proximity: Callable[[StoredPassage], float] | None = None,
    ) -> list[Passage]:
        """Fuse candidate lists and re-rank by term proximity (hybrid only). ``settings``
        overrides the retriever's own and ``proximity`` the term-proximity score of a passage
        (to compare fusion choices on the same candidates)."""
        settings = settings or self.settings
        if mode == "hybrid":
            n = max(settings.candidates, k)
            lists = [ranked[:n] for ranked in lists]
            fused = fuse(
                settings.fusion, lists, [settings.dense_weight, settings.lexical_weight], settings.rrf_k
            )
        else:
            fused = fuse("rrf", lists, [1.0], settings.rrf_k)
        alpha = settings.proximity_weight if mode == "hybrid" else 0.0
        head = fused[: max(k, 2 * settings.candidates) if alpha else k]
        stored = self._passages([i for i, _ in head])
        if proximity is None:
            pairs = query_pairs(query) if alpha else set()

            def proximity(p: StoredPassage) -> float:
                return proximity_score(pairs, self.positions.of(p.text))

        scored = [
            (p, (score + alpha * proximity(p)) / (1 + alpha) if alpha else score)
            for i, score in head
            if (p := stored.get(i)) is not None
        ]
        scored.sort(key=lambda ps: -ps[1])
        return [as_passage(p, score) for p, score in scored[:k]]

    def distinct_sources(
        self,
        questions: Sequence[str],
        top_k: int,
        where: Filter | None = None,
        vectors: Sequence[np.ndarray] | None = None,
    ) -> list[list[Passage]]:
        """The ``top_k`` best passages of each question, a passage that copies a better one
        of another article (a wire copy: ``qa.retrieval.copies``) left out and the next one read
        in its place, so that copies of one text do not crowd out other sources (the copy is
        still cited with its original when corroboration finds it). The ranking reads its
        candidates' records anyway, so the deeper list costs no round trip."""
        deeper = self.retrieve_many(questions, min(MAX_K, 2 * top_k), where, vectors)
        return [distinct(found)[:top_k] for found in deeper]

    def verbatim(
        self, text: str, limit: int, where: Filter | None, exclude: set[tuple[str, int]]
    ) -> list[Passage]:
        """Up to ``limit`` passages (not in ``exclude``, by doc_id and paragraph) that contain
        ``text`` word for word, best BM25 match first; their retrieval score is 0."""
        needle = text.lower()
        hits = self.index.sparse(text, 4 * limit, where)
        stored = self._passages([h.id for h in hits])
        found: list[Passage] = []
        for hit in hits:
            p = stored.get(hit.id)
            if p is None or (p.doc_id, p.paragraph) in exclude or needle not in p.text.lower():
                continue
            found.append(as_passage(p, 0.0))
            if len(found) == limit:
                break
        return found

    def similarity(
        self, query: str, passages: Sequence[Passage], vector: np.ndarray | None = None
    ) -> list[float]:
        """Cosine between the query (``vector``: its embedding, if the caller has it) and each
        passage (their MiniLM vectors): how close in meaning, on the same scale for every
        query (fused scores are relative to the query)."""
        vector = self.embed_query(query) if vector is None else vector
        stored = self.index.vectors_at([(p.doc_id, p.paragraph) for p in passages])
        return [float(vector @ v) if v is not None else 0.0 for v in stored]

    def embed_query(self, query: str) -> np.ndarray:
        """Query embedding, cached for repeated questions (LRU)."""
        vector = self._query_cache.get(query)
        if vector is None:
            vector = self.encoder.encode_query(query)
            self._query_cache.put(query, vector)
        return vector

    def clear_cache(self) -> None:
        self._query_cache.clear()

    def _passages(self, ids: Sequence[int]) -> dict[int, StoredPassage]:
        """Passages by id; the term positions stored with them are kept (``positions``)."""
        stored = self.index.passages(ids)
        for passage in stored.values():
            self.positions.remember(passage.text, passage.terms)
        return stored

    def copies(self, doc_id: str, paragraphs: Sequence[str], probes: int = 6, k: int = 5) -> list[str]:
        """The stored documents that copy document ``doc_id`` (whose paragraphs, in order,
        are ``paragraphs``): those that hold, in the same words (``copies.Words.same``), at
        least half of its ``probes`` longest paragraphs. Each probe is one nearest-neighbour
        look-up with the paragraph's own stored vector."""
        longest = sorted(range(len(paragraphs)), key=lambda i: -len(paragraphs[i]))[:probes]
        words = {i: Words.of(paragraphs[i]) for i in longest}
        chosen = [i for i in longest if len(words[i].shingles) >= MIN_SHINGLES]
        if not chosen:
            return []
        vectors = self.index.vectors_at([(doc_id, i) for i in chosen])
        shared: dict[str, int] = {}
        for i, vector in zip(chosen, vectors, strict=True):
            if vector is None:
                continue
            hits = self.index.dense(vector, k + 1)
            stored = self._passages([h.id for h in hits])
            matched = {
                p.doc_id for p in stored.values() if p.doc_id != doc_id and Words.of(p.text).same(words[i])
            }
            for other in matched:
                shared[other] = shared.get(other, 0) + 1
        return sorted(d for d, n in shared.items() if 2 * n >= len(chosen))


def as_passage(stored: StoredPassage, score: float) -> Passage:
    return Passage(
        doc_id=stored.doc_id,
        paragraph=stored.paragraph,
        start=stored.start,
        end=stored.end,
        text=stored.text,
        score=round(min(1.0, max(0.0, score)), 6),
    )
