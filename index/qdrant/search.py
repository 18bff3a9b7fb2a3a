"""Candidates from Qdrant: dense and BM25 lists in one request, filters, and the IDF of a
question's prefix terms.

Every list holds only passages readers see (``Versions.current``): a candidate of a write
under way, interrupted or replaced is dropped, and a list that lost some while full is asked
again for more, so a search for ``k`` passages gets ``k`` when the store holds them.

The reader's coverage signal weighs a question's prefix terms by their IDF over the passages
(``prefix_idf``). Each passage has a ``prefix`` sparse vector (value 1 for each prefix term it
holds, ``modifier=IDF``), so a one-term query's score is the term's IDF,
``ln((N + 1) / (df + 0.5))``, the same formula the local index uses. The probes ride in the
request that fetches a question's candidates (no extra round trip, no per-query count); a
replica keeps each term's value for ``IDF_TTL_S``. A passages collection made before the
``prefix`` vector existed keeps the older way (a count per term, cached).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from index.backend import Filter, Hit, UnsupportedFilter
from index.qdrant.connection import Store
from index.qdrant.schema import FIELD, CollectionLayout, ones, term_index
from index.qdrant.versions import Versions
from index.text.terms import prefix_terms, query_terms

with contextlib.suppress(ImportError):  # the optional extra; connection.connect says it is missing
    from qdrant_client import models as qm

IDF_TTL_S = 300.0  # a prefix term's IDF is read again after this long
REFILLS = 4  # times a list that lost candidates to unseen versions is asked again, at most
_SEEN = ["doc_id", "version"]  # what a candidate carries: enough to tell whether readers see it


class Search:
    def __init__(self, store: Store, passages: str, layout: CollectionLayout, versions: Versions) -> None:
        self.store = store
        self.passages = passages
        self.layout = layout
        self.versions = versions
        self.prefix_vector = True  # whether passages carry the ``prefix`` sparse vector
        self._idf: dict[str, tuple[float, float | None]] = {}  # term -> (read at, IDF; None: unseen)
        self._passages_n: tuple[float, int] | None = None  # (counted at, passages)

    # --- candidates --------------------------------------------------------------------
    def dense(self, vector: np.ndarray, k: int, native: Any = None) -> list[Hit]:
        return self._lists([self._dense_request(vector, k, native)])[0]

    def sparse(self, query: str, k: int, native: Any = None) -> list[Hit]:
        words = query_terms(query)
        if not words or k <= 0:
            return []
        return self._lists([self._sparse_request(words, k, native)])[0]

    def hybrid(
        self, vectors: Sequence[np.ndarray], queries: Sequence[str], k: int, native: Any
    ) -> list[tuple[list[Hit], list[Hit]]]:
        """Every question's two candidate lists, and the IDF of their prefix terms not read
        lately, in one request."""
        requests: list[Any] = []
        slots: list[tuple[int, int | None]] = []
        for vector, query in zip(vectors, queries, strict=True):
            words = query_terms(query)
            dense_at = len(requests)
            requests.append(self._dense_request(vector, k, native))
            sparse_at = None
            if words:
                sparse_at = len(requests)
                requests.append(self._sparse_request(words, k, native))
            slots.append((dense_at, sparse_at))
        now = time.monotonic()
        probed: list[str] = []
        if self.prefix_vector:  # the reader will weigh these questions' terms: read their IDF now
            wanted = {t for q in queries for t in prefix_terms(q)}
            probed = [t for t in sorted(wanted) if not self._idf_cached(t, now)]
        lists = self._lists(
            requests, self._idf_probes(probed), lambda found: self._keep_idf(probed, found, now)
        )
        return [(lists[d], [] if s is None else lists[s]) for d, s in slots]

    def _dense_request(self, vector: np.ndarray, k: int, native: Any) -> Any:
        return qm.QueryRequest(
            query=np.asarray(vector, dtype=np.float32).tolist(),
            using="dense",
            limit=k,
            filter=native,
            params=self.layout.search_params(),
            with_payload=_SEEN,
        )

    def _sparse_request(self, words: list[str], k: int, native: Any) -> Any:
        return qm.QueryRequest(query=ones(words), using="bm25", limit=k, filter=native, with_payload=_SEEN)

    def _lists(self, requests: list[Any], extra: Sequence[Any] = (), on_extra: Any = None) -> list[list[Hit]]:
        """Run candidate ``requests`` (and ``extra`` ones, whose replies go to ``on_extra``)
        in one batch; keep the candidates readers see, asking a full list that lost some
        again for more (``REFILLS`` times at most)."""
        found = self.store.query_batch(self.passages, [*requests, *extra])
        if on_extra is not None:
            on_extra(found[len(requests) :])
        points = [list(r.points) for r in found[: len(requests)]]
        wanted = [int(r.limit) for r in requests]
        limits = list(wanted)
        for refill in range(REFILLS + 1):
            seen = {id(p) for p in self.versions.current([p for ps in points for p in ps])}
            kept = [sum(id(p) in seen for p in ps) for ps in points]
            short = [i for i, ps in enumerate(points) if len(ps) >= limits[i] and kept[i] < wanted[i]]
            if not short or refill == REFILLS:
                break
            for i in short:
                limits[i] = 2 * limits[i] + len(points[i]) - kept[i]
            again = self.store.query_batch(
                self.passages, [requests[i].model_copy(update={"limit": limits[i]}) for i in short]
            )
            for i, reply in zip(short, again, strict=True):
                points[i] = list(reply.points)
        lists = []
        for request, ps in zip(requests, points, strict=True):
            hits = [Hit(int(p.id), float(p.score)) for p in ps if id(p) in seen]
            if request.using == "bm25":
                hits = [h for h in hits if h.score > 0]
            lists.append(hits[: int(request.limit)])
        return lists

    # --- filters -----------------------------------------------------------------------
    def compile(self, where: Filter) -> Any:
        """``where`` as a Qdrant filter on the passages' payload (doc_id, metadata, published_ts)."""
        doc_ids, metadata, published = where.doc_ids, dict(where.metadata), where.published
        if not doc_ids and not metadata and not published:
            return None
        must: list[Any] = []
        if doc_ids:
            must.append(qm.FieldCondition(key="doc_id", match=qm.MatchAny(any=list(doc_ids))))
        if published:  # a passage without a date has no published_ts: outside every range
            bounds = qm.Range(gte=published.after, lte=published.before)
            must.append(qm.FieldCondition(key="published_ts", range=bounds))
        for key, value in (metadata or {}).items():
            must.append(_metadata_condition(key, value))
        return qm.Filter(must=must)

    # --- term weights ------------------------------------------------------------------
    def prefix_idf(self, terms: set[str]) -> dict[str, float]:
        """As the local index's: read from the ``prefix`` vector's IDF statistics (usually
        already, by the request that fetched the question's candidates), kept for
        ``IDF_TTL_S`` (an IDF moves little between two writes)."""
        now = time.monotonic()
        missing = [t for t in sorted(terms) if not self._idf_cached(t, now)]
        if missing and self.prefix_vector:
            found = self.store.query_batch(self.passages, self._idf_probes(missing))
            self._keep_idf(missing, found, now)
        elif missing:
            for term in missing:
                self._count_idf(term, now)
        weights: dict[str, float] = {}
        unseen = None  # a term no passage holds has the highest weight there is
        for term in terms:
            weight = self._idf[term][1]
            if weight is None:
                unseen = unseen or float(np.log((self._passage_total(now) + 1) / 0.5))
                weight = unseen
            weights[term] = weight
        return weights

    def statistics_changed(self) -> None:
        """After this process's own write: its next question reads term weights afresh."""
        self._idf.clear()
        self._passages_n = None

    def _idf_cached(self, term: str, now: float) -> bool:
        cached = self._idf.get(term)
        return cached is not None and now - cached[0] < IDF_TTL_S

    @staticmethod
    def _idf_probes(terms: Sequence[str]) -> list[Any]:
        """One request per term: the best passage holding it scores the term's IDF (each
        holds it with value 1); none comes back for a term no passage holds."""
        return [
            qm.QueryRequest(
                query=qm.SparseVector(indices=[term_index(t)], values=[1.0]),
                using="prefix",
                limit=1,
                with_payload=False,
            )
            for t in terms
        ]

    def _keep_idf(self, terms: Sequence[str], found: Sequence[Any], now: float) -> None:
        if len(self._idf) > 100_000:
            self._idf.clear()
        for term, response in zip(terms, found, strict=True):
            self._idf[term] = (now, float(response.points[0].score) if response.points else None)

    def _count_idf(self, term: str, now: float) -> None:
        """The older way, for a collection without the ``prefix`` vector: a count per term."""
        condition = qm.Filter(must=[qm.FieldCondition(key="prefixes", match=qm.MatchValue(value=term))])
        df = self.store.client.count(self.passages, count_filter=condition, exact=self.store.local).count
        n = self._passage_total(now)
        self._idf[term] = (now, float(np.log((n + 1) / (df + 0.5))) if df else None)

    def _passage_total(self, now: float) -> int:
        if self._passages_n is None or now - self._passages_n[0] >= IDF_TTL_S:
            total = self.store.client.count(self.passages, exact=self.store.local).count
            self._passages_n = (now, int(total))
        return self._passages_n[1]


def _metadata_condition(key: str, value: Any) -> Any:
    if not FIELD.fullmatch(key):
        raise UnsupportedFilter(
            f"metadata filter key {key!r}: on Qdrant, keys are 1-64 letters, digits, '_' or '-'"
        )
    # Payload indexes are made when documents are written (Schema.index_metadata), never
    # here: a read must not write, nor fail with a store that is down.
    field = f"metadata.{key}"
    if value is None:
        return qm.IsNullCondition(is_null=qm.PayloadField(key=field))
    if isinstance(value, bool | int | str):
        return qm.FieldCondition(key=field, match=qm.MatchValue(value=value))
    if isinstance(value, float):
        return qm.FieldCondition(key=field, range=qm.Range(gte=value, lte=value))
    raise UnsupportedFilter(
        f"metadata filter {key!r}: on Qdrant a filter value is a string, number, boolean or null"
    )
