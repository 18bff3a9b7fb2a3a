"""A request's filter, built once at the edge: the documents, metadata and publication dates
a caller keeps to, checked (a doc_id the corpus does not hold is an error: a typo would
otherwise read as "nothing found"; a bad date is named) and bound to the back end, so that
one compiled ``Filter`` travels down to the searches."""

from __future__ import annotations

from datetime import date
from typing import Any

from index.backend import Backend, DateRange, Filter, UnsupportedFilter
from index.text.article import ArticleError, date_bound
from qa.errors import DocumentNotFound, InvalidRequest
from qa.intake.checks import check_filter_values
from qa.schemas import MAX_DOC_IDS


def request_filter(
    backend: Backend,
    doc_ids: list[str] | None,
    metadata: dict[str, Any] | None,
    published_after: str | date | None = None,
    published_before: str | date | None = None,
) -> Filter | None:
    """The request's filter, checked and bound to ``backend``; None when it keeps to nothing."""
    if doc_ids is not None and len(doc_ids) > MAX_DOC_IDS:
        raise InvalidRequest(f"{len(doc_ids):,} doc_ids; at most {MAX_DOC_IDS:,} in one filter")
    check_filter_values(metadata)
    known = backend.known_documents(doc_ids or [])
    unknown = [d for d in doc_ids or [] if d not in known]
    if unknown:
        named = ", ".join(repr(d[:64] + ("..." if len(d) > 64 else "")) for d in unknown[:5])
        more = f" and {len(unknown) - 5:,} more" if len(unknown) > 5 else ""
        raise DocumentNotFound(f"no document {named}{more} to filter on")
    return bound(backend, Filter.of(doc_ids, metadata, date_range(published_after, published_before)))


def bound(backend: Backend, where: Filter | None) -> Filter | None:
    """``where`` compiled for ``backend``; InvalidRequest where it cannot express it."""
    try:
        return backend.bind(where) if where is not None else None
    except UnsupportedFilter as exc:
        raise InvalidRequest(str(exc)) from None


def date_range(after: str | date | None, before: str | date | None) -> DateRange | None:
    """The publication-time filter of ``published_after`` / ``published_before`` (ISO 8601;
    a date is its whole day)."""
    if after is None and before is None:
        return None
    try:
        lo = date_bound(after, end_of_day=False) if after is not None else None
        hi = date_bound(before, end_of_day=True) if before is not None else None
    except ArticleError as exc:
        raise InvalidRequest(str(exc).replace("published ", "a date filter ", 1)) from None
    return DateRange(lo, hi)  # after later than before: a range that holds no article
