"""Benchmark corpora: exact sizes, text the splitter keeps whole, composed vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from index.text.paragraphs import split_paragraphs
from qa.evaluation import benchdata
from qa.tools.bench import Row, StoredVectors, report

SENTENCES = [
    "The river flooded the northern valley in the spring of that year.",
    "Farmers moved their cattle to the hills above the old town.",
    "The council voted to build a new dam two years later.",
    "Engineers from the capital drew up plans for the project.",
    "Work began in the autumn and lasted for three long winters.",
]


def squad_file(tmp_path: Path, articles: int = 3, paragraphs: int = 4) -> Path:
    data = []
    for a in range(articles):
        paras = []
        for p in range(paragraphs):
            text = " ".join(f"{s[:-1]} (article {a}, part {p})." for s in SENTENCES)
            paras.append({"context": text, "qas": []})
        data.append({"title": f"Article {a}", "paragraphs": paras})
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"data": data}))
    return path


def test_corpus_has_exactly_its_size_and_splits_back(tmp_path: Path) -> None:
    pool = benchdata.real_paragraphs([squad_file(tmp_path)])
    # 12 originals, then 3- and 4-sentence windows of each (3 + 2 per paragraph).
    assert len(pool) == 12 + 12 * 5
    for size in (5, len(pool), len(pool) + 40):
        corpus = benchdata.build(pool, size)
        texts = [p.text for d in corpus.documents for p in split_paragraphs(d.text)]
        assert texts == corpus.texts and len(texts) == size
        assert corpus.real == min(size, len(pool)) and len(corpus.sources) == size - corpus.real
        assert len({d.doc_id for d in corpus.documents}) == len(corpus.documents)


def test_composed_vectors_are_unit_mixes_of_their_sources(tmp_path: Path) -> None:
    pool = benchdata.real_paragraphs([squad_file(tmp_path)])
    corpus = benchdata.build(pool, len(pool) + 30)
    rng = np.random.default_rng(0)
    real = rng.normal(size=(corpus.real, 8)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    mixed = benchdata.compose_vectors(real, corpus.sources)
    assert np.allclose(np.linalg.norm(mixed, axis=1), 1.0, atol=1e-5)
    a, b = corpus.sources[0]
    assert (mixed[0] @ real[a] > 0.5 and mixed[0] @ real[b] > 0.5) or a == b


def test_cached_vectors_are_computed_once(tmp_path: Path) -> None:
    calls = []

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return np.ones((len(texts), 4), dtype=np.float32)

    texts = [f"text {i}" for i in range(7)]
    first = benchdata.cached_vectors(tmp_path, texts, encode)
    again = benchdata.cached_vectors(tmp_path, texts, encode)
    assert calls == [7] and first.shape == (7, 4) and np.array_equal(first, again)
    stored = StoredVectors("m", texts, first * np.arange(7, dtype=np.float32)[:, None])
    assert stored.encode(["text 3"])[0].tolist() == [3.0] * 4


def test_report_has_one_row_per_corpus() -> None:
    row = Row("10k", passages=10_000, index_type="flat", build_embed=[40.0], build_stored=[900.0, 1000.0])
    row.latency["search HTTP"] = [(8.0, 12.0), (9.0, 11.0), (10.0, 30.0)]
    table = report([row], [], "Machine: test.", 2000)
    assert "| 10k | 10,000 | embedded | flat | 40 (first 2,000) | 950 | - | 9.0 / 12.0 |" in table
