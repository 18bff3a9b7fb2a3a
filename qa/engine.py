"""The core object: one ``Engine`` that a Python tool embeds and the API and CLI wrap."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from index.backend import (
    DERIVED,
    DETECTED,
    GIVEN,
    PAGE,
    SYNC_CHUNK,
    Backend,
    BackendUnavailable,
    DateRange,
    DocumentExistsError,
    DocumentRow,
    Embed,
    ReadOnlyStore,
    UnsupportedFilter,
    document_from_file,
    page_cursor,
)
from index.embedder import Embedder
from index.hardware import ComputeGate, precision_choice, set_threads
from index.local.corpus_index import CorpusIndex
from index.local.datadir import DataDirInUse, DataDirUnavailable, ReadOnlyDataDir, check_free
from index.local.datadir import StorageFull as IndexStorageFull
from index.text.article import Article, ArticleError, date_bound
from index.text.corpus import Bounds, CorpusError, decode_text, valid_doc_id
from index.text.formats import MULTI, Incoming, finish, format_of, read_document
from index.text.paragraphs import split_paragraphs
from qa.errors import (
    DataDirError,
    DocumentExists,
    DocumentNotFound,
    DocumentTooLarge,
    InvalidDocument,
    InvalidQuestion,
    InvalidRequest,
    QAError,
    ReadOnly,
    ServiceUnavailable,
    StorageFull,
)
from qa.reading.answer_kind import KindModel
from qa.reading.pipeline import AnswerPipeline, Asked
from qa.reading.reader import Reader, ReaderUnavailable
from qa.reading.scorer import AnswerScorer
from qa.retrieval import HybridRetriever
from qa.retrieval.copies import distinct
from qa.schemas import (
    ADDED,
    MAX_BATCH,
    MAX_DOC_IDS,
    MAX_K,
    MAX_QUESTION_CHARS,
    REPLACED,
    UNCHANGED,
    Answer,
    AskResponse,
    Citation,
    Copy,
    DocumentList,
    DocumentOut,
    DocumentSummary,
    DocumentWritten,
    Health,
    Passage,
    Precision,
    SearchResponse,
    WriteStatus,
    no_passages_warning,
)
from qa.settings import DEFAULT_SCORER, Settings

log = logging.getLogger(__name__)
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_METADATA_DEPTH = 5
MAX_METADATA_BYTES = 16_384
MAX_PAGE_BYTES = 1_000_000  # titles and metadata in one page of GET /documents
SORTS = ("published", "doc_id")  # orders of GET /documents


def fitted_scorer_path(data_dir: Path, weights_sha256: str) -> Path:
    """Where ``qa fit --reader`` writes the answer scorer of a reader (by its weights)."""
    return data_dir / f"answer_scorer-{weights_sha256[:16]}.json"


# How a stored provenance reads in a document's ``fields_from``.
FIELDS_FROM = {GIVEN: "given", PAGE: "page", DETECTED: "text", DERIVED: "first line"}
MAX_IMPORT_DOCUMENTS = 1000
# Documents written at a time by a background import (each chunk one write, its progress told).
PROGRESS_CHUNK = 20
Progress = Callable[[int, int], None]  # documents of one file in one request (POST /documents/import)


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
        self.reader: Reader | None = None
        self.answerer: AnswerPipeline | None = None
        if settings.reader:
            try:
                self.reader = Reader(
                    settings.reader_path,
                    precision=self._precision(settings.reader_precision),
                    max_windows=settings.max_windows_per_question,
                    max_windows_per_call=settings.max_windows_per_request,
                )
                self.reader.gate = self.compute_gate
                self.answerer = AnswerPipeline(
                    self.reader,
                    self.index,
                    self._answer_scorer(self.reader.info),
                    settings.answer_threshold,
                    settings.corroborate,
                    settings.corroborate_context,
                    KindModel.load(settings.answer_kinds) if settings.answer_kinds else None,
                )
            except (ReaderUnavailable, OSError, ValueError, KeyError) as exc:
                log.warning("answers are off: %s", exc)
        if settings.corpus is not None:
            self.sync(settings.corpus)

    def _answer_scorer(self, reader: dict[str, Any]) -> AnswerScorer:
        """The scorer fitted for this reader: one ``qa fit --reader`` wrote into the data
        directory for its weights, else the shipped one (for a reader trained here, or when
        ``answer_scorer`` names a file), else the uncalibrated fallback."""
        fitted = fitted_scorer_path(self.settings.data_dir, str(reader.get("weights_sha256", "")))
        if fitted.exists():
            return AnswerScorer.load(fitted)
        if reader.get("trained_here", True) or self.settings.answer_scorer != DEFAULT_SCORER:
            return AnswerScorer.load(self.settings.answer_scorer)
        log.warning(
            "the reader in %s was not trained here and no answer scorer is fitted for it: answers are "
            "scored by its span probability alone (uncalibrated) until `qa fit --reader %s` fits one",
            self.settings.reader_path,
            self.settings.reader_path,
        )
        return AnswerScorer.fallback()

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

    @staticmethod
    @contextmanager
    def _index_errors() -> Iterator[None]:
        """The index's failures as the core's errors (what the shells know how to report)."""
        try:
            yield
        except CorpusError as exc:
            raise InvalidDocument(str(exc)) from None
        except (ReadOnlyDataDir, ReadOnlyStore) as exc:
            raise ReadOnly(str(exc)) from None
        except IndexStorageFull as exc:
            raise StorageFull(str(exc)) from None

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
        with self._index_errors():
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
        if not valid_doc_id(doc_id):
            raise InvalidDocument(f"invalid doc_id {doc_id!r}: use 1-128 letters, digits, '.', '_' or '-'")
        if format not in ("text", "html"):
            raise InvalidDocument(f"format {format!r}: one document is 'text' or 'html' (feeds: import_file)")
        raw = self._check_size(text)
        metadata = dict(metadata or {})
        title = title or (str(metadata["title"]) if metadata.get("title") else None)
        when = published.isoformat() if isinstance(published, date) else published
        given = Article(title, when, source, url)
        for value, what in ((title, "the title"), (source, "the source"), (url, "the url")):
            if value is not None:
                check_text(value, what, InvalidDocument)
        if format == "html":
            try:
                found = read_document(f"{doc_id}.html", raw, "html", doc_id=doc_id)[0]
                incoming = finish(doc_id, found.text, given.merged(found.article), metadata, detect=False)
            except CorpusError as exc:
                raise InvalidDocument(str(exc)) from None
        else:
            # Bytes are decoded (a UTF-8 byte-order mark is an encoding mark, dropped); a string
            # is stored exactly as given, a leading U+FEFF included, so offsets index what was sent.
            body = text if isinstance(text, str) else self._decode(raw, doc_id)
            try:
                incoming = finish(doc_id, body, given, metadata)
            except CorpusError as exc:
                raise InvalidDocument(str(exc)) from None
        return self._write([incoming], replace)[0].passages

    def import_file(
        self,
        name: str,
        raw: bytes,
        format: str | None = None,
        replace: bool = False,
        refused: list[tuple[str, str]] | None = None,
        progress: Progress | None = None,
    ) -> list[DocumentWritten]:
        """Every document of one file (text, HTML, an RSS/Atom/RDF feed, JSON Lines; the format
        by its name unless given), checked whole before any is written, each reported
        ``added``, ``replaced`` or ``unchanged``. Reading a file again is cheap: a document
        whose version (a hash of its text, article fields and metadata) is stored already is
        left alone, nothing embedded. A feed's or JSON Lines file's changed entries are
        replaced; a changed text or HTML page is refused as existing unless ``replace``.
        A text or HTML file's doc_id is its name's stem; a feed's entries are
        ``<stem>-<hash of guid, else link, else content>``. A bad entry or line refuses the
        whole file, or, with a ``refused`` list, only itself: it is recorded there as
        ("entry N" / "line N", why) and the others are written. With ``progress`` (a
        background import), documents are written ``PROGRESS_CHUNK`` at a time, each whole or
        absent, and ``progress(done, total)`` is called after each chunk; without it the file
        is one write."""
        self._check_size(raw)
        try:
            docs = read_document(name, raw, format, refused=refused)
        except CorpusError as exc:
            raise InvalidDocument(str(exc)) from None
        if len(docs) > MAX_IMPORT_DOCUMENTS:
            raise DocumentTooLarge(
                f"{name} holds {len(docs):,} documents; one request takes at most {MAX_IMPORT_DOCUMENTS:,} "
                "(`qa add` sends JSON Lines in parts; `qa index` takes a folder of any size)"
            )
        collection = (format or format_of(name)) in MULTI
        return self._write(docs, replace or collection, name, keep_unchanged=True, progress=progress)

    def _check_size(self, text: str | bytes) -> bytes:
        if isinstance(text, str):
            check_text(text, "the document text", InvalidDocument)
            if "\x00" in text:
                raise InvalidDocument("binary data, not a text document")
        raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
        if len(raw) > self.settings.max_document_bytes:
            raise DocumentTooLarge(
                f"document is {len(raw)} bytes; the limit is {self.settings.max_document_bytes}"
            )
        return raw

    @staticmethod
    def _decode(raw: bytes, doc_id: str) -> str:
        try:
            return decode_text(raw, doc_id)
        except CorpusError as exc:
            raise InvalidDocument(str(exc)) from None

    def _write(
        self,
        incoming: list[Incoming],
        replace: bool,
        name: str | None = None,
        keep_unchanged: bool = False,
        progress: Progress | None = None,
    ) -> list[DocumentWritten]:
        """Check every document, then write them all (one embedding pass). ``name``: the file
        they came from, whose passages together are held to the one-document limit too.
        ``keep_unchanged``: a document stored already at the same version is left alone."""
        stored = self._stored_versions([item.doc_id for item in incoming]) if keep_unchanged else {}
        docs, split = [], []
        status: dict[str, WriteStatus] = {}
        for item in incoming:
            check_metadata(item.metadata)
            check_text(item.text, f"{item.doc_id}: the text", InvalidDocument)
            for what in ("title", "source", "url"):
                value = getattr(item.article, what)
                if value is not None:
                    check_text(value, f"{item.doc_id}: the {what}", InvalidDocument)
            if not item.text.strip():
                raise InvalidDocument(f"{item.doc_id}: document text is empty")
            if item.doc_id in stored and stored[item.doc_id].sha256 == item.sha256:
                status[item.doc_id] = UNCHANGED
                continue
            status[item.doc_id] = REPLACED if item.doc_id in stored else ADDED
            doc = document_from_file(item, "api")
            paragraphs = split_paragraphs(item.text, title=doc.title)
            if len(paragraphs) > self.settings.max_passages_per_document:
                raise DocumentTooLarge(
                    f"{item.doc_id}: document splits into {len(paragraphs):,} passages; the limit is "
                    f"{self.settings.max_passages_per_document:,} (QA_MAX_PASSAGES_PER_DOCUMENT)"
                )
            docs.append(doc)
            split.append(paragraphs)
        total = sum(len(paragraphs) for paragraphs in split)
        if name is not None and total > self.settings.max_passages_per_document:
            raise DocumentTooLarge(
                f"{name} splits into {total:,} passages; one request takes at most "
                f"{self.settings.max_passages_per_document:,} (QA_MAX_PASSAGES_PER_DOCUMENT)"
            )
        step = PROGRESS_CHUNK if progress is not None else max(1, len(docs))
        if progress is not None:
            progress(len(incoming) - len(docs), len(incoming))  # the unchanged ones are done
        for lo in range(0, len(docs), step):
            with self._index_errors():
                try:
                    self.index.add(docs[lo : lo + step], replace=replace, split=split[lo : lo + step])
                except DocumentExistsError as exc:
                    doc_id = exc.args[0] if exc.args else docs[0].doc_id
                    raise DocumentExists(
                        f"document {doc_id!r} already exists (PUT /documents/{doc_id} replaces it)"
                    ) from None
            if progress is not None:
                progress(len(incoming) - len(docs) + min(len(docs), lo + step), len(incoming))
        written = []
        for item in incoming:
            if status[item.doc_id] == UNCHANGED:
                passages = stored[item.doc_id].passages
            else:
                passages = self.index.passage_count(item.doc_id)
                if not passages:
                    log.warning(
                        "document %s has no prose paragraph: stored, but it cannot be searched", item.doc_id
                    )
            written.append(
                DocumentWritten(
                    doc_id=item.doc_id,
                    passages=passages,
                    status=status[item.doc_id],
                    warning=no_passages_warning(passages),
                )
            )
        return written

    def _stored_versions(self, doc_ids: Sequence[str]) -> dict[str, DocumentRow]:
        """The stored row (version, passages) of each of ``doc_ids`` that is stored."""
        with self._index_errors():
            return self.index.article_fields(doc_ids)

    def delete(self, doc_id: str) -> None:
        with self._index_errors():
            deleted = self.index.delete(doc_id)
        if not deleted:
            raise DocumentNotFound(f"no document {doc_id!r}")

    def document(self, doc_id: str) -> DocumentOut:
        doc = self.index.get_document(doc_id)
        if doc is None:
            raise DocumentNotFound(f"no document {doc_id!r}")
        paragraphs = [p.text for p in split_paragraphs(doc.text, title=doc.title)]
        return DocumentOut(
            doc_id=doc.doc_id,
            title=doc.title,
            text=doc.text,
            metadata=doc.metadata,
            copies=self.retriever.copies(doc.doc_id, paragraphs),
            **_article_out(doc.published, doc.outlet, doc.url, doc.provenance),
        )

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
        return [_summary(row) for row in self.index.list_documents(limit, cursor, sort)]

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

    def health(self) -> Health:
        docs, passages = self.index.counts()
        choice = self.precision_choice
        precision = Precision(
            reader=self.reader.precision if self.reader else None,
            embedding=self.embedder.precision,
            bf16_speedup=round(choice.speedup, 2) if choice else None,
        )
        return Health(
            status="ok",
            ready=True,
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
        allowed = self._allowed(doc_ids, metadata, published_after, published_before)
        limit = self.settings.corroborate

        def more(text: str, seen: set[tuple[str, int]]) -> list[Passage]:
            return self.retriever.verbatim(text, limit, allowed, seen)

        retrieved = self._distinct_sources(checked, top_k, allowed)
        asked = [
            Asked(q, found, more, partial(self.retriever.similarity, q))
            for q, found in zip(checked, retrieved, strict=True)
        ]
        answers = self.answerer.answer_many(asked, max_answers, max_windows)
        replies = [
            AskResponse(question=a.question, answers=found, passages=a.passages)
            for a, found in zip(asked, answers, strict=True)
        ]
        self._cite_articles(replies)
        return replies

    def _distinct_sources(self, questions: list[str], top_k: int, allowed: Any) -> list[list[Passage]]:
        """The ``top_k`` best passages of each question, a passage that copies a better one
        of another article (a wire copy: ``qa.retrieval.copies``) left out and the next one read
        in its place, so that copies of one text do not crowd out other sources (the copy is
        still cited with its original when corroboration finds it). The ranking reads its
        candidates' records anyway, so the deeper list costs no round trip."""
        deeper = self.retriever.retrieve_many(questions, min(MAX_K, 2 * top_k), allowed)
        return [distinct(found)[:top_k] for found in deeper]

    def _cite_articles(self, replies: Sequence[AskResponse | SearchResponse]) -> None:
        """Name each passage's and citation's article (headline, date, outlet), give each
        answer the dates of its sources, and say when the answers' sources differ in date."""
        doc_ids = {p.doc_id for r in replies for p in r.passages}
        citations = [c for r in replies if isinstance(r, AskResponse) for a in r.answers for c in a.citations]
        doc_ids |= {c.doc_id for c in citations} | {copy.doc_id for c in citations for copy in c.copies}
        rows = self.index.article_fields(sorted(doc_ids)) if doc_ids else {}
        for reply in replies:
            cited: list[Passage | Citation | Copy] = list(reply.passages)
            if isinstance(reply, AskResponse):
                cited += [c for a in reply.answers for c in a.citations]
                cited += [copy for a in reply.answers for c in a.citations for copy in c.copies]
            for item in cited:
                row = rows.get(item.doc_id)
                if row is not None:
                    item.title, item.published, item.source = row.title, row.published, row.outlet
            if isinstance(reply, AskResponse):
                for answer in reply.answers:
                    answer.dates = sorted({c.published[:10] for c in answer.citations if c.published})
                reply.note = dates_note(reply.answers)
                reply.dates_differ = reply.note is not None

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
        allowed = self._allowed(doc_ids, metadata, published_after, published_before)
        reply = SearchResponse(query=query, passages=self.retriever.retrieve(query, k, allowed))
        self._cite_articles([reply])
        return reply

    def _allowed(
        self,
        doc_ids: list[str] | None,
        metadata: dict[str, Any] | None,
        published_after: str | date | None = None,
        published_before: str | date | None = None,
    ) -> Any:
        """The passage ids a filter admits; a ``doc_id`` the corpus does not hold is an error
        (a typo would otherwise look like "nothing found")."""
        if doc_ids is not None and len(doc_ids) > MAX_DOC_IDS:
            raise InvalidRequest(f"{len(doc_ids):,} doc_ids; at most {MAX_DOC_IDS:,} in one filter")
        check_filter_values(metadata)
        known = self.index.known_documents(doc_ids or [])
        unknown = [d for d in doc_ids or [] if d not in known]
        if unknown:
            named = ", ".join(repr(d[:64] + ("..." if len(d) > 64 else "")) for d in unknown[:5])
            more = f" and {len(unknown) - 5:,} more" if len(unknown) > 5 else ""
            raise DocumentNotFound(f"no document {named}{more} to filter on")
        return self._filter(doc_ids, metadata, date_range(published_after, published_before))

    def _filter(
        self, doc_ids: list[str] | None, metadata: dict[str, Any] | None, published: DateRange | None = None
    ) -> Any:
        try:
            return self.retriever.allowed(doc_ids, metadata, published)
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
        return self.retriever.retrieve(query, k, self._filter(doc_ids, metadata), mode)

    def clear_cache(self) -> None:
        self.retriever.clear_cache()


