"""The benchmark suite: corpus to answer, from the seed articles to a million paragraphs.

    python -m qa.tools.bench [--sizes seeds,10k,100k,1m] [--runs 3] [--out bench.md]

For each corpus size it measures, and prints as one Markdown table:

- index build throughput (paragraphs/s): *with embedding*, the product's whole write path
  (split, embed, store, FAISS, BM25, save) on the seeds, or on the first
  ``--embed-sample`` paragraphs of the larger corpora; and *from stored vectors*, the same
  path over the whole corpus with the embedder replaced by a lookup of vectors computed
  once (and cached in ``--cache``), which is what a rebuild or a re-index costs;
- ``search`` and ``ask`` latency p50/p99, in-process (``Engine``) and over HTTP (``qa serve``
  in a child process), with the query-embedding cache off so every query is embedded;
- throughput (requests/s) of ``/search`` and ``/ask`` with 1, 4 and 16 concurrent clients;
- the server's resident memory after the load.

and, for the approximate index, recall@10 against exact search with its latency.

Corpora past the seeds are real Wikipedia paragraphs from SQuAD (``qa.evaluation.benchdata``); the
1M point uses composed vectors for its synthetic paragraphs, and says so. Every figure is
the median over ``--runs`` runs (builds from stored vectors at 1M: ``--big-build-runs``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("qa.tools.bench")

SIZES = {"seeds": 0, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}
# Questions for the seed corpus (news about Afghanistan and Tajikistan, July 2021).
SEED_QUESTIONS = [
    "How many troops did Tajikistan mobilize?",
    "Who is the president of Tajikistan?",
    "Which base did American troops leave?",
    "What did the Kremlin say about Tajikistan?",
    "How many districts does the Taliban control?",
    "Where did Afghan soldiers flee to?",
    "Who is the national security adviser of Afghanistan?",
    "When will US forces leave Afghanistan?",
]
CLIENTS = (1, 4, 16)


@dataclass
class Row:
    corpus: str
    passages: int = 0
    vectors: str = "embedded"
    index_type: str = ""
    build_embed: list[float] = field(default_factory=list)
    build_stored: list[float] = field(default_factory=list)
    latency: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # name -> (p50, p99)
    throughput: dict[str, list[float]] = field(default_factory=dict)  # "search@4" -> req/s
    loaded_p99: dict[str, list[float]] = field(default_factory=dict)  # "ask@4" -> p99 ms under that load
    peer_failures: dict[int, str] = field(default_factory=dict)  # clients -> why the peer stopped answering
    rss_mb: list[float] = field(default_factory=list)


@dataclass
class Recall:
    passages: int
    vectors: str
    index: str
    recall: float
    p50_ms: float


class StoredVectors:
    """A stand-in for the embedder that returns vectors computed earlier, by text."""

    def __init__(self, name: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        self.name, self.dim = name, int(vectors.shape[1])
        self._row = {t: i for i, t in enumerate(texts)}
        self._vectors = vectors

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self._vectors[[self._row[t] for t in texts]]

    def row(self, text: str) -> int | None:
        return self._row.get(text)

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors


# --- measuring -------------------------------------------------------------------------
def percentiles(ms: Sequence[float]) -> tuple[float, float]:
    """(p50, p99) of latencies."""
    ordered = sorted(ms)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def timed_calls(fn: Callable[[str], object], questions: Sequence[str]) -> tuple[float, float]:
    ms = []
    for q in questions:
        t0 = time.perf_counter()
        fn(q)
        ms.append((time.perf_counter() - t0) * 1000)
    return percentiles(ms)


class Http:
    """One keep-alive connection to the service."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlparse(url)
        self._conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=300)

    def search(self, q: str) -> None:
        self._call("GET", "/search?" + urllib.parse.urlencode({"q": q, "k": 5}))

    def ask(self, q: str) -> None:
        self._call("POST", "/ask", {"question": q, "top_k": 5})

    def extract(self, q: str) -> None:
        """txtai's API: its Extractor over its own top passages. It answers 500 where our
        reader's best start or end is [CLS] (a TypeError inside txtai): that request was read
        all the same, and counts."""
        item = {"name": "q", "query": q, "question": q, "snippet": False}
        self._call("POST", "/extract", {"queue": [item]}, ok=(200, 500))

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | list[Any] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> None:
        headers = {"Content-Type": "application/json"}
        payload = json.dumps(body) if body else None
        try:
            self._conn.request(method, path, body=payload, headers=headers)
            response = self._conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            # The server closes keep-alive connections idle for 5 s; open a new one.
            self._conn.close()
            self._conn.request(method, path, body=payload, headers=headers)
            response = self._conn.getresponse()
        response.read()
        if response.status not in ok:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}")


