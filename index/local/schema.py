"""The SQLite store's schema, and the migrations that bring a store written by an earlier
version up to it, each run once at open on a writable store: term positions kept with the
passages, the metadata index of filters, article fields (detected in each stored text)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from index.backend import detected_fields
from index.local.datadir import StorageFull, disk_full
from index.text.article import published_ts

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    paragraph INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL,
    terms TEXT  -- JSON: where each proximity term stands (index.text.terms.term_positions)
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Top-level metadata values (and the elements of top-level lists) for filters: a filter is an
-- index look-up instead of parsing every document's metadata (see metadata_rows).
CREATE TABLE IF NOT EXISTS metadata_values (
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metadata_lookup ON metadata_values(key, value);
CREATE INDEX IF NOT EXISTS metadata_doc ON metadata_values(doc_id);
"""
# Article fields (index.text.article), added to stores written before they existed by
# ``add_article_columns``; ``provenance`` is JSON {field: given | detected | derived}.
_ARTICLE_COLUMNS = (
    ("published", "TEXT"),
    ("published_ts", "REAL"),
    ("outlet", "TEXT"),
    ("url", "TEXT"),
    ("provenance", "TEXT"),
)


def filter_value(value: Any) -> str | None:
    """The canonical form a metadata value is stored and matched in: JSON, with numbers by
    value (1 and 1.0 are one number) and booleans apart from numbers (true is not 1); None
    for what cannot be matched (objects, lists inside lists)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        if float(value).is_integer() and abs(value) < 2**53:
            return json.dumps(int(value))
        return json.dumps(value)
    return None


def metadata_rows(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, canonical value) for each top-level scalar, and each scalar element of a
    top-level list: a filter ``tags=asia`` matches ``{"tags": ["asia", "politics"]}``."""
    rows = []
    for key, value in metadata.items():
        for item in value if isinstance(value, list) else [value]:
            canonical = filter_value(item)
            if canonical is not None:
                rows.append((key, canonical))
    return rows


def has_column(db: sqlite3.Connection, table: str, column: str) -> bool:
    return any(c[1] == column for c in db.execute(f"PRAGMA table_info({table})").fetchall())


def migrate(db: sqlite3.Connection) -> None:
    """Create what is missing and migrate what is old (idempotent)."""
    db.executescript(SCHEMA)
    if not has_column(db, "passages", "terms"):  # a store written before term positions were kept
        db.execute("ALTER TABLE passages ADD COLUMN terms TEXT")
    indexed = db.execute("SELECT value FROM state WHERE key = 'metadata_index'").fetchone()
    if not indexed or indexed[0] != "1":  # a store written before the metadata index existed
        index_metadata(db)
    if not has_column(db, "documents", "provenance"):
        add_article_columns(db)
    db.execute("CREATE INDEX IF NOT EXISTS documents_published ON documents(published_ts)")


def index_metadata(db: sqlite3.Connection) -> None:
    """Fill the metadata index from every document, in one transaction that counts as a
    write (the store's generation moves on)."""
    with _transaction(db):
        db.execute("DELETE FROM metadata_values")
        for doc_id, metadata in db.execute("SELECT doc_id, metadata FROM documents").fetchall():
            db.executemany(
                "INSERT INTO metadata_values VALUES (?, ?, ?)",
                [(doc_id, k, v) for k, v in metadata_rows(json.loads(metadata))],
            )
        db.execute(
            "INSERT INTO state VALUES ('metadata_index', '1') ON CONFLICT(key) DO UPDATE SET value = '1'"
        )
        db.execute(
            "INSERT INTO state VALUES ('generation', '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )


def add_article_columns(db: sqlite3.Connection) -> None:
    """Migrate a store written before article fields: add the columns, then fill them with
    what each stored document's text states (``detect_article``), marked detected; a stored
    title that was derived from the text gives way to a detected headline. One transaction,
    and the write generation is kept: passages are untouched, so FAISS and BM25 need no
    rebuild."""
    with _transaction(db):
        for name, kind in _ARTICLE_COLUMNS:
            if not has_column(db, "documents", name):
                db.execute(f"ALTER TABLE documents ADD COLUMN {name} {kind}")
        last = ""
        while True:  # in batches by doc_id: a large store is never read into memory whole
            rows = db.execute(
                "SELECT doc_id, title, substr(text, 1, 6000), substr(text, -3000), length(text) "
                "FROM documents WHERE doc_id > ? ORDER BY doc_id LIMIT 500",
                (last,),
            ).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            for doc_id, title, head, tail, length in rows:
                text = head if length <= 9000 else f"{head}\n{tail}"
                title, published, outlet, provenance = detected_fields(title, text)
                db.execute(
                    "UPDATE documents SET title = ?, published = ?, published_ts = ?, outlet = ?, "
                    "provenance = ? WHERE doc_id = ?",
                    (title, published, published_ts(published), outlet, json.dumps(provenance), doc_id),
                )


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException as exc:
        # SQLite may have rolled back already (it does on a full disk): nothing to undo.
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        if disk_full(exc):
            raise StorageFull(
                "no space left on the disk holding the data directory: nothing was migrated"
            ) from exc
        raise