def open_backend(settings: Settings, embedder: Embedder) -> Backend:
    """The storage back end the settings name (``QA_BACKEND``)."""
    if settings.backend == "qdrant":
        from index.qdrant.backend import ClusterPolicy, CollectionLayout, QdrantBackend  # an optional extra

        layout = CollectionLayout(
            shards=settings.qdrant_shards,
            replicas=settings.qdrant_replicas,
            quantization=settings.qdrant_quantization,
            on_disk=settings.qdrant_on_disk,
        )
        return QdrantBackend.open(
            embedder,
            url=settings.qdrant_url,
            api_key=settings.qdrant_api_key,
            path=settings.qdrant_path,
            prefix=settings.qdrant_collection,
            layout=layout,
            policy=ClusterPolicy(
                write_batch=settings.qdrant_write_batch,
                retries=settings.qdrant_retries,
                ordering=settings.qdrant_write_ordering,
                write_consistency=settings.qdrant_write_consistency,
                read_consistency=settings.qdrant_read_consistency,
                grpc=settings.qdrant_grpc,
            ),
        )
    return CorpusIndex(
        settings.data_dir,
        embedder,
        settings.index_type,
        hnsw_threshold=settings.hnsw_threshold,
        ef_search=settings.hnsw_ef_search,
        shared=settings.shared_read,
    )


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


