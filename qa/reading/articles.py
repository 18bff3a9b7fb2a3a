"""The articles of a reply named as a reader of news names them: each passage's and
citation's headline, date and outlet, the dates an answer was reported, a note when the
answers' sources differ in date; and a stored document's article fields as the API gives
them (where each came from)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from index.backend import DERIVED, DETECTED, GIVEN, PAGE, Backend, DocumentRow
from index.text.article import published_day
from qa.schemas import Answer, AskResponse, Citation, Copy, DocumentSummary, Passage, SearchResponse

# How a stored provenance reads in a document's ``fields_from``.
FIELDS_FROM = {GIVEN: "given", PAGE: "page", DETECTED: "text", DERIVED: "first line"}


def cite_articles(index: Backend, replies: Sequence[AskResponse | SearchResponse]) -> None:
    """Name each passage's and citation's article (headline, date, outlet), give each
    answer the dates of its sources, and say when the answers' sources differ in date."""
    doc_ids = {p.doc_id for r in replies for p in r.passages}
    citations = [c for r in replies if isinstance(r, AskResponse) for a in r.answers for c in a.citations]
    doc_ids |= {c.doc_id for c in citations} | {copy.doc_id for c in citations for copy in c.copies}
    rows = index.article_fields(sorted(doc_ids)) if doc_ids else {}
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
                answer.dates = sorted({published_day(c.published) for c in answer.citations if c.published})
            reply.note = dates_note(reply.answers)
            reply.dates_differ = reply.note is not None


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


def article_out(
    published: str | None, outlet: str | None, url: str | None, provenance: dict[str, str]
) -> dict[str, Any]:
    """The article fields of ``ArticleOut`` for a stored document's fields."""
    return {
        "published": published,
        "source": outlet,
        "url": url,
        "detected": sorted(n for n, how in provenance.items() if how in (DETECTED, PAGE)),
        "fields_from": {n: FIELDS_FROM.get(how, "given") for n, how in provenance.items()},
        "title_from_text": provenance.get("title") == DERIVED,
    }


def summary(row: DocumentRow) -> DocumentSummary:
    return DocumentSummary(
        doc_id=row.doc_id,
        title=row.title,
        metadata=row.metadata,
        passages=row.passages,
        **article_out(row.published, row.outlet, row.url, row.provenance),
    )