def throughput(
    url: str, route: str, questions: Sequence[str], clients: int, seconds: float
) -> tuple[float, float]:
    """Completed requests per second with ``clients`` concurrent keep-alive clients, and the
    p99 of their latency (ms). ``route``: search, ask, or extract (txtai's API)."""
    ms: list[list[float]] = [[] for _ in range(clients)]
    failed: list[BaseException] = []
    deadline = time.perf_counter() + seconds

    def client(i: int) -> None:
        conn = Http(url)
        call = {"search": conn.search, "ask": conn.ask, "extract": conn.extract}[route]
        j = i
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                call(questions[j % len(questions)])
            except (OSError, RuntimeError, http.client.HTTPException) as exc:
                failed.append(exc)
                return
            ms[i].append((time.perf_counter() - t0) * 1000)
            j += clients

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise RuntimeError(f"{route} at {clients} clients: {failed[0]!r}")
    every = [m for mine in ms for m in mine]
    return len(every) / (time.perf_counter() - t0), percentiles(every)[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> str:
    import faiss
    import onnxruntime
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(
            int(line.split()[1]) / 2**20
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem = float("nan")
    from index.hardware import available_cores

    return (
        f"{cpu}, {available_cores()} cores, {mem:.0f} GiB; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, faiss {faiss.__version__}, "
        f"onnxruntime {onnxruntime.__version__}"
    )


# --- one corpus size -------------------------------------------------------------------
def seed_documents(corpus: Path) -> list[Any]:
    from index.indexer import document_from_file
    from index.text.corpus import corpus_source, read_corpus

    return [document_from_file(f, corpus_source(corpus)) for f in read_corpus(corpus)]


def build_index(data_dir: Path, encoder: object, documents: list[Any]) -> float:
    """Index ``documents`` into a fresh ``data_dir``; returns paragraphs/s."""
    from index.indexer import Indexer
    from index.local.corpus_index import CorpusIndex

    shutil.rmtree(data_dir, ignore_errors=True)
    t0 = time.perf_counter()
    index = CorpusIndex(data_dir, encoder)  # type: ignore[arg-type]
    Indexer(index, index.encoder).add(documents)
    elapsed = time.perf_counter() - t0
    n = index.counts()[1]
    index.close()
    return n / elapsed


def take_paragraphs(documents: list[Any], n: int) -> list[Any]:
    from index.text.paragraphs import split_paragraphs

    out, total = [], 0
    for doc in documents:
        if total >= n:
            break
        out.append(doc)
        total += len(split_paragraphs(doc.text))
    return out


def measure(
    args: argparse.Namespace, label: str, work: Path, embedder: object, real: tuple[Any, ...]
) -> tuple[Any, ...]:
    from qa.engine import Engine
    from qa.evaluation import benchdata
    from qa.settings import Settings

    size = SIZES[label]
    row = Row(label)
    recalls: list[Recall] = []
    data_dir = work / f"index-{label}"
    if size == 0:
        documents = seed_documents(args.seeds)
        questions = SEED_QUESTIONS
        for _ in range(args.runs):
            row.build_embed.append(build_index(data_dir, embedder, documents))
        stored = StoredVectors(embedder.name, *_vectors_of(data_dir))  # type: ignore[attr-defined]
    else:
        pool, vectors, questions = real
        corpus = benchdata.build(pool, size)
        sample = take_paragraphs(corpus.documents, args.embed_sample)
        for _ in range(args.runs):
            row.build_embed.append(build_index(work / "sample", embedder, sample))
        shutil.rmtree(work / "sample", ignore_errors=True)
        if corpus.real < len(corpus.texts):
            row.vectors = f"{corpus.real:,} embedded + {len(corpus.texts) - corpus.real:,} composed"
            vectors = np.concatenate(
                [vectors[: corpus.real], benchdata.compose_vectors(vectors, corpus.sources)]
            )
        stored = StoredVectors(embedder.name, corpus.texts, vectors)  # type: ignore[attr-defined]
        documents = corpus.documents
    runs = args.runs if size < 1_000_000 else args.big_build_runs
    for _ in range(runs):
        row.build_stored.append(build_index(data_dir, stored, documents))
        log.info("%s: built from stored vectors at %.0f paragraphs/s", label, row.build_stored[-1])

    settings = Settings(data_dir=data_dir, query_cache_size=0)
    engine = Engine(settings, embedder=embedder)  # type: ignore[arg-type]
    row.passages = engine.backend.counts()[1]
    row.index_type = engine.backend.vectors.index_type  # type: ignore[attr-defined]
    n_q = min(len(questions), args.queries)
    for run in range(args.runs):
        qs = _rotate(questions, run * n_q, n_q)
        row.latency.setdefault("search in-process", []).append(timed_calls(lambda q: engine.search(q, 5), qs))
        row.latency.setdefault("ask in-process", []).append(timed_calls(lambda q: engine.ask(q, 5), qs))
    if args.peer:
        peer = TxtaiSearch(engine, stored)
        for run in range(args.runs):
            qs = _rotate(questions, run * n_q, n_q)
            ours, theirs = interleaved(lambda q: engine.search(q, 5), lambda q: peer.search(q, 5), qs)
            row.latency.setdefault("search in-process, with txtai", []).append(ours)
            row.latency.setdefault("txtai search", []).append(theirs)
        extractor = TxtaiExtractor(peer, engine)
        default = TxtaiExtractor(peer, None)
        for run in range(args.runs):
            qs = _rotate(questions, run * n_q, n_q)
            ours, theirs = interleaved(lambda q: engine.ask(q, 5), extractor.ask, qs)
            row.latency.setdefault("ask in-process, with txtai", []).append(ours)
            row.latency.setdefault("txtai ask", []).append(theirs)
            ours, theirs = interleaved(lambda q: engine.ask(q, 5), default.ask, qs)
            row.latency.setdefault("ask in-process, with txtai's default", []).append(ours)
            row.latency.setdefault("txtai default ask", []).append(theirs)
        peer.close()
    if row.index_type == "hnsw":
        recalls = ann_recall(engine, questions[:200], row.passages, row.vectors)
    api_peer = args.peer and size < 100_000  # txtai's API indexes the passages itself
    texts = (
        [(f"{p.doc_id}#{p.paragraph}", p.text) for b in engine.backend.iter_passages() for p in b]
        if api_peer
        else []
    )
    engine.close()

    empty = work / "empty-corpus"
    empty.mkdir(exist_ok=True)
    proc, url = start_server(data_dir, args.seeds if size == 0 else empty)
    try:
        conn = Http(url)
        for q in questions[:5]:  # warm-up
            conn.ask(q)
        for run in range(args.runs):
            qs = _rotate(questions, run * n_q, n_q)
            row.latency.setdefault("search HTTP", []).append(timed_calls(conn.search, qs))
            row.latency.setdefault("ask HTTP", []).append(timed_calls(conn.ask, qs))
            for route in ("search", "ask"):
                for clients in CLIENTS:
                    rate, p99 = throughput(url, route, questions, clients, args.seconds)
                    row.throughput.setdefault(f"{route}@{clients}", []).append(rate)
                    row.loaded_p99.setdefault(f"{route}@{clients}", []).append(p99)
            row.rss_mb.append(rss_mb(proc.pid))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    if api_peer:
        try:
            peer_load(row, work / "txtai-api", texts, questions, args)
        except (OSError, RuntimeError) as exc:  # the rest of the row stands without it
            why = last_error(work / "txtai-api" / "server.log")
            log.warning("%s: txtai's API not measured: %s; its log: %s", label, exc, why)
    log.info("%s: %s", label, row)
    return row, recalls


def peer_load(
    row: Row, folder: Path, texts: list[tuple[str, str]], questions: Sequence[str], args: argparse.Namespace
) -> None:
    """txtai's API as its users run it (uvicorn, its Extractor over its own hybrid index of
    the same passages, our reader weights), loaded the way ours was, after ours. Where it
    stops answering under a load, the reason its log gives is recorded and it is restarted."""
    proc, url = start_txtai_server(folder, texts)
    try:
        conn = Http(url)
        for q in questions[:5]:  # warm-up
            conn.extract(q)
        for _ in range(args.runs):
            for clients in CLIENTS:
                try:
                    rate, p99 = throughput(url, "extract", questions, clients, args.seconds)
                except RuntimeError as exc:
                    row.peer_failures[clients] = f"{exc}; its log: {last_error(folder / 'server.log')}"
                    proc.kill()
                    proc.wait(timeout=60)
                    proc, url = start_txtai_server(folder, texts)
                    continue
                row.throughput.setdefault(f"txtai@{clients}", []).append(rate)
                row.loaded_p99.setdefault(f"txtai@{clients}", []).append(p99)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def last_error(path: Path) -> str:
    """The last exception line of a server's log (``Name: message``, not a 500 we expect)."""
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    found = [
        line.strip()
        for line in lines
        if re.match(r"^[\w.]+(Error|Exception): ", line.strip()) and "cannot be interpreted" not in line
    ]
    return found[-1] if found else "nothing"


def start_txtai_server(folder: Path, texts: list[tuple[str, str]]) -> tuple[subprocess.Popen, str]:
    """txtai's API (``txtai.api:app`` under uvicorn, one process) on a free loopback port,
    its index built through its own ``/add`` and ``/index``."""
    from index.embedder import bundled_model_dir
    from qa.settings import DEFAULT_READER
    from qa.tools.devserver import free_port

    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yml"  # JSON is YAML
    config.write_text(
        json.dumps(
            {
                "writable": True,
                "embeddings": {"path": str(bundled_model_dir()), "content": True, "hybrid": True},
                "extractor": {"path": str(DEFAULT_READER), "task": "question-answering"},
            }
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "uvicorn", "txtai.api:app", "--host", "127.0.0.1", "--port", str(port)]
    with open(folder / "server.log", "ab") as out:
        env = {**os.environ, "CONFIG": str(config), "HF_HUB_OFFLINE": "1"}
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/count", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"txtai's API did not start: see {folder / 'server.log'}") from None
                time.sleep(0.5)
        for lo in range(0, len(texts), 256):
            body = json.dumps([{"id": i, "text": t} for i, t in texts[lo : lo + 256]]).encode()
            request = urllib.request.Request(f"{url}/add", body, {"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=300).read()
        urllib.request.urlopen(f"{url}/index", timeout=600).read()
    except BaseException:
        proc.kill()
        raise
    return proc, url


class TxtaiSearch:
    """The peer: txtai 9 hybrid search (its dense index and its BM25 scoring, fused by txtai)
    over the same passages with the same MiniLM, as a txtai user builds it. Passage vectors
    are the ones our index stored (the same model; it saves embedding the corpus twice);
    queries are embedded by txtai's own path, sentence-transformers on torch."""

    def __init__(self, engine: object, stored: StoredVectors) -> None:
        from sentence_transformers import SentenceTransformer
        from txtai import Embeddings

        from index.embedder import bundled_model_dir, offline

        offline()
        model = SentenceTransformer(str(bundled_model_dir()), device="cpu")

        def transform(texts: list[str]) -> np.ndarray:
            rows = [stored.row(t) for t in texts]
            known = [r for r in rows if r is not None]
            if len(known) == len(rows):
                return stored.vectors[known]
            vectors = model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
            return np.asarray(vectors, dtype=np.float32)

        passages = [p for batch in engine.backend.iter_passages() for p in batch]  # type: ignore[attr-defined]
        self.embeddings = Embeddings(method="external", transform=transform, content=True, hybrid=True)
        t0 = time.perf_counter()
        self.embeddings.index((f"{p.doc_id}#{p.paragraph}", p.text, None) for p in passages)
        log.info("txtai: indexed %d passages in %.0f s", len(passages), time.perf_counter() - t0)

    def search(self, query: str, k: int) -> list[Any]:
        return list(self.embeddings.search(query, k))

    def close(self) -> None:
        self.embeddings.close()


class TxtaiExtractor:
    """The peer's reader: txtai's ``Extractor`` (its RAG pipeline with a question-answering
    model) with *our* reader weights. Given an ``engine``: the same passages our engine reads
    for the question (our retrieval, top 5), all of them as its context, ranked with the
    peer's embeddings and read glued into one input. Without: as txtai's users run it, its
    own hybrid search and its default context (its top 3 passages, glued)."""

    def __init__(self, peer: TxtaiSearch, engine: object | None, k: int = 5) -> None:
        from txtai.pipeline import Extractor

        from qa.settings import DEFAULT_READER

        self.engine, self.k, self.failed = engine, k, 0
        context = {"context": k} if engine is not None else {}
        self.extractor = Extractor(peer.embeddings, str(DEFAULT_READER), task="question-answering", **context)

    def ask(self, question: str) -> str:
        texts = None
        if self.engine is not None:
            texts = [p.text for p in self.engine.retrieve(question, self.k)]  # type: ignore[attr-defined]
        try:
            reply = self.extractor([(None, question, question, False)], texts)
        except TypeError:  # txtai fails when our reader's best start or end is [CLS]
            self.failed += 1
            return ""
        return str(reply[0][1] or "") if reply else ""


def interleaved(
    ours: Callable[[str], object], theirs: Callable[[str], object], questions: Sequence[str]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(p50, p99) of each, timed question by question in turn (ours first on even questions,
    theirs first on odd ones), so that both see the same machine state."""
    ms: tuple[list[float], list[float]] = ([], [])
    for i, q in enumerate(questions):
        order = ((0, ours), (1, theirs)) if i % 2 == 0 else ((1, theirs), (0, ours))
        for side, fn in order:
            t0 = time.perf_counter()
            fn(q)
            ms[side].append((time.perf_counter() - t0) * 1000)
    return percentiles(ms[0]), percentiles(ms[1])


def _vectors_of(data_dir: Path) -> tuple[list[str], np.ndarray]:
    """Texts and vectors of an index's passages, in the same order."""
    from index.local.store import PassageStore

    store = PassageStore(data_dir / "store.sqlite3")
    ids, texts = store.iter_texts()
    by_id = {
        int(i): v for batch_ids, batch in store.iter_vectors() for i, v in zip(batch_ids, batch, strict=True)
    }
    store.close()
    return list(texts), np.stack([by_id[int(i)] for i in ids])


def _rotate(items: Sequence[str], start: int, n: int) -> list[str]:
    return [items[(start + i) % len(items)] for i in range(n)]


def ann_recall(engine: object, questions: Sequence[str], passages: int, vectors: str) -> list[Recall]:
    """Recall@10 of the engine's HNSW index against exact search over the same vectors,
    and the dense search's p50 latency, at several search breadths."""
    from index.local.vectors import VectorIndex

    index = engine.backend  # type: ignore[attr-defined]
    queries = np.stack([engine.embedder.encode_query(q) for q in questions])  # type: ignore[attr-defined]
    exact = VectorIndex(index.vectors.dim, "flat")
    for ids, vecs in index.store.iter_vectors():
        exact.add(ids, vecs)
    truth, flat_ms = [], []
    for q in queries:
        t0 = time.perf_counter()
        truth.append(set(exact.search(q, 10)[1].tolist()))
        flat_ms.append((time.perf_counter() - t0) * 1000)
    out = [Recall(passages, vectors, "flat (exact)", 1.0, statistics.median(flat_ms))]
    hnsw = index.vectors
    default = hnsw.ef_search
    for ef in sorted({32, 64, default, 128, 256}):
        hnsw.ef_search = ef
        found, ms = 0, []
        for q, want in zip(queries, truth, strict=True):
            t0 = time.perf_counter()
            got = hnsw.search(q, 10)[1]
            ms.append((time.perf_counter() - t0) * 1000)
            found += len(want & set(got.tolist()))
        mark = " (default)" if ef == default else ""
        out.append(
            Recall(
                passages,
                vectors,
                f"HNSW M=32 ef={ef}{mark}",
                found / (10 * len(queries)),
                statistics.median(ms),
            )
        )
    hnsw.ef_search = default
    return out


def start_server(data_dir: Path, corpus: Path) -> tuple[subprocess.Popen, str]:
    from qa.tools.devserver import start_server as start

    return start(data_dir, corpus, QA_QUERY_CACHE_SIZE="0")


# --- report ----------------------------------------------------------------------------
def _med(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    return fmt.format(statistics.median(values)) if values else "-"


def _lat(pairs: Sequence[tuple[float, float]]) -> str:
    if not pairs:
        return "-"
    return f"{statistics.median(p for p, _ in pairs):.1f} / {statistics.median(q for _, q in pairs):.1f}"


def _peer_table(peers: list[Row], caption: str, keys: tuple[str, str], peer: str) -> list[str]:
    """Lines of one side-by-side table: our latency, the peer's, and their ratio at p50."""
    lines = [
        "",
        caption,
        "",
        f"| corpus | passages | ours p50/p99 (ms) | {peer} p50/p99 (ms) | ours / {peer} at p50 |",
        "|---|---|---|---|---|",
    ]
    for r in peers:
        ours, theirs = r.latency[keys[0]], r.latency[keys[1]]
        ratio = statistics.median(p for p, _ in ours) / statistics.median(p for p, _ in theirs)
        lines.append(f"| {r.corpus} | {r.passages:,} | {_lat(ours)} | {_lat(theirs)} | {ratio:.2f} |")
    return lines


def report(rows: list[Row], recalls: list[Recall], header: str, embed_sample: int) -> str:
    lines = [header, ""]
    lines.append(
        "| corpus | passages | vectors | index | build with embedding (para/s) | build from stored vectors "
        "(para/s) | search in-process p50/p99 (ms) | search HTTP p50/p99 | ask in-process p50/p99 | "
        "ask HTTP p50/p99 | /search req/s at 1/4/16 clients | /ask req/s at 1/4/16 | server RSS (MB) |"
    )
    lines.append("|" + "---|" * 13)
    for r in rows:
        rates = {
            route: " / ".join(_med(r.throughput.get(f"{route}@{c}", []), "{:.1f}") for c in CLIENTS)
            for route in ("search", "ask")
        }
        sample = "" if r.corpus == "seeds" else f" (first {embed_sample:,})"
        lines.append(
            f"| {r.corpus} | {r.passages:,} | {r.vectors} | {r.index_type} | {_med(r.build_embed)}{sample} | "
            f"{_med(r.build_stored)} | {_lat(r.latency.get('search in-process', []))} | "
            f"{_lat(r.latency.get('search HTTP', []))} | {_lat(r.latency.get('ask in-process', []))} | "
            f"{_lat(r.latency.get('ask HTTP', []))} | {rates['search']} | {rates['ask']} | {_med(r.rss_mb)} |"
        )
    peers = [r for r in rows if r.latency.get("txtai search")]
    if peers:
        lines += _peer_table(
            peers,
            "Side by side, one thread each, interleaved question by question in one process: our "
            "`Engine.search` (k=5) and txtai's hybrid `Embeddings.search` (k=5) over the same passages.",
            ("search in-process, with txtai", "txtai search"),
            "txtai",
        )
        lines += _peer_table(
            peers,
            "Asking, the same way: our `Engine.ask` (top_k=5) and txtai's `Extractor` with our reader "
            "weights, given the same 5 passages (our retrieval, timed on both sides) as its context.",
            ("ask in-process, with txtai", "txtai ask"),
            "txtai Extractor",
        )
        lines += _peer_table(
            peers,
            "Asking as each is run by default: our `Engine.ask` (top_k=5, with corroboration) and "
            "txtai's `Extractor` as its users run it (its own hybrid search, its default context: "
            "the top 3 passages glued into one input), our reader weights.",
            ("ask in-process, with txtai's default", "txtai default ask"),
            "txtai default",
        )
    loaded = [r for r in rows if r.throughput.get("txtai@1") or r.peer_failures]
    if loaded:
        lines += [
            "",
            "Under load over HTTP, each as it ships: `qa serve` (`/ask`, top_k=5) and txtai's API "
            "(uvicorn `txtai.api:app`, `/extract` over its own index of the same passages, our "
            "reader weights), one after the other, each loaded by the same keep-alive clients.",
            "",
            "| corpus | clients | ours req/s | ours p99 (ms) | txtai req/s | txtai p99 (ms) "
            "| ours / txtai req/s |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in loaded:
            for c in CLIENTS:
                ours, theirs = r.throughput.get(f"ask@{c}", []), r.throughput.get(f"txtai@{c}", [])
                ratio = (
                    f"{statistics.median(ours) / statistics.median(theirs):.2f}" if ours and theirs else "-"
                )
                peer = f"{_med(theirs, '{:.1f}')} | {_med(r.loaded_p99.get(f'txtai@{c}', []))}"
                if c in r.peer_failures:
                    peer = f"{peer} (stopped answering in a run)" if theirs else "stopped answering | -"
                lines.append(
                    f"| {r.corpus} | {c} | {_med(ours, '{:.1f}')} | {_med(r.loaded_p99.get(f'ask@{c}', []))} "
                    f"| {peer} | {ratio} |"
                )
            lines += ["", *(f"txtai at {c} clients: {why}" for c, why in sorted(r.peer_failures.items()))]
    if recalls:
        lines += [
            "",
            "| passages | vectors | dense index | recall@10 vs exact | dense search p50 (ms) |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {x.passages:,} | {x.vectors} | {x.index} | {x.recall:.3f} | {x.p50_ms:.2f} |" for x in recalls
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", default="seeds,10k,100k,1m", help=f"comma-separated, of {', '.join(SIZES)}"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (the median is reported)")
    parser.add_argument("--big-build-runs", type=int, default=1, help="builds at 1M paragraphs")
    parser.add_argument("--queries", type=int, default=40, help="questions per latency run")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each throughput run")
    parser.add_argument("--embed-sample", type=int, default=2000, help="paragraphs embedded per build run")
    parser.add_argument("--seeds", type=Path, default=Path("seeds"))
    parser.add_argument("--squad", type=Path, default=Path("../shared/data/squad"))
    parser.add_argument("--cache", type=Path, default=Path("data/bench"), help="embedded vectors, kept")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    parser.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="time txtai 9 hybrid search beside ours (default: when txtai is installed: "
        "pip install '.[peer]')",
    )
    args = parser.parse_args(argv)
    if args.peer is None:
        import importlib.util

        args.peer = importlib.util.find_spec("txtai") is not None
        if not args.peer:
            log.warning("txtai is not installed (pip install '.[peer]'): no peer column")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; use {', '.join(SIZES)}")

    from index.embedder import Embedder
    from index.hardware import set_threads
    from qa.evaluation import benchdata
    from qa.settings import Settings

    work = args.work or Path(tempfile.mkdtemp(prefix="qa-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=work)
    set_threads(settings.compute_threads())
    embedder = Embedder(onnx_dir=args.cache / "models", threads=settings.compute_threads())
    real: tuple[Any, ...] = ()
    files = [args.squad / "dev-v1.1-minus-xquad.json", args.squad / "train-v1.1.json"]
    missing = [f for f in files if not f.exists()]
    if missing and any(SIZES[s] for s in sizes):
        if "seeds" not in sizes:
            sys.exit(f"the larger corpora are built from SQuAD; missing {missing[0]} (--squad DIR)")
        log.warning("no SQuAD at %s (--squad DIR): measuring the seeds only", args.squad)
        sizes = ["seeds"]
    if any(SIZES[s] for s in sizes):
        pool = benchdata.real_paragraphs(files)[: benchdata.REAL_LIMIT]
        texts = [t for _, t in pool]
        log.info("embedding vectors for %d real paragraphs (once; cached in %s)", len(texts), args.cache)
        vectors = benchdata.cached_vectors(args.cache, texts, embedder.encode)
        from qa.reading.squad import load_squad

        questions = list(dict.fromkeys(e.question for e in load_squad(files[0])))
        real = (pool, vectors, questions)

    from index.hardware import bf16_speedup

    header = (
        f"Machine: {machine()}. bf16/fp32 speed on this CPU: {bf16_speedup():.2f}x, so the reader "
        f"and passage embeddings run in {embedder.precision}. Threads per model call: "
        f"{settings.compute_threads()}; query embeddings on {embedder.query_runtime}; query cache off. "
        f"Median of {args.runs} runs; {time.strftime('%Y-%m-%d')}."
    )
    rows, recalls = [], []
    for label in sizes:
        row, rec = measure(args, label, work, embedder, real)
        rows.append(row)
        recalls += rec
        table = report(rows, recalls, header, args.embed_sample)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(table)
    print(report(rows, recalls, header, args.embed_sample))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
