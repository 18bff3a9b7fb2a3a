"""The stored documents as people browse them: one with its full text (and the stored wire
copies of it), listings newest first or by doc_id in pages bounded in size, and the export
that backs them all up."""

from __future__ import annotations

import json
from collections.abc import Iterator

from index.backend import Backend, page_cursor
from index.text.paragraphs import split_paragraphs
from qa.errors import DocumentNotFound, InvalidRequest
from qa.intake.documents import index_errors
from qa.intake.export import exported
from qa.reading.articles import article_out, summary
from qa.retrieval import HybridRetriever
from qa.schemas import MAX_CURSOR_CHARS, DocumentIn, DocumentList, DocumentOut, DocumentSummary

MAX_PAGE_BYTES = 1_000_000  # titles and metadata in one page of GET /documents
SORTS = ("published", "doc_id")  # orders of GET /documents


class Catalog:
    """Reads of whole documents from one back end (the retriever finds their copies)."""

    def __init__(self, backend: Backend, retriever: HybridRetriever) -> None:
        self.backend = backend
        self.retriever = retriever

    def document(self, doc_id: str, copies: bool = True) -> DocumentOut:
        """One document with its full text; ``copies``: also look up which stored documents
        are its wire copies (a few nearest-neighbour searches; off where it is not shown)."""
        doc = self.backend.get_document(doc_id)
        if doc is None:
            raise DocumentNotFound(f"no document {doc_id!r}")
        found = []
        if copies:
            paragraphs = split_paragraphs(doc.text, title=doc.title)
            found = self.retriever.copies(doc.doc_id, [p.text for p in paragraphs])
        return DocumentOut(
            doc_id=doc.doc_id,
            title=doc.title,
            text=doc.text,
            metadata=doc.metadata,
            copies=found,
            **article_out(doc.published, doc.outlet, doc.url, doc.provenance),
        )

    def documents(
        self, limit: int | None = None, after: str | None = None, sort: str = "published"
    ) -> list[DocumentSummary]:
        """Documents newest first (``sort="published"``: undated last, ties by doc_id) or by
        doc_id (``sort="doc_id"``); ``limit`` of them after the document ``after`` (the
        ``next`` of ``page``: the last doc_id of the previous page)."""
        if limit is not None and limit < 1:
            raise InvalidRequest("limit must be at least 1")
        if sort not in SORTS:
            raise InvalidRequest(f"sort {sort!r}: use one of {', '.join(SORTS)}")
        if after is not None and len(after) > MAX_CURSOR_CHARS:
            raise InvalidRequest(f"after: at most {MAX_CURSOR_CHARS} characters")
        cursor = after
        if after is not None and sort == "published":  # continue after that document's date
            found = self.backend.article_fields([after]).get(after)
            if found is None:
                raise DocumentNotFound(
                    f"no document {after[:64]!r} to continue after (deleted since?): list from the start"
                )
            cursor = page_cursor(found.doc_id, found.published, sort)
        return [summary(row) for row in self.backend.list_documents(limit, cursor, sort)]

    def page(self, limit: int, after: str | None = None, sort: str = "published") -> DocumentList:
        """A page of ``documents``: at most ``limit`` of them and about ``MAX_PAGE_BYTES`` of
        titles and metadata (at least one document), with the cursor of the next page."""
        found = self.documents(limit + 1, after, sort)
        size, cut = 0, 0
        while cut < min(limit, len(found)) and size < MAX_PAGE_BYTES:
            doc = found[cut]
            size += len(doc.title.encode()) + len(json.dumps(doc.metadata, ensure_ascii=False).encode())
            cut += 1
        more = len(found) > cut
        last = found[cut - 1] if cut else None
        return DocumentList(documents=found[:cut], next=last.doc_id if more and last is not None else None)

    def export(self) -> Iterator[DocumentIn]:
        """Every document as the import takes it, by doc_id (``qa.intake.export``)."""
        with index_errors():
            yield from exported(self.backend)