def dates_note(answers: Sequence[Answer]) -> str | None:
    """A line for a reply whose different answers come from sources of different dates
    ("1,030" on July 5, "more than 300" on July 3): figures in the news change over time."""
    dated = [(a.text, a.dates) for a in answers if a.dates]
    texts = {" ".join(t.lower().split()) for t, _ in dated}
    dates = {d for _, ds in dated for d in ds}
    if len(texts) < 2 or len(dates) < 2:
        return None
    parts = [f"\u201c{t}\u201d ({', '.join(ds)})" for t, ds in dated]
    return "The answers come from sources of different dates: " + "; ".join(parts) + "."


def _article_out(
    published: str | None, outlet: str | None, url: str | None, provenance: dict[str, str]
) -> dict:
    return {
        "published": published,
        "source": outlet,
        "url": url,
        "detected": sorted(n for n, how in provenance.items() if how in (DETECTED, PAGE)),
        "fields_from": {n: FIELDS_FROM.get(how, "given") for n, how in provenance.items()},
        "title_from_text": provenance.get("title") == DERIVED,
    }


def _summary(row: DocumentRow) -> DocumentSummary:
    return DocumentSummary(
        doc_id=row.doc_id,
        title=row.title,
        metadata=row.metadata,
        passages=row.passages,
        **_article_out(row.published, row.outlet, row.url, row.provenance),
    )


