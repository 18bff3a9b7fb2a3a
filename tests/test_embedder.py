"""Query embeddings under ONNX Runtime are the torch embeddings, and failures fall back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from index.embedder import Embedder

QUERIES = [
    "How many troops did Tajikistan mobilize?",
    "who",
    "Which base did American troops leave, and when did they leave it? " * 30,  # truncated
]


def test_onnx_queries_match_torch(embedder: Embedder) -> None:
    assert embedder.query_runtime == "onnx"
    for query in QUERIES:
        onnx = embedder.encode_query(query)
        torch = embedder.encode_fp32([query])[0]
        assert onnx.shape == (embedder.dim,) and onnx.dtype == np.float32
        assert np.abs(onnx - torch).max() < 1e-4
        # Passages may be embedded in bf16 where that pays: still the same direction.
        assert float(onnx @ embedder.encode([query])[0]) > 0.999
        assert abs(float(np.linalg.norm(onnx)) - 1.0) < 1e-5


def test_onnx_is_checked_against_fp32_even_where_passages_use_bf16(tmp_path: Path) -> None:
    bf16 = Embedder(onnx_dir=tmp_path, precision="bf16")
    assert bf16.precision == "bf16"
    assert bf16.query_runtime == "onnx"


def test_unusable_onnx_file_falls_back_to_torch(tmp_path: Path, embedder: Embedder) -> None:
    exported = next(embedder_models_dir(embedder).glob("*.onnx"))
    (tmp_path / exported.name).write_bytes(b"not a model")
    broken = Embedder(onnx_dir=tmp_path)
    assert broken.query_runtime == "torch"
    assert np.abs(broken.encode_query(QUERIES[0]) - embedder.encode_query(QUERIES[0])).max() < 1e-4


def embedder_models_dir(embedder: Embedder) -> Path:
    assert embedder._onnx is not None
    return embedder._onnx.path.parent


def test_a_query_prints_no_progress_bar(embedder: Embedder, capfd) -> None:
    embedder.encode_query("Who leads Tajikistan?")
    embedder.encode_fp32(["Who leads Tajikistan?"])
    assert "Batches" not in capfd.readouterr().err
