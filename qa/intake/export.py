"""Every stored document as the import takes it: a backup, or a move to another store.

``Engine.export`` yields one ``DocumentIn`` per document, by doc_id, a page of records at a
time (bounded memory however large the store). Its text is the stored text (an HTML page's
main text, as it was kept); an article field goes with it when it was given or read from the
page's metadata, and is left out when it was found in the text or taken from the first line
(the import finds it again the same way). ``POST /documents/import`` or ``qa add FILE.jsonl``
restores the file into an empty store (or any other), embedding the passages again.
"""

from __future__ import annotations

from collections.abc import Iterator

from index.backend import DERIVED, DETECTED, Backend, Document
from qa.schemas import DocumentIn

PAGE = 500  # documents listed at a time


def exported(index: Backend, page: int = PAGE) -> Iterator[DocumentIn]:
    after = None
    while True:
        rows = index.list_documents(limit=page, after=after, order="doc_id")
        for row in rows:
            doc = index.get_document(row.doc_id)
            if doc is not None:  # deleted since it was listed
                yield as_input(doc)
        if len(rows) < page:
            return
        after = rows[-1].doc_id


def as_input(doc: Document) -> DocumentIn:
    def kept(name: str) -> bool:
        return doc.provenance.get(name) not in (DETECTED, DERIVED)

    return DocumentIn.model_validate(
        {
            "doc_id": doc.doc_id,
            "text": doc.text,
            "title": doc.title if doc.title and kept("title") else None,
            "published": doc.published if doc.published and kept("published") else None,
            "source": doc.outlet if doc.outlet and kept("source") else None,
            "url": doc.url if doc.url and kept("url") else None,
            "metadata": doc.metadata,
        }
    )
