"""The core object: one ``Engine`` that a Python tool embeds and the API and CLI wrap."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from index.backend import Filter
from index.embedder import Embedder
from index.indexer import SYNC_CHUNK, Embed
from index.text.corpus import Bounds
from qa.catalog import Catalog
from qa.errors import DocumentNotFound, InvalidRequest, ServiceUnavailable
from qa.intake.checks import MAX_METADATA_BYTES, check_k, check_question
from qa.intake.documents import Progress, index_errors
from qa.reading.articles import cite_articles
from qa.reading.pipeline import Asked
from qa.retrieval.filters import bound, request_filter
from qa.schemas import (
    MAX_BATCH,
    AskResponse,
    DocumentIn,
    DocumentList,
    DocumentOut,
    DocumentSummary,
    DocumentWritten,
    Health,
    Passage,
    Precision,
    SearchResponse,
)
from qa.settings import Settings
from qa.wiring import assemble

log = logging.getLogger(__name__)


class Engine:
    """Hybrid retrieval (and, with a reader, answers) over one data directory."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        parts = assemble(settings, embedder)  # qa.wiring: settings -> back end, models, gates
        self.compute_gate, self.precision_choice = parts.compute_gate, parts.precision_choice
        self.embedder, self.backend, self.indexer = parts.embedder, parts.backend, parts.indexer
        self.retriever, self.intake = parts.retriever, parts.intake
        self.reader, self.answerer = parts.reader, parts.answerer
        self.catalog = Catalog(self.backend, self.retriever)
        if settings.corpus is not None:
            self.sync(settings.corpus)

    @classmethod
    def open(cls, data_dir: str | Path, corpus: str | Path | None = None, **overrides: Any) -> Engine:
        """Open (building or updating as needed) the index in ``data_dir``; with ``corpus``,
        keep it in step with that folder of ``.txt`` files."""
        settings = Settings(data_dir=Path(data_dir), corpus=Path(corpus) if corpus else None, **overrides)
        return cls(settings)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- corpus ------------------------------------------------------------------------
    def sync(
        self,
        corpus: str | Path,
        progress: bool = True,
        skipped: list[tuple[Path, str]] | None = None,
        embed: Embed | None = None,
        chunk: int = SYNC_CHUNK,
        shard: tuple[int, int] | None = None,
    ) -> tuple[int, int]:
        """Index new or changed files of a folder and drop removed ones; with a ``skipped``
        list, files that cannot be documents are listed there instead of stopping the sync.
        ``embed`` replaces the local model for passage vectors (``index.ray_ingest``),
        documents are embedded and written ``chunk`` at a time, and ``shard=(i, n)`` keeps
        to shard ``i`` of ``n`` of the folder (several drivers, one shard each)."""
        bounds = Bounds(
            self.settings.max_document_bytes, self.settings.max_passages_per_document, MAX_METADATA_BYTES
        )
        with index_errors():
            return self.indexer.sync(
                Path(corpus),
                progress=progress,
                skipped=skipped,
                embed=embed,
                chunk=chunk,
                shard=shard,
                bounds=bounds,
            )

    def add(
        self,
        doc_id: str,
        text: str | bytes,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        replace: bool = False,
        *,
        published: str | date | None = None,
        source: str | None = None,
        url: str | None = None,
        format: str = "text",
    ) -> int:
        """Add a document (``replace=True`` to overwrite one with the same id); returns the
        number of passages indexed. ``title``, ``published`` (ISO 8601), ``source`` (the
        outlet) and ``url`` are the article's; those not given are detected in the text where
        it states them. ``format="html"``: ``text`` is an HTML page, whose main text is stored."""
        return self.intake.add(
            doc_id, text, title, metadata, replace, published=published, source=source, url=url, format=format
        )

    def import_file(
        self,
        name: str,
        raw: bytes,
        format: str | None = None,
        replace: bool = False,
        refused: list[tuple[str, str]] | None = None,
        progress: Progress | None = None,
    ) -> list[DocumentWritten]:
        """Every document of one file (text, HTML, an RSS/Atom/RDF feed, JSON Lines; the
        format by its name unless given), checked whole before any is written, each reported
        ``added``, ``replaced`` or ``unchanged`` (see ``qa.intake.documents.Intake``). A bad
        entry or line refuses the whole file, or, with a ``refused`` list, only itself; with
        ``progress`` it is written a chunk at a time (a background import)."""
        return self.intake.import_file(name, raw, format, replace, refused, progress)

    def delete(self, doc_id: str) -> None:
        with index_errors():
            deleted = self.backend.delete(doc_id)
        if not deleted:
            raise DocumentNotFound(f"no document {doc_id!r}")

    def document(self, doc_id: str, copies: bool = True) -> DocumentOut:
        """One document with its full text; ``copies``: also look up which stored documents
        are its wire copies (a few nearest-neighbour searches; off where it is not shown)."""
        return self.catalog.document(doc_id, copies)

    def export(self) -> Iterator[DocumentIn]:
        """Every document as the import takes it, by doc_id (``qa.intake.export``): JSON Lines
        of these are a backup that ``import_file`` (``qa add``) restores into any store."""
        return self.catalog.export()

    def documents(
        self, limit: int | None = None, after: str | None = None, sort: str = "published"
    ) -> list[DocumentSummary]:
        """Documents newest first (``sort="published"``: undated last, ties by doc_id) or by
        doc_id (``sort="doc_id"``); ``limit`` of them after the document ``after`` (the
        ``next`` of ``document_page``: the last doc_id of the previous page)."""
        return self.catalog.documents(limit, after, sort)

    def document_page(self, limit: int, after: str | None = None, sort: str = "published") -> DocumentList:
        """A page of ``documents``: at most ``limit`` of them and about a megabyte of titles
        and metadata (at least one document), with the cursor of the next page."""
        return self.catalog.page(limit, after, sort)

    def preparing(self) -> str | None:
        """Why questions are refused for now (a model change being re-embedded), or None."""
        return self.backend.preparing()

    def wait_prepared(self, timeout: float | None = None) -> bool:
        """Wait for what ``preparing`` names; whether it was done within ``timeout``."""
        with index_errors():
            return self.backend.wait_prepared(timeout)

    def health(self) -> Health:
        docs, passages = self.backend.counts()
        choice = self.precision_choice
        precision = Precision(
            reader=self.reader.precision if self.reader else None,
            embedding=self.embedder.precision,
            bf16_speedup=round(choice.speedup, 2) if choice else None,
        )
        preparing = self.backend.preparing()
        return Health(
            status="preparing" if preparing else "ok",
            ready=preparing is None,
            preparing=preparing,
            documents=docs,
            passages=passages,
            reader=self.reader is not None,
            precision=precision,
        )

    # --- answers -----------------------------------------------------------------------
    def ask(
        self,
        question: str,
        top_k: int = 5,
        max_answers: int = 3,
        doc_ids: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        published_after: str | date | None = None,
        published_before: str | date | None = None,
    ) -> AskResponse:
        """Answers found in the ``top_k`` best passages, with citations; ``answers`` is
        empty when the corpus does not seem to hold the answer. ``published_after`` /
        ``published_before`` (ISO 8601; a date is its whole day) keep to articles of those dates."""
        return self.ask_batch(
            [question],
            top_k,
            max_answers,
            doc_ids,
            metadata,
            published_after=published_after,
            published_before=published_before,
        )[0]

    def ask_batch(
        self,
        questions: Sequence[str],
        top_k: int = 5,
        max_answers: int = 3,
        doc_ids: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        published_after: str | date | None = None,
        published_before: str | date | None = None,
        part_of: int | None = None,
    ) -> list[AskResponse]:
        """``ask`` for up to ``MAX_BATCH`` questions; their passages are read in shared
        reader batches (fewer, fuller model calls than one question at a time).
        They read at most ``max_windows_per_request`` reader windows in all; with
        ``part_of=n`` they are a part of a request of ``n`` questions and read their share."""
        if not 1 <= len(questions) <= MAX_BATCH:
            raise InvalidRequest(f"send between 1 and {MAX_BATCH} questions")
        checked = [check_question(q) for q in questions]
        check_k("top_k", top_k)
        if max_answers < 1:
            raise InvalidRequest("max_answers must be at least 1")
        if self.answerer is None:
            raise ServiceUnavailable(
                "the reader model is not loaded, so there are no answers; "
                "use search, or install the package with its weights"
            )
        asked = self._to_read(
            checked, top_k, self._where(doc_ids, metadata, published_after, published_before)
        )
        budget = self.settings.max_windows_per_request
        share = max(1, budget * len(questions) // part_of) if part_of else None
        answers = self.answerer.answer_many(asked, max_answers, share)
        replies = [
            AskResponse(question=a.question, answers=found, passages=a.passages)
            for a, found in zip(asked, answers, strict=True)
        ]
        cite_articles(self.backend, replies)
        return replies

    def _to_read(self, questions: list[str], top_k: int, where: Filter | None) -> list[Asked]:
        """Each question with its passages, how to find more that state an answer, and the
        passages' closeness to it; each question embedded once, whatever the query cache holds."""
        limit = self.settings.corroborate

        def more(text: str, seen: set[tuple[str, int]]) -> list[Passage]:
            return self.retriever.verbatim(text, limit, where, seen)

        vectors = [self.retriever.embed_query(q) for q in questions]
        retrieved = self.retriever.distinct_sources(questions, top_k, where, vectors)
        return [
            Asked(q, found, more, partial(self.retriever.similarity, q, vector=v))
            for q, found, v in zip(questions, retrieved, vectors, strict=True)
        ]

    # --- retrieval ---------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 5,
        doc_ids: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        published_after: str | date | None = None,
        published_before: str | date | None = None,
    ) -> SearchResponse:
        """The ``k`` passages most likely to answer ``query`` (dense + BM25, fused)."""
        query = check_question(query)
        check_k("k", k)
        where = self._where(doc_ids, metadata, published_after, published_before)
        reply = SearchResponse(query=query, passages=self.retriever.retrieve(query, k, where))
        cite_articles(self.backend, [reply])
        return reply

    def _where(
        self,
        doc_ids: list[str] | None,
        metadata: dict[str, Any] | None,
        published_after: str | date | None = None,
        published_before: str | date | None = None,
    ) -> Filter | None:
        return request_filter(self.backend, doc_ids, metadata, published_after, published_before)

    def retrieve(
        self,
        query: str,
        k: int,
        doc_ids: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        mode: str = "hybrid",
    ) -> list[Passage]:
        """Ranked passages; ``mode`` is ``hybrid``, ``dense`` or ``lexical`` (for evaluation)."""
        return self.retriever.retrieve(query, k, bound(self.backend, Filter.of(doc_ids, metadata)), mode)

    def clear_cache(self) -> None:
        self.retriever.clear_cache()

    def warm(self) -> None:
        """Build the reader's CPU kernels for the usual sizes of a question's reading now
        (``Reader.warm``), not while the first questions wait; ``qa serve`` does at start."""
        if self.reader is not None:
            self.reader.warm()