def check_k(name: str, k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise InvalidRequest(f"{name} must be between 1 and {MAX_K}")


def check_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidQuestion("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidQuestion(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    check_text(question, "the question", InvalidQuestion)
    return question.strip()


def check_text(value: str, what: str, error: type[QAError] = InvalidRequest) -> None:
    """Text must be valid Unicode: a lone UTF-16 surrogate ("\\ud800" in JSON) cannot be
    stored, encoded or shown, so it is refused where it enters."""
    found = _SURROGATE.search(value)
    if found:
        raise error(
            f"{what} holds a lone UTF-16 surrogate (U+{ord(found.group()):04X}) at character "
            f"{found.start()}; send valid Unicode"
        )


def check_filter_values(metadata: dict[str, Any] | None) -> None:
    """A metadata filter compares with JSON values: NaN and Infinity are none."""
    for key, value in (metadata or {}).items():
        if isinstance(value, list | dict):
            raise InvalidRequest(
                f"metadata filter {key!r}: a filter value is a string, number, boolean or null"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequest(f"metadata filter {key!r} is {value}: JSON has no NaN or Infinity")


def check_metadata(metadata: dict[str, Any]) -> None:
    """Metadata: valid Unicode, nested at most ``MAX_METADATA_DEPTH`` deep, at most
    ``MAX_METADATA_BYTES`` as JSON (it is returned with every document listing)."""

    def walk(value: Any, depth: int) -> None:
        if depth > MAX_METADATA_DEPTH:
            raise InvalidDocument(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidDocument(f"metadata holds {value}: JSON has no NaN or Infinity")
        if isinstance(value, str):
            check_text(value, "metadata", InvalidDocument)
        elif isinstance(value, dict):
            for key, item in value.items():
                check_text(str(key), "a metadata key", InvalidDocument)
                walk(item, depth + 1)
        elif isinstance(value, list):
            for item in value:
                walk(item, depth + 1)

    walk(metadata, 1)
    size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise DocumentTooLarge(f"metadata is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}")
