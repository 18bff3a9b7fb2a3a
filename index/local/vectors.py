"""FAISS inner-product index over normalized vectors, keyed by passage id.

Small interface (add, remove, search, save, load, count) and no model inside. Exact
(``Flat``) search by default; HNSW for large corpora, chosen by ``index_type`` or by size.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import faiss as _faiss
import numpy as np

faiss: Any = _faiss  # its SWIG stubs cover little of the API used here

HNSW_THRESHOLD = 50_000  # exact search over 50k x 384 floats takes ~5 ms on one core
EF_SEARCH = 96


def resolve_index_type(index_type: str, size: int, threshold: int = HNSW_THRESHOLD) -> str:
    if index_type == "auto":
        return "hnsw" if size >= threshold else "flat"
    if index_type not in ("flat", "hnsw"):
        raise ValueError(f"unknown index type {index_type!r} (auto, flat, hnsw)")
    return index_type


class VectorIndex:
    def __init__(self, dim: int, index_type: str = "flat", ef_search: int = EF_SEARCH) -> None:
        self.dim = dim
        self.index_type = index_type
        self.ef_search = ef_search
        if index_type == "hnsw":
            inner = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = 80
        else:
            inner = faiss.IndexFlatIP(dim)
        self._index = faiss.IndexIDMap2(inner)
        self._deleted: set[int] = set()  # HNSW tombstones: its graph cannot drop nodes

    def __len__(self) -> int:
        return int(self._index.ntotal) - len(self._deleted)

    def ids(self) -> np.ndarray:
        """Every live passage id."""
        stored: np.ndarray = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        if not self._deleted:
            return stored
        live: np.ndarray = stored[~np.isin(stored, np.fromiter(self._deleted, dtype=np.int64))]
        return live

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dim}), got {vectors.shape}")
        self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        if self.index_type == "hnsw":
            before = len(self._deleted)
            self._deleted.update(int(i) for i in ids)
            return len(self._deleted) - before
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
        return int(self._index.remove_ids(selector))

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) for one query vector; ``allowed`` restricts to those ids."""
        if len(self) == 0 or k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dim)
        params = None
        selector = None
        if allowed is not None:
            if len(allowed) == 0:
                return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
            if self._deleted:
                allowed = np.setdiff1d(allowed, np.fromiter(self._deleted, dtype=np.int64))
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        elif self._deleted:
            dead = faiss.IDSelectorBatch(np.fromiter(self._deleted, dtype=np.int64))
            selector = faiss.IDSelectorNot(dead)
            selector.keep_alive = dead  # the wrapper must not outlive the wrapped selector
        if self.index_type == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k))
            if selector is not None:
                params.sel = selector
        elif selector is not None:
            params = faiss.SearchParameters(sel=selector)
        scores, ids = self._index.search(q, min(k, max(len(self), 1)), params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves the previous file in place."""
        tmp = path.with_name(path.name + ".tmp")
        try:
            try:
                faiss.write_index(self._index, str(tmp))
            except RuntimeError as exc:  # FAISS reports I/O errors as RuntimeError
                if "No space left" in str(exc):
                    raise OSError(errno.ENOSPC, f"no space left on the disk holding {path.parent}") from None
                raise
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)  # only there when the write failed
        np.save(path.with_name(path.name + ".deleted.npy"), np.fromiter(self._deleted, dtype=np.int64))

    @classmethod
    def load(cls, path: Path, ef_search: int = EF_SEARCH) -> VectorIndex:
        index = faiss.read_index(str(path))
        inner = faiss.downcast_index(index.index)
        obj = cls.__new__(cls)
        obj.dim = index.d
        obj.ef_search = ef_search
        obj.index_type = "hnsw" if isinstance(inner, faiss.IndexHNSWFlat) else "flat"
        obj._index = index
        dead = path.with_name(path.name + ".deleted.npy")
        obj._deleted = set(np.load(dead, allow_pickle=False).tolist()) if dead.exists() else set()
        return obj
