"""The core object: one ``Engine`` that a Python tool embeds and the API and CLI wrap."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from index.corpus import CorpusError, decode_text, text_sha256, valid_doc_id
from index.corpus_index import CorpusIndex, DocumentExistsError
from index.embedder import Embedder
from index.hardware import ComputeGate, set_threads
from index.lexical import prefix_terms
from index.paragraphs import document_title
from index.store import Document, StoredPassage
from qa.answers import aggregate, coverage
from qa.errors import (
    DocumentExists,
    DocumentNotFound,
    DocumentTooLarge,
    InvalidDocument,
    InvalidQuestion,
    InvalidRequest,
    ServiceUnavailable,
)
from qa.fusion import reciprocal_rank_fusion
from qa.proximity import proximity_score, query_pairs
from qa.reader import Reader, ReaderUnavailable
from qa.schemas import (
    MAX_K,
    MAX_QUESTION_CHARS,
    Answer,
    AskResponse,
    DocumentOut,
    DocumentSummary,
    Health,
    Passage,
    SearchResponse,
)
from qa.settings import Settings

log = logging.getLogger(__name__)


class Engine:
    """Hybrid retrieval (and, with a reader, answers) over one data directory."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        threads = settings.compute_threads()
        set_threads(threads)
        # One gate for every model call (query and passage embeddings, the reader).
        self.compute_gate = ComputeGate(threads)
        onnx_dir = settings.data_dir / "models" if settings.query_runtime == "onnx" else None
        self.embedder = embedder or Embedder(
            settings.embedding_model,
            onnx_dir=onnx_dir,
            threads=threads,
            precision=settings.embedding_precision,
        )
        self.embedder.gate = self.compute_gate
        self.index = CorpusIndex(
            settings.data_dir,
            self.embedder,
            settings.index_type,
            hnsw_threshold=settings.hnsw_threshold,
            ef_search=settings.hnsw_ef_search,
        )
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.reader: Reader | None = None
        if settings.reader:
            try:
                self.reader = Reader(settings.reader_path, precision=settings.reader_precision)
                self.reader.gate = self.compute_gate
            except ReaderUnavailable as exc:
                log.warning("answers are off: %s", exc)
        if settings.corpus is not None:
            self.sync(settings.corpus)

    @classmethod
    def open(cls, data_dir: str | Path, corpus: str | Path | None = None, **overrides: Any) -> Engine:
        """Open (building or updating as needed) the index in ``data_dir``; with ``corpus``,
        keep it in step with that folder of ``.txt`` files."""
        settings = Settings(data_dir=Path(data_dir), corpus=Path(corpus) if corpus else None, **overrides)
        return cls(settings)

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- corpus ------------------------------------------------------------------------
    def sync(self, corpus: str | Path, progress: bool = True) -> tuple[int, int]:
        """Index new or changed files of a folder and drop removed ones."""
        try:
            return self.index.sync_corpus(Path(corpus), progress=progress)
        except CorpusError as exc:
            raise InvalidDocument(str(exc)) from None

    def add(
        self,
        doc_id: str,
        text: str | bytes,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        replace: bool = False,
    ) -> int:
        """Add a document (``replace=True`` to overwrite one with the same id); returns the
        number of passages indexed."""
        if not valid_doc_id(doc_id):
            raise InvalidDocument(f"invalid doc_id {doc_id!r}: use 1-128 letters, digits, '.', '_' or '-'")
        raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
        if len(raw) > self.settings.max_document_bytes:
            raise DocumentTooLarge(
                f"document is {len(raw)} bytes; the limit is {self.settings.max_document_bytes}"
            )
        try:
            body = decode_text(raw, doc_id)
        except CorpusError as exc:
            raise InvalidDocument(str(exc)) from None
        if not body.strip():
            raise InvalidDocument("document text is empty")
        metadata = dict(metadata or {})
        title = title or str(metadata.get("title") or "") or document_title(body)
        doc = Document(doc_id, title, body, metadata, "api", text_sha256(body))
        try:
            self.index.add([doc], replace=replace)
        except DocumentExistsError:
            raise DocumentExists(
                f"document {doc_id!r} already exists (PUT /documents/{doc_id} replaces it)"
            ) from None
        return len(self.index.store.passage_ids([doc_id]))

    def delete(self, doc_id: str) -> None:
        if not self.index.delete(doc_id):
            raise DocumentNotFound(f"no document {doc_id!r}")

    def document(self, doc_id: str) -> DocumentOut:
        doc = self.index.store.get_document(doc_id)
        if doc is None:
            raise DocumentNotFound(f"no document {doc_id!r}")
        return DocumentOut(doc_id=doc.doc_id, title=doc.title, text=doc.text, metadata=doc.metadata)

    def documents(self) -> list[DocumentSummary]:
        return [
            DocumentSummary(doc_id=d, title=t, metadata=m, passages=n)
            for d, t, m, _, _, n in self.index.store.list_documents()
        ]

    def health(self) -> Health:
        docs, passages = self.index.store.counts()
        return Health(
            status="ok", ready=True, documents=docs, passages=passages, reader=self.reader is not None
        )

    # --- answers -----------------------------------------------------------------------
    def ask(
        self,
        question: str,
        top_k: int = 5,
        max_answers: int = 3,
        doc_ids: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> AskResponse:
        """Answers found in the ``top_k`` best passages, with citations; ``answers`` is
        empty when the corpus does not seem to hold the answer."""
        question = check_question(question)
        if not 1 <= top_k <= MAX_K:
            raise InvalidRequest(f"top_k must be between 1 and {MAX_K}")
        if max_answers < 1:
            raise InvalidRequest("max_answers must be at least 1")
        if self.reader is None:
            raise ServiceUnavailable(
                "the reader model is not loaded, so there are no answers; "
                "use search, or install the package with its weights"
            )
        threshold = self.settings.answer_threshold
        passages = self.retrieve(question, top_k, doc_ids, metadata)
        weights = self.index.prefix_idf(set(prefix_terms(question)))
        pairs = query_pairs(question)
        evidence = [passage_evidence(weights, pairs, p.text) for p in passages]
        spans = self.reader.read(question, [p.text for p in passages])
        answers = aggregate(spans, passages, evidence, threshold, max_answers)
        extra = self._corroborating(answers, passages, doc_ids, metadata)
        if extra:
            more = self.reader.read(question, [p.text for p in extra])
            spans += [replace(s, passage=s.passage + len(passages)) for s in more]
            evidence += [passage_evidence(weights, pairs, p.text) for p in extra]
            answers = aggregate(spans, passages + extra, evidence, threshold, max_answers)
        return AskResponse(question=question, answers=answers, passages=passages)

    def _corroborating(
        self,
        answers: list[Answer],
        read: list[Passage],
        doc_ids: list[str] | None,
        metadata: dict[str, Any] | None,
    ) -> list[Passage]:
        """Passages beyond those read that state an answer already found, word for word.

        Reading them lets the reply cite every source of an answer (and lets agreement
        between sources count), while the reader still decides whether each occurrence
        answers the question. Their retrieval score is 0, so they weigh less than the
        passages retrieval chose.
        """
        limit = self.settings.corroborate
        if not limit or not answers:
            return []
        allowed = self.index.allowed_ids(doc_ids, metadata)
        seen = {(p.doc_id, p.paragraph) for p in read}
        extra: list[Passage] = []
        for answer in answers:
            needle = answer.text.lower()
            hits = self.index.sparse(answer.text, 4 * limit, allowed)
            stored = self.index.passages([h.id for h in hits])
            found = 0
            for hit in hits:
                p = stored.get(hit.id)
                if p is None or (p.doc_id, p.paragraph) in seen or needle not in p.text.lower():
                    continue
                seen.add((p.doc_id, p.paragraph))
                extra.append(as_passage(p, 0.0))
                found += 1
                if found == limit:
                    break
        return extra

    # --- retrieval ---------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 5,
        doc_ids: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> SearchResponse:
        """The ``k`` passages most likely to answer ``query`` (dense + BM25, fused)."""
        query = check_question(query)
        if not 1 <= k <= MAX_K:
            raise InvalidRequest(f"k must be between 1 and {MAX_K}")
        return SearchResponse(query=query, passages=self.retrieve(query, k, doc_ids, metadata))

    def retrieve(
        self,
        query: str,
        k: int,
        doc_ids: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        mode: str = "hybrid",
    ) -> list[Passage]:
        """Ranked passages; ``mode`` is ``hybrid``, ``dense`` or ``lexical`` (for evaluation)."""
        allowed = self.index.allowed_ids(doc_ids, metadata)
        n = max(self.settings.candidates, k)
        rankings, weights = [], []
        if mode in ("hybrid", "dense"):
            rankings.append([h.id for h in self.index.dense(self.embed_query(query), n, allowed)])
            weights.append(self.settings.dense_weight)
        if mode in ("hybrid", "lexical"):
            rankings.append([h.id for h in self.index.sparse(query, n, allowed)])
            weights.append(self.settings.lexical_weight)
        fused = reciprocal_rank_fusion(rankings, weights, self.settings.rrf_k)[: 2 * n]
        stored = self.index.passages([i for i, _ in fused])
        alpha = self.settings.proximity_weight if mode == "hybrid" else 0.0
        pairs = query_pairs(query)
        scored = [
            (p, (score + alpha * proximity_score(pairs, p.text)) / (1 + alpha))
            for i, score in fused
            if (p := stored.get(i)) is not None
        ]
        scored.sort(key=lambda ps: -ps[1])
        return [as_passage(p, score) for p, score in scored[:k]]

    def embed_query(self, query: str) -> np.ndarray:
        """Query embedding, cached for repeated questions (LRU)."""
        with self._cache_lock:
            vector = self._query_cache.get(query)
            if vector is not None:
                self._query_cache.move_to_end(query)
                return vector
        vector = self.embedder.encode_query(query)
        with self._cache_lock:
            self._query_cache[query] = vector
            while len(self._query_cache) > self.settings.query_cache_size:
                self._query_cache.popitem(last=False)
        return vector

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._query_cache.clear()


def as_passage(stored: StoredPassage, score: float) -> Passage:
    return Passage(
        doc_id=stored.doc_id,
        paragraph=stored.paragraph,
        start=stored.start,
        end=stored.end,
        text=stored.text,
        score=round(min(1.0, max(0.0, score)), 6),
    )


def passage_evidence(weights: dict[str, float], pairs: set[tuple[str, str]], text: str) -> float:
    """What retrieval says for a passage as a source of the answer, in [0, 1]: how much of
    the question it mentions (IDF-weighted, squared: a passage that misses the rarest third
    of the question, "India" in "prime minister of India", keeps under half its evidence),
    and whether the question's word pairs stand together in it ("Afghan President" for
    "president of Afghanistan")."""
    closeness = proximity_score(pairs, text) if pairs else 1.0
    return coverage(weights, set(prefix_terms(text))) ** 2 * (0.5 + 0.5 * closeness)


def check_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidQuestion("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidQuestion(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    return question.strip()
