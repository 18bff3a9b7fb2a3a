"""Benchmark corpora of real text at any size, built from SQuAD's Wikipedia paragraphs.

SQuAD v1.1 (train and dev) holds about 20,700 distinct paragraphs. A corpus of ``n``
paragraphs takes, in this order, until it has ``n``:

1. the original paragraphs, dev articles first (so dev questions have their source);
2. windows of 3, then 4, consecutive sentences of each paragraph that has more sentences
   than the window: real, news-paragraph-sized text, about 95,000 more;
3. past the first 100,000 real paragraphs, *synthetic* ones: the first half of one real
   paragraph's sentences followed by the second half of another's. Their vectors are not
   embedded (a million would take many hours on 2 cores) but composed: the normalized sum
   of the two source paragraphs' real MiniLM vectors, which keeps them on the data's
   manifold, where approximate search behaves much as it does on real vectors.

Paragraphs are grouped into documents of up to ``DOC_PARAGRAPHS`` by article.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.backend import Document
from index.text.paragraphs import split_paragraphs

log = logging.getLogger(__name__)
DOC_PARAGRAPHS = 40
CHUNK = 5000
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"(])")


REAL_LIMIT = 100_000  # real paragraphs used (of ~115,000); past it, synthetic ones


@dataclass(frozen=True)
class BenchCorpus:
    documents: list[Document]
    texts: list[str]  # every paragraph, in document order: real ones first
    real: int  # how many of ``texts`` are real
    sources: np.ndarray  # (synthetic, 2): the two real paragraphs each synthetic one mixes


def _articles(squad_files: Iterable[Path]) -> list[tuple[str, list[str]]]:
    articles, seen = [], set()
    for path in squad_files:
        with open(path, encoding="utf-8") as fh:
            for article in json.load(fh)["data"]:
                paragraphs = [p["context"] for p in article["paragraphs"] if p["context"] not in seen]
                seen.update(paragraphs)
                if paragraphs:
                    articles.append((article["title"], paragraphs))
    return articles


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def real_paragraphs(squad_files: Iterable[Path]) -> list[tuple[str, str]]:
    """(article title, paragraph) pairs: the originals, then 3- and 4-sentence windows."""
    articles = _articles(squad_files)
    out = [(title, p) for title, paragraphs in articles for p in paragraphs]
    for width in (3, 4):
        for title, paragraphs in articles:
            for p in paragraphs:
                parts = sentences(p)
                if len(parts) > width:
                    out.extend((title, " ".join(parts[i : i + width])) for i in range(len(parts) - width + 1))
    # Only what the splitter keeps whole as one paragraph, so a corpus has exactly its size.
    return [(t, p) for t, p in out if [q.text for q in split_paragraphs(p)] == [p]]


def build(pool: list[tuple[str, str]], size: int, seed: int = 0) -> BenchCorpus:
    """``size`` paragraphs from ``real_paragraphs`` output, as documents (see the module
    docstring for where they come from)."""
    real = pool[: min(size, REAL_LIMIT)]
    rng = np.random.default_rng(seed)
    synthetic: list[tuple[str, str]] = []
    sources: list[tuple[int, int]] = []
    while real and len(real) + len(synthetic) < size:
        a, b = (int(x) for x in rng.integers(0, len(real), size=2))
        left, right = sentences(real[a][1]), sentences(real[b][1])
        text = " ".join(left[: max(1, len(left) // 2)] + right[len(right) // 2 :])
        if [p.text for p in split_paragraphs(text)] == [text]:  # kept whole by the splitter
            # One title per DOC_PARAGRAPHS, so that they group into documents like the rest.
            synthetic.append((f"Mixed {len(synthetic) // DOC_PARAGRAPHS}", text))
            sources.append((a, b))
    documents: list[Document] = []
    for kind, items in (("r", real), ("s", synthetic)):
        chunk: list[str] = []
        for i, (title, text) in enumerate(items):
            chunk.append(text)
            if i + 1 == len(items) or items[i + 1][0] != title or len(chunk) == DOC_PARAGRAPHS:
                body = "\n\n".join(chunk)
                digest = hashlib.sha256(body.encode()).hexdigest()
                documents.append(Document(f"{kind}{len(documents):07d}", title, body, {}, "bench", digest))
                chunk = []
    mixes = np.array(sources, dtype=np.int64).reshape(-1, 2)
    return BenchCorpus(documents, [text for _, text in real + synthetic], len(real), mixes)


def compose_vectors(real_vectors: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Vectors for synthetic paragraphs: the normalized sum of their two sources' vectors."""
    mixed = real_vectors[sources[:, 0]] + real_vectors[sources[:, 1]]
    return (mixed / np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def cached_vectors(
    cache_dir: Path, texts: list[str], encode: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """Embeddings of ``texts``, computed once in chunks (resumable) and kept in ``cache_dir``."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / f"vectors-{texts_key(texts)}.npy"
    if final.exists():
        return np.load(final, allow_pickle=False)
    parts = []
    for lo in range(0, len(texts), CHUNK):
        part = cache_dir / f"{final.stem}.part{lo // CHUNK:04d}.npy"
        if not part.exists():
            t0 = time.perf_counter()
            np.save(part, encode(texts[lo : lo + CHUNK]))
            rate = min(CHUNK, len(texts) - lo) / (time.perf_counter() - t0)
            log.info("embedded %d/%d paragraphs (%.0f/s)", min(lo + CHUNK, len(texts)), len(texts), rate)
        parts.append(part)
    vectors = np.concatenate([np.load(p, allow_pickle=False) for p in parts])
    np.save(final, vectors)
    for p in parts:
        p.unlink()
    return vectors


def texts_key(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for t in texts:
        digest.update(t.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]
