"""Measured inputs of the 500-million-paragraph sizing (docs/scaling.md).

    python -m qa.tools.sizing --squad ../shared/data/squad/dev-v1.1-minus-xquad.json \
        [--paragraphs 2000] [--queries 1000] [--out data/bench/sizing.md]

On SQuAD dev paragraphs (Wikipedia paragraphs of news-paragraph length) and their questions:

- embedding throughput of the passage model, per core and on every core, fp32 and the
  precision the start-up probe picks on this CPU;
- bytes per vector and recall@10 against exact search for fp32, scalar int8 and binary
  (sign bit per dimension, the top 4k re-scored with the fp32 vectors, as Qdrant's
  oversampling and rescoring do), measured with FAISS on the same vectors;
- BM25 terms and prefix terms per passage (the two sparse vectors' lengths) and payload
  bytes per passage, as the Qdrant back end writes it;
- the Qdrant back end in local mode: passages written per second and query latency.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.backend import Document
from index.embedder import Embedder
from index.qdrant.backend import passage_payload
from index.text.paragraphs import Paragraph
from index.text.terms import term_counts, term_positions


def load_squad(path: Path, paragraphs: int, queries: int) -> tuple[list[str], list[tuple[str, int]]]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    texts: list[str] = []
    questions: list[tuple[str, int]] = []
    for article in data:
        for para in article["paragraphs"]:
            if len(texts) == paragraphs:
                break
            texts.append(para["context"])
            questions += [(qa["question"], len(texts) - 1) for qa in para["qas"]]
    rng = np.random.default_rng(0)
    picked = rng.choice(len(questions), size=min(queries, len(questions)), replace=False)
    return texts, [questions[int(i)] for i in picked]


def throughput(texts: list[str], threads: int, precision: str) -> tuple[float, str]:
    """Paragraphs per second (after a warm-up batch) and the precision actually used."""
    embedder = Embedder(threads=threads, precision=precision)
    embedder.encode(texts[:32])
    t0 = time.perf_counter()
    embedder.encode(texts)
    return len(texts) / (time.perf_counter() - t0), embedder.precision


def index_bytes(index: Any, binary: bool = False) -> int:
    data = faiss.serialize_index_binary(index) if binary else faiss.serialize_index(index)
    return int(data.size)


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def quantization(vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> list[tuple[str, float, float]]:
    """(name, bytes per vector, recall@k against exact inner-product search)."""
    n, dim = vectors.shape
    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)
    truth = exact.search(queries, k)[1]
    rows = [("fp32", index_bytes(exact) / n, 1.0)]

    sq = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    sq.train(vectors)
    sq.add(vectors)
    rows.append(("int8 (scalar)", index_bytes(sq) / n, recall_at(sq.search(queries, k)[1], truth)))

    bits = faiss.IndexBinaryFlat(dim)
    bits.add(np.packbits(vectors > 0, axis=1))
    for oversample in (1, 4):
        candidates = bits.search(np.packbits(queries > 0, axis=1), oversample * k)[1]
        rescored = np.array(
            [c[np.argsort(-(vectors[c] @ q))][:k] for c, q in zip(candidates, queries, strict=True)]
        )
        name = "binary" if oversample == 1 else f"binary, top {oversample}k re-scored"
        rows.append((name, index_bytes(bits, binary=True) / n, recall_at(rescored, truth)))
    return rows


def qdrant_local(
    texts: list[str], vectors: np.ndarray, questions: list[str], encoder: Embedder
) -> dict[str, Any]:
    from index.qdrant.backend import QdrantBackend

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        backend = QdrantBackend.open(encoder, path=Path(tmp) / "qdrant")
        docs = [Document(f"p{i}", "", t, {}, "api", "") for i, t in enumerate(texts)]
        split = [[Paragraph(0, len(t), t)] for t in texts]
        t0 = time.perf_counter()
        for lo in range(0, len(docs), 500):
            backend.write(docs[lo : lo + 500], split[lo : lo + 500], vectors[lo : lo + 500])
        out["write passages/s"] = len(docs) / (time.perf_counter() - t0)
        for name, search in (
            ("dense p50 ms", lambda q: backend.dense(encoder.encode_query(q), 50)),
            ("sparse p50 ms", lambda q: backend.sparse(q, 50)),
        ):
            times = []
            for q in questions[:200]:
                t0 = time.perf_counter()
                search(q)
                times.append((time.perf_counter() - t0) * 1000)
            out[name] = statistics.median(times)
        backend.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--squad", type=Path, required=True)
    parser.add_argument("--paragraphs", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("data/bench/sizing.md"))
    parser.add_argument("--models", type=Path, default=Path("data/models"), help="ONNX query encoder cache")
    args = parser.parse_args(argv)

    texts, asked = load_squad(args.squad, args.paragraphs, args.queries)
    sample = texts[:256]
    lines = [f"# Sizing inputs ({len(texts):,} SQuAD dev paragraphs, {len(asked):,} questions)", ""]
    lines += ["| Passage embeddings | paragraphs/s |", "|---|---:|"]
    # One core (torch's thread count is per process, so a second setting would not hold).
    for precision in ("fp32", "auto"):
        rate, used = throughput(sample, 1, precision)
        lines.append(f"| 1 core, {used} ({precision}) | {rate:.1f} |")
        print(lines[-1], flush=True)

    encoder = Embedder(threads=0, onnx_dir=args.models)
    vectors = encoder.encode(texts)
    times = []
    for q, _ in asked:
        t0 = time.perf_counter()
        encoder.encode_query(q)
        times.append((time.perf_counter() - t0) * 1000)
    queries = np.stack([encoder.encode_query(q) for q, _ in asked])
    lines += [
        "",
        f"Query embedding ({encoder.query_runtime}, every core): p50 {statistics.median(times):.1f} ms",
    ]
    lines += ["", "| Vectors (MiniLM, 384-d) | bytes/vector | recall@10 vs exact |", "|---|---:|---:|"]
    for name, size, recall in quantization(vectors, queries):
        lines.append(f"| {name} | {size:.0f} | {recall:.3f} |")
        print(lines[-1], flush=True)

    counts = term_counts(texts)
    terms = [len(tf) for tf, _ in counts]
    # As the Qdrant back end writes it (its own function), a 20-character doc_id, a dated
    # document without metadata.
    doc = Document("x" * 20, "", "", published="2021-07-05")
    positions = [term_positions(t) for t in texts]
    payload = [
        len(json.dumps(passage_payload(doc, "0" * 16, 1, Paragraph(0, len(t), t), pos)).encode())
        for t, pos in zip(texts, positions, strict=True)
    ]
    prefixes = [len(pos) for pos in positions]
    lines += [
        "",
        "| Per passage | mean | p95 |",
        "|---|---:|---:|",
        f"| BM25 terms (sparse vector entries) | {np.mean(terms):.1f} | {np.percentile(terms, 95):.0f} |",
        f"| prefix terms (`prefix` sparse vector entries) | {np.mean(prefixes):.1f} | "
        f"{np.percentile(prefixes, 95):.0f} |",
        f"| text bytes (UTF-8) | {np.mean([len(t.encode()) for t in texts]):.0f} | "
        f"{np.percentile([len(t.encode()) for t in texts], 95):.0f} |",
        f"| payload bytes (JSON as stored, 20-char doc_id) | {np.mean(payload):.0f} | "
        f"{np.percentile(payload, 95):.0f} |",
    ]
    print("\n".join(lines[-3:]), flush=True)

    local = qdrant_local(texts, vectors, [q for q, _ in asked], encoder)
    lines += [
        "",
        f"| Qdrant local mode, {len(texts):,} passages | value |",
        "|---|---:|",
        f"| passages written/s (dense + sparse + payload, wait=True) | {local['write passages/s']:.0f} |",
        f"| dense query p50 (ms, incl. query embedding) | {local['dense p50 ms']:.1f} |",
        f"| sparse query p50 (ms) | {local['sparse p50 ms']:.1f} |",
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
