from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.local.vectors import VectorIndex, resolve_index_type


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute_force(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    scores = vectors @ query
    return ids[np.argsort(-scores, kind="stable")[:k]]


def test_flat_search_matches_numpy_brute_force() -> None:
    rng = np.random.default_rng(0)
    vectors, ids = _unit(rng, 500, 32), rng.choice(10**6, 500, replace=False).astype(np.int64)
    index = VectorIndex(32, "flat")
    index.add(ids, vectors)
    for query in _unit(rng, 20, 32):
        scores, found = index.search(query, 10)
        assert found.tolist() == _brute_force(ids, vectors, query, 10).tolist()
        np.testing.assert_allclose(scores, np.sort(vectors @ query)[::-1][:10], rtol=1e-5)


def test_filter_remove_and_reload_agree_with_brute_force(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    vectors, ids = _unit(rng, 300, 16), np.arange(1000, 1300, dtype=np.int64)
    index = VectorIndex(16, "flat")
    index.add(ids, vectors)
    allowed = ids[::7]
    query = _unit(rng, 1, 16)[0]
    _, found = index.search(query, 5, allowed=allowed)
    mask = np.isin(ids, allowed)
    assert found.tolist() == _brute_force(ids[mask], vectors[mask], query, 5).tolist()

    removed = ids[:100]
    assert index.remove(removed) == 100
    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss")
    assert len(loaded) == 200
    _, found = loaded.search(query, 10)
    assert found.tolist() == _brute_force(ids[100:], vectors[100:], query, 10).tolist()


def test_hnsw_recall_and_tombstones(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    vectors, ids = _unit(rng, 2000, 32), np.arange(2000, dtype=np.int64)
    index = VectorIndex(32, "hnsw")
    index.add(ids, vectors)
    index.remove(ids[:10])
    index.save(tmp_path / "h.faiss")
    index = VectorIndex.load(tmp_path / "h.faiss")
    recall = []
    for query in _unit(rng, 30, 32):
        _, found = index.search(query, 10)
        assert not set(found.tolist()) & set(range(10))
        truth = _brute_force(ids[10:], vectors[10:], query, 10)
        recall.append(len(set(found.tolist()) & set(truth.tolist())) / 10)
    assert np.mean(recall) >= 0.9


def test_index_type_by_size() -> None:
    assert resolve_index_type("auto", 100) == "flat"
    assert resolve_index_type("auto", 10**6) == "hnsw"
    assert resolve_index_type("flat", 10**6) == "flat"
    with pytest.raises(ValueError):
        resolve_index_type("ivf-magic", 1)
