"""Documents that come in through a request or a call (``Engine.add``, ``import_file``):
read in their format, their article fields found, checked against the bounds, split into
paragraphs, compared with what is stored (a document whose version is stored already is
left alone), then written through the back end in one write (or a chunk at a time for a
background import). ``Engine`` delegates here; the back end's failures come back as the
core's errors (``index_errors``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

from index.backend import DocumentExistsError, DocumentRow, ReadOnlyStore
from index.indexer import Indexer, document_from_file
from index.local.datadir import ReadOnlyDataDir
from index.local.datadir import StorageFull as IndexStorageFull
from index.text.article import Article
from index.text.corpus import CorpusError, decode_text, valid_doc_id
from index.text.formats import MULTI, Incoming, finish, format_of, read_document
from index.text.paragraphs import split_paragraphs
from qa.errors import DocumentExists, DocumentTooLarge, InvalidDocument, ReadOnly, StorageFull
from qa.intake.checks import check_metadata, check_text
from qa.schemas import ADDED, REPLACED, UNCHANGED, DocumentWritten, WriteStatus
from qa.settings import Settings

log = logging.getLogger("qa.engine")
MAX_IMPORT_DOCUMENTS = 1000  # documents of one file in one request (POST /documents/import)
# Documents written at a time by a background import (each chunk one write, its progress told).
PROGRESS_CHUNK = 20
Progress = Callable[[int, int], None]


@contextmanager
def index_errors() -> Iterator[None]:
    """The index's failures as the core's errors (what the shells know how to report)."""
    try:
        yield
    except CorpusError as exc:
        raise InvalidDocument(str(exc)) from None
    except (ReadOnlyDataDir, ReadOnlyStore) as exc:
        raise ReadOnly(str(exc)) from None
    except IndexStorageFull as exc:
        raise StorageFull(str(exc)) from None


class Intake:
    """The writes of documents to one back end (through its indexer) under one set of bounds."""

    def __init__(self, indexer: Indexer, settings: Settings) -> None:
        self.indexer = indexer
        self.backend = indexer.backend
        self.settings = settings

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
            with index_errors():
                try:
                    self.indexer.add(docs[lo : lo + step], replace=replace, split=split[lo : lo + step])
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
                passages = self.backend.passage_count(item.doc_id)
                if not passages:
                    log.warning(
                        "document %s has no prose paragraph: stored, but it cannot be searched", item.doc_id
                    )
            written.append(
                DocumentWritten(
                    doc_id=item.doc_id,
                    passages=passages,
                    status=status[item.doc_id],
                )
            )
        return written

    def _stored_versions(self, doc_ids: Sequence[str]) -> dict[str, DocumentRow]:
        """The stored row (version, passages) of each of ``doc_ids`` that is stored."""
        with index_errors():
            return self.backend.article_fields(doc_ids)
