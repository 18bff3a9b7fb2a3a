"""SQLite passage store: documents, their paragraphs with offsets, and paragraph vectors.

The store is the source of truth. FAISS and BM25 are derived from it and stamped with the
store's ``generation``, which every committed write increments; a derived index whose stamp
differs from the store's is rebuilt from the store (the vectors are kept here, so no
re-embedding is needed). That is what keeps ids in step across restarts and crashes.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from index.backend import (
    DateRange,
    Document,
    DocumentRow,
    StoredPassage,
    parse_cursor,
)
from index.local.datadir import StorageFull, disk_full
from index.local.schema import filter_value, has_column, metadata_rows, migrate
from index.text.paragraphs import Paragraph
from index.text.terms import term_positions

_ROW_BASE = (
    "d.doc_id, d.title, d.metadata, d.source, d.sha256, "
    "(SELECT COUNT(*) FROM passages p WHERE p.doc_id = d.doc_id)"
)
_ROW = _ROW_BASE + ", d.published, d.outlet, d.url, d.provenance"
_ROW_WITHOUT_ARTICLES = _ROW_BASE + ", NULL, NULL, NULL, NULL"  # an older store opened read-only
# (doc_id, paragraph) pairs per look-up of vectors: well inside SQLite's expression depth (1,000).
VECTOR_KEYS_PER_QUERY = 200


class CorruptStore(RuntimeError):
    """The SQLite store fails its integrity check."""


class PassageStore:
    """Thread-safe SQLite store; one connection guarded by a lock."""

    def __init__(self, path: Path, read_only: bool = False, shared: bool = False) -> None:
        """``read_only``: for a directory this process cannot write (no journal can be made
        there, so the file is opened as immutable). ``shared``: read-only beside the process
        that writes it (SQLite's WAL lets a reader see each committed write whole)."""
        self.path = path
        self._lock = threading.RLock()
        read_only = read_only or shared
        try:
            if shared:
                uri = f"file:{path.resolve()}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
            elif read_only:
                uri = f"file:{path.resolve()}?mode=ro&immutable=1"
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
            else:
                self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            raise CorruptStore(f"{path} is not a readable SQLite store ({exc})") from None
        if problems != ["ok"]:
            first = " ".join(str(problems[0]).split())[:200]  # SQLite's report spans lines
            raise CorruptStore(f"{path} is damaged ({first})")
        if not read_only:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            migrate(self._db)
        # Passages of older stores have no stored terms; readers compute them from the text.
        self._terms = "terms" if has_column(self._db, "passages", "terms") else "NULL"
        # An older store opened read-only has no metadata index: its filters scan the documents.
        self._metadata_indexed = self.get_state("metadata_index") == "1"
        # ... and no article fields: it lists them as absent.
        self._articles = has_column(self._db, "documents", "provenance")
        self._row_columns = _ROW if self._articles else _ROW_WITHOUT_ARTICLES

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute(
                    "INSERT INTO state VALUES ('generation', '1') ON CONFLICT(key) "
                    "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
                )
                self._db.execute("COMMIT")
            except BaseException as exc:
                # SQLite may have rolled back already (it does on a full disk): nothing to undo.
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                if disk_full(exc):
                    raise StorageFull(
                        f"no space left on the disk holding {self.path.parent}: nothing was written"
                    ) from exc
                raise

    # --- state -------------------------------------------------------------------------
    def get_state(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def state_items(self, prefix: str) -> dict[str, str]:
        """Every state entry whose key starts with ``prefix``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM state WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
            ).fetchall()
        return {k: v for k, v in rows}

    def set_state(self, key: str, value: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO state VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @property
    def generation(self) -> int:
        return int(self.get_state("generation", "0") or 0)

    # --- writes ------------------------------------------------------------------------
    def put_document(self, doc: Document, paragraphs: Sequence[Paragraph], vectors: np.ndarray) -> list[int]:
        """Insert or replace a document with its paragraphs; returns the new passage ids."""
        return self.put_documents([doc], [paragraphs], vectors)[0]

    def put_documents(
        self, docs: Sequence[Document], splits: Sequence[Sequence[Paragraph]], vectors: np.ndarray
    ) -> list[list[int]]:
        """Insert or replace documents with their paragraphs (``vectors``: every paragraph's,
        in order) in one transaction: all of them are written or none. Returns each
        document's new passage ids."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        out: list[list[int]] = []
        with self._transaction() as db:
            lo = 0
            for doc, paragraphs in zip(docs, splits, strict=True):
                out.append(self._put(db, doc, paragraphs, vectors[lo : lo + len(paragraphs)]))
                lo += len(paragraphs)
        return out

    @staticmethod
    def _put(
        db: sqlite3.Connection, doc: Document, paragraphs: Sequence[Paragraph], vectors: np.ndarray
    ) -> list[int]:
        db.execute("DELETE FROM documents WHERE doc_id = ?", (doc.doc_id,))
        db.execute(
            "INSERT INTO documents (doc_id, title, text, metadata, source, sha256, published, "
            "published_ts, outlet, url, provenance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                doc.doc_id,
                doc.title,
                doc.text,
                json.dumps(doc.metadata),
                doc.source,
                doc.sha256,
                doc.published,
                doc.published_ts,
                doc.outlet,
                doc.url,
                json.dumps(doc.provenance),
            ),
        )
        db.executemany(
            "INSERT INTO metadata_values VALUES (?, ?, ?)",
            [(doc.doc_id, k, v) for k, v in metadata_rows(doc.metadata)],
        )
        ids = []
        for i, (p, v) in enumerate(zip(paragraphs, vectors, strict=True)):
            terms = json.dumps(term_positions(p.text), separators=(",", ":"))
            cur = db.execute(
                "INSERT INTO passages (doc_id, paragraph, start, end, text, vector, terms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (doc.doc_id, i, p.start, p.end, p.text, v.tobytes(), terms),
            )
            ids.append(int(cur.lastrowid or 0))
        return ids

    def delete_document(self, doc_id: str) -> list[int]:
        """Delete a document; returns the ids of its passages (empty if it was absent)."""
        with self._transaction() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM passages WHERE doc_id = ?", (doc_id,))]
            db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        return ids

    # --- reads -------------------------------------------------------------------------
    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    def known_documents(self, doc_ids: Sequence[str]) -> set[str]:
        """Which of ``doc_ids`` the store holds (one query; no text is read)."""
        ids = list(doc_ids)
        marks = ",".join("?" * len(ids))
        return (
            {r[0] for r in self._query(f"SELECT doc_id FROM documents WHERE doc_id IN ({marks})", ids)}
            if ids
            else set()
        )

    def get_document(self, doc_id: str) -> Document | None:
        article = "published, outlet, url, provenance" if self._articles else "NULL, NULL, NULL, NULL"
        rows = self._query(
            f"SELECT doc_id, title, text, metadata, source, sha256, {article} "
            "FROM documents WHERE doc_id = ?",
            (doc_id,),
        )
        if not rows:
            return None
        d = rows[0]
        return Document(
            d[0], d[1], d[2], json.loads(d[3]), d[4], d[5], d[6], d[7], d[8], json.loads(d[9] or "{}")
        )

    def list_documents(
        self, limit: int | None = None, after: str | None = None, order: str = "doc_id"
    ) -> list[DocumentRow]:
        """Every document (no text), by doc_id or with ``order="published"`` newest first
        (undated last, ties by doc_id); a page of ``limit`` of them after the cursor ``after``
        (keyset paging: each page costs the same however deep it is)."""
        columns = self._row_columns
        count = -1 if limit is None else limit
        if order == "published" and self._articles:
            where, args = "1", list[Any]()
            if after:
                ts, doc_id = parse_cursor(after, order)
                if ts is None:
                    where, args = "d.published_ts IS NULL AND d.doc_id > ?", list[Any]([doc_id])
                else:
                    where = (
                        "(d.published_ts < ? OR (d.published_ts = ? AND d.doc_id > ?) "
                        "OR d.published_ts IS NULL)"
                    )
                    args = [ts, ts, doc_id]
            rows = self._query(
                f"SELECT {columns} FROM documents d WHERE {where} "
                "ORDER BY d.published_ts IS NULL, d.published_ts DESC, d.doc_id LIMIT ?",
                [*args, count],
            )
        else:
            if order == "published":  # an older store opened read-only: no dates to sort by
                after = parse_cursor(after, order)[1] if after else None
            rows = self._query(
                f"SELECT {columns} FROM documents d WHERE d.doc_id > ? ORDER BY d.doc_id LIMIT ?",
                (after or "", count),
            )
        return [_row(r) for r in rows]

    def article_fields(self, doc_ids: Sequence[str]) -> dict[str, DocumentRow]:
        ids = sorted(set(doc_ids))
        if not ids:
            return {}
        columns = self._row_columns
        marks = ",".join("?" * len(ids))
        rows = self._query(f"SELECT {columns} FROM documents d WHERE d.doc_id IN ({marks})", ids)
        return {r[0]: _row(r) for r in rows}

    def doc_ids_published(self, published: DateRange) -> set[str]:
        """Documents published within the range (an index look-up on published_ts)."""
        if not self._articles:
            return set()
        lo = -math.inf if published.after is None else published.after
        hi = math.inf if published.before is None else published.before
        rows = self._query("SELECT doc_id FROM documents WHERE published_ts BETWEEN ? AND ?", (lo, hi))
        return {r[0] for r in rows}

    def passages(self, ids: Sequence[int]) -> dict[int, StoredPassage]:
        out: dict[int, StoredPassage] = {}
        ids = list(ids)
        for lo in range(0, len(ids), 500):
            chunk = ids[lo : lo + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._query(
                f"SELECT id, doc_id, paragraph, start, end, text, {self._terms} FROM passages "
                f"WHERE id IN ({marks})",
                chunk,
            ):
                out[r[0]] = StoredPassage(*r)
        return out

    def vectors_at(self, keys: Sequence[tuple[str, int]]) -> list[np.ndarray | None]:
        """The stored vector of each (doc_id, paragraph), None where there is no such passage.
        (An OR of pairs, which SQLite looks up by the doc_id index; ``(doc_id, paragraph) IN
        (VALUES ...)`` scanned the whole table: 1.4 ms at 2,101 passages, growing with them.)"""
        found: dict[tuple[str, int], np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for lo in range(0, len(unique), VECTOR_KEYS_PER_QUERY):
            chunk = unique[lo : lo + VECTOR_KEYS_PER_QUERY]
            pairs = " OR ".join("(doc_id = ? AND paragraph = ?)" for _ in chunk)
            rows = self._query(
                f"SELECT doc_id, paragraph, vector FROM passages WHERE {pairs}",
                [v for key in chunk for v in key],
            )
            found.update({(d, n): np.frombuffer(v, dtype=np.float32) for d, n, v in rows})
        return [found.get((d, n)) for d, n in keys]

    def passage_ids(self, doc_ids: Sequence[str] | None = None) -> np.ndarray:
        if doc_ids is None:
            rows = self._query("SELECT id FROM passages ORDER BY id")
        else:
            marks = ",".join("?" * len(doc_ids))
            rows = self._query(f"SELECT id FROM passages WHERE doc_id IN ({marks}) ORDER BY id", doc_ids)
        return np.array([r[0] for r in rows], dtype=np.int64)

    def doc_ids_with_metadata(self, filters: dict[str, Any]) -> list[str]:
        """Documents whose metadata has every key with the given scalar value, or with a list
        holding it (``filter_value`` says when two values are equal); an index look-up."""
        found: set[str] | None = None
        for key, value in filters.items():
            canonical = filter_value(value)
            if canonical is None or isinstance(value, list):
                raise ValueError(
                    f"metadata filter {key!r}: a filter value is a string, number, boolean or null"
                )
            if self._metadata_indexed:
                sql = "SELECT DISTINCT doc_id FROM metadata_values WHERE key = ? AND value = ?"
                ids = {r[0] for r in self._query(sql, (key, canonical))}
            else:
                ids = {
                    d.doc_id for d in self.list_documents() if (key, canonical) in metadata_rows(d.metadata)
                }
            found = ids if found is None else found & ids
            if not found:
                return []
        return sorted(found or ())

    def iter_vectors(
        self, batch: int = 10000, only: np.ndarray | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of every passage (or of the ids in ``only``), in id order, in batches."""
        if only is not None:
            wanted = sorted(int(i) for i in only)
            for lo in range(0, len(wanted), 500):
                chunk = wanted[lo : lo + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._query(
                    f"SELECT id, vector FROM passages WHERE id IN ({marks}) ORDER BY id", chunk
                )
                if rows:
                    ids = np.array([r[0] for r in rows], dtype=np.int64)
                    yield ids, np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            return
        last = -1
        while True:
            rows = self._query(
                "SELECT id, vector FROM passages WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
            )
            if not rows:
                return
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            vecs = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            yield ids, vecs
            last = int(ids[-1])

    def iter_texts(self) -> tuple[np.ndarray, list[str]]:
        rows = self._query("SELECT id, text FROM passages ORDER BY id")
        return np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows]

    def counts(self) -> tuple[int, int]:
        docs = self._query("SELECT COUNT(*) FROM documents")[0][0]
        passages = self._query("SELECT COUNT(*) FROM passages")[0][0]
        return int(docs), int(passages)


def _row(r: tuple[Any, ...]) -> DocumentRow:
    return DocumentRow(
        r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], json.loads(r[9] or "{}")
    )
