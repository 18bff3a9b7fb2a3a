"""The core object: one ``Engine`` that a Python tool embeds and the API and CLI wrap."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from index.backend import (
    SYNC_CHUNK,
    DateRange,
    Embed,
    Filter,
    UnsupportedFilter,
    page_cursor,
)
from index.embedder import Embedder
from index.errors import BackendUnavailable
from index.hardware import ComputeGate, precision_choice, set_threads
from index.local.datadir import DataDirInUse, DataDirUnavailable, check_free
from index.text.article import ArticleError, date_bound
from index.text.corpus import Bounds
from index.text.paragraphs import split_paragraphs
from qa.errors import (
    DataDirError,
    DocumentNotFound,
    InvalidRequest,
    ServiceUnavailable,
)
from qa.intake.checks import MAX_METADATA_BYTES, check_filter_values, check_k, check_question
from qa.intake.documents import Intake, Progress, index_errors
from qa.intake.export import exported
from qa.reading.articles import article_out, cite_articles, summary
from qa.reading.loading import load_answerer
from qa.reading.pipeline import Asked
from qa.retrieval import HybridRetriever
from qa.retrieval.copies import distinct
from qa.schemas import (
    MAX_BATCH,
    MAX_DOC_IDS,
    MAX_K,
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
from qa.stores.opening import open_backend

log = logging.getLogger(__name__)
MAX_PAGE_BYTES = 1_000_000  # titles and metadata in one page of GET /documents
SORTS = ("published", "doc_id")  # orders of GET /documents


class Engine:
    """Hybrid retrieval (and, with a reader, answers) over one data directory."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        if settings.backend == "local" and not settings.shared_read:
            # Before a minute of model loading: a data directory a server holds is refused now.
            try:
                check_free(settings.data_dir)
            except DataDirInUse as exc:
                raise DataDirError(
                    f"{exc}. While it runs, ask it instead: `qa search` / `qa ask` without --local, "
                    "`qa add FILE`, or the HTTP API"
                ) from None
        threads = settings.compute_threads()
        set_threads(threads)
        # One gate for every model call (query and passage embeddings, the reader).
        self.compute_gate = ComputeGate(threads)
        onnx_dir = settings.data_dir / "models" if settings.query_runtime == "onnx" else None
        # "auto" is decided once per machine and data dir, so every process on it agrees.
        auto = "auto" in (settings.reader_precision, settings.embedding_precision)
        self.precision_choice = precision_choice(settings.data_dir) if auto else None
        if self.precision_choice:
            log.info(
                "precision auto = %s (bf16 %.2fx the speed of fp32 here; recorded in %s)",
                self.precision_choice.precision,
                self.precision_choice.speedup,
                self.precision_choice.recorded_in or "no file",
            )
        self.embedder = embedder or Embedder(
            settings.embedding_model,
            onnx_dir=onnx_dir,
            threads=threads,
            precision=self._precision(settings.embedding_precision),
        )
        self.embedder.gate = self.compute_gate
        try:
            self.index = open_backend(settings, self.embedder)
        except (DataDirUnavailable, BackendUnavailable) as exc:
            raise DataDirError(str(exc)) from None
        self.retriever = HybridRetriever(self.index, self.embedder, settings)
        self.intake = Intake(self.index, settings)
        self.reader, self.answerer = load_answerer(
            settings,
            self.index,
            self.compute_gate,
            self._precision(settings.reader_precision),
            self.retriever.positions,
        )
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

    def _precision(self, setting: str) -> str:
        return self.precision_choice.precision if setting == "auto" and self.precision_choice else setting

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
            return self.index.sync_corpus(
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
            deleted = self.index.delete(doc_id)
        if not deleted:
            raise DocumentNotFound(f"no document {doc_id!r}")

    def document(self, doc_id: str, copies: bool = True) -> DocumentOut:
        """One document with its full text; ``copies``: also look up which stored documents
        are its wire copies (a few nearest-neighbour searches; off where it is not shown)."""
        doc = self.index.get_document(doc_id)
        if doc is None:
            raise DocumentNotFound(f"no document {doc_id!r}")
        found = []
        if copies:
            found = self.retriever.copies(
                doc.doc_id, [p.text for p in split_paragraphs(doc.text, title=doc.title)]
            )
        return DocumentOut(
            doc_id=doc.doc_id,
            title=doc.title,
            text=doc.text,
            metadata=doc.metadata,
            copies=found,
            **article_out(doc.published, doc.outlet, doc.url, doc.provenance),
        )

    def export(self) -> Iterator[DocumentIn]:
        """Every document as the import takes it, by doc_id (``qa.intake.export``): JSON Lines
        of these are a backup that ``import_file`` (``qa add``) restores into any store."""
        with index_errors():
            yield from exported(self.index)

    def documents(
        self, limit: int | None = None, after: str | None = None, sort: str = "published"
    ) -> list[DocumentSummary]:
        """Documents newest first (``sort="published"``: undated last, ties by doc_id) or by
        doc_id (``sort="doc_id"``); ``limit`` of them after the document ``after`` (the
        ``next`` of ``document_page``: the last doc_id of the previous page)."""
        if limit is not None and limit < 1:
            raise InvalidRequest("limit must be at least 1")
        if sort not in SORTS:
            raise InvalidRequest(f"sort {sort!r}: use one of {', '.join(SORTS)}")
        cursor = after
        if after is not None and sort == "published":  # continue after that document's date
            found = self.index.article_fields([after]).get(after)
            if found is None:
                raise DocumentNotFound(
                    f"no document {after[:64]!r} to continue after (deleted since?): list from the start"
                )
            cursor = page_cursor(found.doc_id, found.published, sort)
        return [summary(row) for row in self.index.list_documents(limit, cursor, sort)]

    def document_page(self, limit: int, after: str | None = None, sort: str = "published") -> DocumentList:
        """A page of ``documents``: at most ``limit`` of them and about ``MAX_PAGE_BYTES`` of
        titles and metadata (at least one document), with the cursor of the next page."""
        page = self.documents(limit + 1, after, sort)
        size, cut = 0, 0
        while cut < min(limit, len(page)) and size < MAX_PAGE_BYTES:
            doc = page[cut]
            size += len(doc.title.encode()) + len(json.dumps(doc.metadata, ensure_ascii=False).encode())
            cut += 1
        more = len(page) > cut
        last = page[cut - 1] if cut else None
        return DocumentList(documents=page[:cut], next=last.doc_id if more and last is not None else None)

    def preparing(self) -> str | None:
        """Why questions are refused for now (a model change being re-embedded), or None."""
        return self.index.preparing()

    def wait_prepared(self, timeout: float | None = None) -> bool:
        """Wait for what ``preparing`` names; whether it was done within ``timeout``."""
        with index_errors():
            return self.index.wait_prepared(timeout)

    def health(self) -> Health:
        docs, passages = self.index.counts()
        choice = self.precision_choice
        precision = Precision(
            reader=self.reader.precision if self.reader else None,
            embedding=self.embedder.precision,
            bf16_speedup=round(choice.speedup, 2) if choice else None,
        )
        preparing = self.index.preparing()
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
        max_windows: int | None = None,
        published_after: str | date | None = None,
        published_before: str | date | None = None,
    ) -> list[AskResponse]:
        """``ask`` for up to ``MAX_BATCH`` questions; their passages are read in shared
        reader batches (fewer, fuller model calls than one question at a time).
        ``max_windows``: the reader windows they may read in all (default
        ``max_windows_per_request``; a part of a larger request passes its share)."""
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
        where = self._where(doc_ids, metadata, published_after, published_before)
        limit = self.settings.corroborate

        def more(text: str, seen: set[tuple[str, int]]) -> list[Passage]:
            return self.retriever.verbatim(text, limit, where, seen)

        retrieved = self._distinct_sources(checked, top_k, where)
        asked = [
            Asked(q, found, more, partial(self.retriever.similarity, q))
            for q, found in zip(checked, retrieved, strict=True)
        ]
        answers = self.answerer.answer_many(asked, max_answers, max_windows)
        replies = [
            AskResponse(question=a.question, answers=found, passages=a.passages)
            for a, found in zip(asked, answers, strict=True)
        ]
        cite_articles(self.index, replies)
        return replies

    def _distinct_sources(
        self, questions: list[str], top_k: int, where: Filter | None
    ) -> list[list[Passage]]:
        """The ``top_k`` best passages of each question, a passage that copies a better one
        of another article (a wire copy: ``qa.retrieval.copies``) left out and the next one read
        in its place, so that copies of one text do not crowd out other sources (the copy is
        still cited with its original when corroboration finds it). The ranking reads its
        candidates' records anyway, so the deeper list costs no round trip."""
        deeper = self.retriever.retrieve_many(questions, min(MAX_K, 2 * top_k), where)
        return [distinct(found)[:top_k] for found in deeper]

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
        cite_articles(self.index, [reply])
        return reply

    def _where(
        self,
        doc_ids: list[str] | None,
        metadata: dict[str, Any] | None,
        published_after: str | date | None = None,
        published_before: str | date | None = None,
    ) -> Filter | None:
        """The request's filter, checked and bound to the back end once; a ``doc_id`` the
        corpus does not hold is an error (a typo would otherwise look like "nothing found")."""
        if doc_ids is not None and len(doc_ids) > MAX_DOC_IDS:
            raise InvalidRequest(f"{len(doc_ids):,} doc_ids; at most {MAX_DOC_IDS:,} in one filter")
        check_filter_values(metadata)
        known = self.index.known_documents(doc_ids or [])
        unknown = [d for d in doc_ids or [] if d not in known]
        if unknown:
            named = ", ".join(repr(d[:64] + ("..." if len(d) > 64 else "")) for d in unknown[:5])
            more = f" and {len(unknown) - 5:,} more" if len(unknown) > 5 else ""
            raise DocumentNotFound(f"no document {named}{more} to filter on")
        return self._bound(Filter.of(doc_ids, metadata, date_range(published_after, published_before)))

    def _bound(self, where: Filter | None) -> Filter | None:
        try:
            return self.retriever.bind(where) if where is not None else None
        except UnsupportedFilter as exc:
            raise InvalidRequest(str(exc)) from None

    def retrieve(
        self,
        query: str,
        k: int,
        doc_ids: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        mode: str = "hybrid",
    ) -> list[Passage]:
        """Ranked passages; ``mode`` is ``hybrid``, ``dense`` or ``lexical`` (for evaluation)."""
        return self.retriever.retrieve(query, k, self._bound(Filter.of(doc_ids, metadata)), mode)

    def clear_cache(self) -> None:
        self.retriever.clear_cache()


def date_range(after: str | date | None, before: str | date | None) -> DateRange | None:
    """The publication-time filter of ``published_after`` / ``published_before``."""
    if after is None and before is None:
        return None
    try:
        lo = date_bound(after, end_of_day=False) if after is not None else None
        hi = date_bound(before, end_of_day=True) if before is not None else None
    except ArticleError as exc:
        raise InvalidRequest(str(exc).replace("published ", "a date filter ", 1)) from None
    return DateRange(lo, hi)  # after later than before: a range that holds no article
