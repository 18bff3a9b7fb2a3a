"""Document records on Qdrant: one read, the article fields of many, and pages of them by
keyset seek on their listing keys (``index.qdrant.listing``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from index.backend import Document, DocumentRow, parse_cursor, published_order, stable_id
from index.qdrant.connection import Store
from index.qdrant.listing import ID_FIELDS, NEWEST, KeysetPager, fields_past, floor_id, id_keys, newest
from index.qdrant.schema import Names, document
from index.qdrant.versions import Versions

with contextlib.suppress(ImportError):  # the optional extra; connection.connect says it is missing
    from qdrant_client import models as qm

PAGE = 1000  # records per scroll page


class Documents:
    def __init__(self, store: Store, names: Names, versions: Versions) -> None:
        self.store = store
        self.names = names
        self.versions = versions
        self.listing_keys = False  # whether every record has its listing keys (set at open)

    def get(self, doc_id: str) -> Document | None:
        found = self.store.retrieve(self.names.documents, [stable_id("document", doc_id)], with_payload=True)
        return document(found[0].payload) if found and found[0].payload else None

    def payloads(self, fields: list[str]) -> Iterator[dict[str, Any]]:
        """These fields of every record, a page at a time."""
        offset = None
        while True:
            points, offset = self.store.scroll(
                self.names.documents, limit=PAGE, offset=offset, with_payload=fields
            )
            for p in points:
                if p.payload:
                    yield p.payload
            if offset is None:
                return

    def page(
        self, limit: int | None = None, after: str | None = None, order: str = "doc_id"
    ) -> list[DocumentRow]:
        """A page by keyset seek on the records' listing keys: a few ordered scrolls of at
        most ``limit`` records, however many the store holds. Without a ``limit``, or on a
        store not yet given those keys (opened read-only), every doc_id is read and sorted."""
        if limit is None or not self.listing_keys:
            return self._by_scan(limit, after, order)
        fields = [NEWEST, *ID_FIELDS] if order == "published" else ID_FIELDS
        pager = KeysetPager(fields, self._ordered_scroll(fields), _range_condition)
        cursor: list[float] | None = None
        skip = 0
        if after:
            ts, doc_id = parse_cursor(after, order)
            doc_id = floor_id(doc_id)
            cursor = [float(k) for k in id_keys(doc_id)]
            if order == "published":
                cursor.insert(0, newest(ts))
            skip = fields_past(doc_id)
        ids = [r["doc_id"] for r in pager.page(limit, cursor, skip)]
        rows = self.article_fields(ids)
        return [rows[d] for d in ids if d in rows]

    def _ordered_scroll(self, fields: list[str]) -> Callable[[list[Any], str, int], list[dict[str, Any]]]:
        def scroll(conditions: list[Any], field: str, limit: int) -> list[dict[str, Any]]:
            points, _ = self.store.scroll(
                self.names.documents,
                scroll_filter=qm.Filter(must=conditions) if conditions else None,
                limit=limit,
                order_by=qm.OrderBy(key=field, direction=qm.Direction.ASC),
                with_payload=["doc_id", *fields],
            )
            return [p.payload for p in points if p.payload]

        return scroll

    def _by_scan(self, limit: int | None, after: str | None, order: str) -> list[DocumentRow]:
        keys = [(p["doc_id"], p.get("published")) for p in self.payloads(["doc_id", "published"])]
        if order == "published":
            keys.sort(key=lambda k: published_order(*k))
            if after:
                ts, doc_id = parse_cursor(after, order)
                cursor = (ts is None, -(ts or 0.0), doc_id)
                keys = [k for k in keys if published_order(*k) > cursor]
        else:
            keys = sorted(k for k in keys if k[0] > (after or ""))
        ids = [doc_id for doc_id, _ in (keys if limit is None else keys[:limit])]
        rows = self.article_fields(ids)
        return [rows[d] for d in ids if d in rows]

    def article_fields(self, doc_ids: Sequence[str]) -> dict[str, DocumentRow]:
        rows: dict[str, DocumentRow] = {}
        for d, q in self.versions.records(sorted(set(doc_ids))).items():
            rows[d] = DocumentRow(
                q["doc_id"],
                q["title"],
                q.get("metadata") or {},
                q["source"],
                q["sha256"],
                int(q.get("passages", 0)),
                q.get("published"),
                q.get("outlet"),
                q.get("url"),
                q.get("provenance") or {},
            )
        return rows


def _range_condition(field: str, value: float, how: str) -> Any:
    """``field`` above ``value`` (``gt``) or equal to it (``eq``): ranges, which integer and
    float payload indexes both answer."""
    bounds = qm.Range(gt=value) if how == "gt" else qm.Range(gte=value, lte=value)
    return qm.FieldCondition(key=field, range=bounds)
