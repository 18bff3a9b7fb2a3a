"""The on-disk hybrid index: passage store (truth) + FAISS + BM25, kept in step.

Layout of the data directory::

    store.sqlite3     documents, passages (offsets, text, vector), generation counter
    vectors.faiss     FAISS index, ids = passage ids
    bm25/             bm25s index + row -> passage id map
    manifest.json     embedding model, dimension, index type, corpus hash, and the store
                      generation the two derived indexes were saved at

A write commits to SQLite first (that is the point of no return), then updates FAISS and
BM25 in memory. The two derived indexes are saved as a snapshot now and then (after
``snapshot_every`` changed passages, at a model or index-type change, and at close), not at
every write: saving them is O(corpus). At open, a snapshot is checked (checksum, format)
and reconciled with the store by passage id, which never repeats (AUTOINCREMENT): passages
the snapshot lacks are added from their stored vectors and texts, and ones the store no
longer has are removed. A crash therefore loses nothing, and costs at most the replay of
the writes since the last snapshot.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from index.backend import (
    Backend,
    Document,
    DocumentExistsError,
    DocumentRow,
    Filter,
    Hit,
    StoredPassage,
    TextEncoder,
    UnsupportedFilter,
    native,
)
from index.indexer import Indexer
from index.local.bm25 import LexicalIndex
from index.local.datadir import DataDirLock, DataDirUnavailable, ReadOnlyDataDir, disk_full
from index.local.manifest import Manifest
from index.local.store import CorruptStore, PassageStore
from index.local.vectors import EF_SEARCH, HNSW_THRESHOLD, VectorIndex, resolve_index_type
from index.text.paragraphs import Paragraph

log = logging.getLogger(__name__)
FORMAT_VERSION = 4  # of the derived files; another version is rebuilt from the store


class CorpusIndex(Backend):
    """The local back end: one data directory (see the module docstring)."""

    def __init__(
        self,
        data_dir: Path,
        encoder: TextEncoder,
        index_type: str = "auto",
        hnsw_threshold: int = HNSW_THRESHOLD,
        ef_search: int = EF_SEARCH,
        shared: bool = False,
    ) -> None:
        """``index_type``: ``flat`` (exact), ``hnsw``, or ``auto``: exact below
        ``hnsw_threshold`` passages, HNSW from there on. ``shared``: open read-only beside the
        process that holds the directory (a server): no lock taken, nothing written; what
        that process has committed is read from the store."""
        self.data_dir = data_dir
        self.manifest = Manifest(data_dir)
        self.encoder = encoder
        self.requested_index_type = index_type
        self.hnsw_threshold = hnsw_threshold
        self.ef_search = ef_search
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirUnavailable(f"cannot create data directory {data_dir}: {exc.strerror}") from None
        store_path = data_dir / "store.sqlite3"
        self.read_only = shared or not os.access(data_dir, os.W_OK)
        self._dir_lock: DataDirLock | None = None
        if self.read_only:
            if not store_path.exists():
                raise DataDirUnavailable(
                    f"data directory {data_dir} is read-only and holds no index: build one in a "
                    "writable directory first (`qa index DIR --data-dir ...`)"
                )
            if shared:
                log.info("reading %s beside the process that holds it: read-only", data_dir)
            else:
                log.warning("data directory %s is read-only: serving it, writes are refused", data_dir)
        else:
            self._dir_lock = DataDirLock(data_dir)
        try:
            self.store = PassageStore(store_path, read_only=self.read_only, shared=shared)
        except CorruptStore as exc:
            self.close()
            raise DataDirUnavailable(
                f"{exc}: the passage store is the source of truth and cannot be rebuilt from the "
                "other files; restore it from a backup, or move the directory away and re-index"
            ) from None
        self._lock = threading.RLock()
        self.vectors = VectorIndex(encoder.dim, self._index_type(0), ef_search)
        self.lexical = LexicalIndex()
        self._unsaved = 0  # passages written or removed since the last snapshot
        self._load()

    def _index_type(self, size: int) -> str:
        return resolve_index_type(self.requested_index_type, size, self.hnsw_threshold)

    # --- opening and repair ------------------------------------------------------------
    def _load(self) -> None:
        manifest = self.manifest.read()
        model_changed = self.store.counts()[1] > 0 and (
            manifest.get("embedding_model") != self.encoder.name or manifest.get("dim") != self.encoder.dim
        )
        if model_changed and self.read_only:
            raise DataDirUnavailable(
                f"data directory {self.data_dir} was built with {manifest.get('embedding_model')}, "
                f"not {self.encoder.name}, and is read-only, so it cannot be re-embedded"
            )
        if model_changed:
            log.info(
                "embedding model changed (%s -> %s): re-embedding every passage",
                manifest.get("embedding_model"),
                self.encoder.name,
            )
            self._reembed_all()
        elif (
            manifest.get("format") == FORMAT_VERSION
            and self.manifest.matches_files(manifest)
            and self._try_load_derived()
        ):
            self._reconcile()
            return
        self._rebuild_derived()

    def _try_load_derived(self) -> bool:
        try:
            vectors = VectorIndex.load(self.data_dir / "vectors.faiss", self.ef_search)
            lexical = LexicalIndex.load(self.data_dir / "bm25")
        except (FileNotFoundError, RuntimeError, ValueError, OSError) as exc:
            log.warning("derived indexes unreadable (%s): rebuilding from the store", exc)
            return False
        n = self.store.counts()[1]
        if vectors.index_type != self._index_type(n) and self.requested_index_type != "auto":
            log.info("index type setting changed to %s: rebuilding", self.requested_index_type)
            return False
        if vectors.dim != self.encoder.dim:
            return False
        self.vectors, self.lexical = vectors, lexical
        return True

    def _reconcile(self) -> None:
        """Bring the loaded snapshot in step with the store (see the module docstring)."""
        with self._lock:
            stored = self.store.passage_ids()
            changed = 0
            for derived, name in ((self.vectors, "vectors"), (self.lexical, "BM25")):
                have = derived.ids()
                extra = np.setdiff1d(have, stored, assume_unique=True)
                missing = np.setdiff1d(stored, have, assume_unique=True)
                if not len(extra) and not len(missing):
                    continue
                log.info("%s snapshot: adding %d passages, removing %d", name, len(missing), len(extra))
                derived.remove(extra)
                if derived is self.vectors:
                    for ids, vecs in self.store.iter_vectors(only=missing):
                        self.vectors.add(ids, vecs)
                else:
                    rows = self.store.passages(missing.tolist())
                    self.lexical.add(missing, [rows[int(i)].text for i in missing])
                changed = max(changed, len(extra) + len(missing))
            self._unsaved += changed
            if self.lexical.needs_rebuild():
                self._rebuild_lexical()
            self._maybe_snapshot()

    def _rebuild_derived(self) -> None:
        """FAISS and BM25 from the store's vectors and texts; no embedding."""
        with self._lock:
            n = self.store.counts()[1]
            vectors = VectorIndex(self.encoder.dim, self._index_type(n), self.ef_search)
            for ids, vecs in self.store.iter_vectors():
                vectors.add(ids, vecs)
            self.vectors = vectors
            self._rebuild_lexical()
            self._save()

    def _rebuild_lexical(self) -> None:
        ids, texts = self.store.iter_texts()
        lexical = LexicalIndex()
        lexical.build(ids, texts)
        self.lexical = lexical

    def _reembed_all(self) -> None:
        docs = [self.store.get_document(d[0]) for d in self.store.list_documents()]
        Indexer(self, self.encoder).add([d for d in docs if d is not None], progress=True)

    def check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyDataDir(
                f"the data directory {self.data_dir} is read-only: documents cannot be added or deleted"
            )

    def snapshot_every(self) -> int:
        """Changed passages after which FAISS and BM25 are saved again."""
        return max(1000, len(self.vectors) // 10)

    def _maybe_snapshot(self) -> None:
        if self._unsaved >= self.snapshot_every():
            self._save()

    def _save(self) -> None:
        if self.read_only:
            return  # the derived indexes were rebuilt in memory; nothing can be written
        self._unsaved = 0
        self.vectors.save(self.data_dir / "vectors.faiss")
        self.lexical.save(self.data_dir / "bm25")
        manifest = {
            "format": FORMAT_VERSION,
            "embedding_model": self.encoder.name,
            "dim": self.encoder.dim,
            "index_type": self.vectors.index_type,
            "generation": self.store.generation,
            # Per corpus folder synced into this directory: the hash of its files.
            "corpora": {
                key.removeprefix("corpus_sha256:"): value
                for key, value in self.store.state_items("corpus_sha256:").items()
            },
        }
        self.manifest.write(manifest)

    # --- writes ------------------------------------------------------------------------
    def _put_all(self, docs: Sequence[Document], split: Sequence[list[Paragraph]], vecs: np.ndarray) -> None:
        """Store documents (replacing any with their ids) in one store transaction, so that
        a failure (a full disk, a kill) leaves all of them or none, each old version in
        place of its new one; then update FAISS and BM25 in memory."""
        with self._lock:
            dead = self.store.passage_ids([d.doc_id for d in docs])
            written = self.store.put_documents(docs, split, vecs)
            ids = np.array([i for part in written for i in part], dtype=np.int64)
            self.vectors.remove(dead)
            self.lexical.remove(dead)
            self.vectors.add(ids, vecs)
            self.lexical.add(ids, [p.text for paragraphs in split for p in paragraphs])
            self._unsaved += len(dead) + len(ids)

    def write(
        self,
        docs: Sequence[Document],
        split: Sequence[list[Paragraph]],
        vectors: np.ndarray,
        replace: bool = True,
    ) -> None:
        if not docs:
            return
        with self._lock:
            if not replace:  # checked under the lock, so two concurrent adds cannot both win
                for doc in docs:
                    if self.store.get_document(doc.doc_id) is not None:
                        raise DocumentExistsError(doc.doc_id)
            self._put_all(docs, split, vectors)
            if self.vectors.index_type == "flat" and self._index_type(len(self.vectors)) == "hnsw":
                log.info("%d passages: moving dense search to HNSW", len(self.vectors))
                self._rebuild_derived()  # from the stored vectors; saves
                return
            if self.lexical.needs_rebuild():
                self._rebuild_lexical()  # fold the pending passages into the main index
            self._maybe_snapshot()

    def delete(self, doc_id: str) -> bool:
        self.check_writable()
        with self._lock:
            if self.store.get_document(doc_id) is None:
                return False
            ids = np.array(self.store.delete_document(doc_id), dtype=np.int64)
            self.vectors.remove(ids)
            self.lexical.remove(ids)
            self._unsaved += len(ids)
            self._maybe_snapshot()
        return True

    # --- reads -------------------------------------------------------------------------
    def dense(self, vector: np.ndarray, k: int, where: Filter | None = None) -> list[Hit]:
        with self._lock:
            scores, ids = self.vectors.search(vector, k, native(where))
        return [Hit(int(i), float(s)) for s, i in zip(scores, ids, strict=True)]

    def sparse(self, query: str, k: int, where: Filter | None = None) -> list[Hit]:
        with self._lock:
            scores, ids = self.lexical.search(query, k, native(where))
        return [Hit(int(i), float(s)) for s, i in zip(scores, ids, strict=True)]

    def prefix_idf(self, terms: set[str]) -> dict[str, float]:
        """IDF over this corpus of ``prefix_terms`` (see ``LexicalIndex.prefix_idf``)."""
        with self._lock:
            return self.lexical.prefix_idf(terms)

    def passages(self, ids: Sequence[int]) -> dict[int, StoredPassage]:
        return self.store.passages(ids)

    def bind(self, where: Filter) -> Filter:
        """The passage ids the filter admits (an array, for FAISS and BM25)."""
        selected = set(where.doc_ids) if where.doc_ids else None
        if where.published:
            dated = self.store.doc_ids_published(where.published)
            selected = dated if selected is None else selected & dated
        if where.metadata:
            try:
                matching = set(self.store.doc_ids_with_metadata(dict(where.metadata)))
            except ValueError as exc:
                raise UnsupportedFilter(str(exc)) from None
            selected = matching if selected is None else selected & matching
        return replace(where, native=self.store.passage_ids(sorted(selected or [])))

    def vectors_at(self, keys: Sequence[tuple[str, int]]) -> list[np.ndarray | None]:
        return self.store.vectors_at(keys)

    def get_document(self, doc_id: str) -> Document | None:
        return self.store.get_document(doc_id)

    def list_documents(
        self, limit: int | None = None, after: str | None = None, order: str = "doc_id"
    ) -> list[DocumentRow]:
        return self.store.list_documents(limit, after, order)

    def article_fields(self, doc_ids: Sequence[str]) -> dict[str, DocumentRow]:
        return self.store.article_fields(doc_ids)

    def known_documents(self, doc_ids: Sequence[str]) -> set[str]:
        return self.store.known_documents(doc_ids)

    def passage_count(self, doc_id: str) -> int:
        return len(self.store.passage_ids([doc_id]))

    def counts(self) -> tuple[int, int]:
        return self.store.counts()

    def get_state(self, key: str) -> str | None:
        return self.store.get_state(key)

    def set_state(self, key: str, value: str) -> None:
        self.store.set_state(key, value)

    def iter_passages(self, batch: int = 1000) -> Iterator[list[StoredPassage]]:
        ids = self.store.passage_ids().tolist()
        for lo in range(0, len(ids), batch):
            found = self.store.passages(ids[lo : lo + batch])
            yield [found[i] for i in ids[lo : lo + batch] if i in found]

    def close(self) -> None:
        if hasattr(self, "store"):
            with self._lock:
                if self._unsaved and not self.read_only:
                    try:
                        self._save()
                    except OSError as exc:
                        if not disk_full(exc):
                            raise
                        # The store holds every write; the snapshot is derived from it.
                        log.warning(
                            "no space left on the disk holding %s: the index snapshot was not saved "
                            "(nothing is lost: it is rebuilt from the store at the next start)",
                            self.data_dir,
                        )
            self.store.close()
        if self._dir_lock is not None:
            self._dir_lock.release()
            self._dir_lock = None
