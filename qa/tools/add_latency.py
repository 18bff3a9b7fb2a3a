"""How long adding one document takes as the corpus grows: the index's own work.

    python -m qa.tools.add_latency [--sizes 1000,10000,100000] [--adds 50]

Builds a data directory of N synthetic news-like passages (vectors from a stand-in encoder
of MiniLM's dimension, so FAISS does the same work; the model's own time is left out, as it
does not depend on the corpus), then adds ``--adds`` documents of 5 paragraphs one at a time
through ``CorpusIndex.add`` and prints p50, p95 and max per add (the max includes the
periodic snapshot of FAISS and BM25, and the folding of pending BM25 passages).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from index.backend import Document
from index.indexer import Indexer
from index.local.corpus_index import CorpusIndex

WORDS = [
    *[
        "border",
        "troops",
        "ferry",
        "river",
        "harbour",
        "committee",
        "crossing",
        "reservists",
        "officials",
        "trucks",
    ],
    *[
        "president",
        "minister",
        "province",
        "capital",
        "election",
        "council",
        "refugees",
        "talks",
        "ceasefire",
    ],
    *["airport", "bridge", "market"],
]


class RandomEncoder:
    """Unit vectors of MiniLM's dimension, seeded by the text: no model time."""

    name, dim = "random-384", 384

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        out = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(self.dim) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def document(rng: np.random.Generator, doc_id: str, paragraphs: int) -> Document:
    text = "\n\n".join(
        " ".join(rng.choice(WORDS, size=int(rng.integers(30, 60)))).capitalize() + "."
        for _ in range(paragraphs)
    )
    return Document(doc_id, doc_id, text)


def measure(size: int, adds: int, work: Path) -> dict[str, float]:
    rng = np.random.default_rng(size)
    index = CorpusIndex(work / f"n{size}", RandomEncoder())
    indexer = Indexer(index, index.encoder)
    batch = 500
    for lo in range(0, size // 10, batch):
        indexer.add([document(rng, f"d{i}", 10) for i in range(lo, min(size // 10, lo + batch))])
    times = []
    for i in range(adds):
        doc = document(rng, f"new{i}", 5)
        t0 = time.perf_counter()
        indexer.add([doc])
        times.append(1000 * (time.perf_counter() - t0))
    index.close()
    return {
        "passages": float(size),
        "p50_ms": float(np.percentile(times, 50)),
        "p95_ms": float(np.percentile(times, 95)),
        "max_ms": float(max(times)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--adds", type=int, default=50)
    args = parser.parse_args(argv)
    print("| passages | add p50 (ms) | p95 | max |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for size in (int(s) for s in args.sizes.split(",")):
            r = measure(size, args.adds, Path(work))
            print(f"| {size:,} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['max_ms']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
