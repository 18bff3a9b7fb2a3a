"""The store's behaviour, the same on every back end: local (FAISS + BM25 + SQLite) and
Qdrant (local mode in a temporary folder, the same client calls a cluster gets).

Each test runs once per back end through ``Engine``, the interface every user (HTTP, CLI,
library) goes through.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import string
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from index.embedder import Embedder
from index.errors import BackendUnavailable
from index.indexer import Indexer, document_from_file
from index.qdrant.listing import ID_FIELDS
from index.text.article import published_ts
from index.text.formats import read_document
from index.text.paragraphs import split_paragraphs
from index.text.terms import prefix_terms
from qa.client import Client
from qa.engine import Engine
from qa.errors import DocumentExists, DocumentNotFound, InvalidDocument, InvalidRequest
from qa.settings import Settings
from tests.conftest import SEEDS, SHARED, running_server, serving

BACKENDS = ["local", "qdrant"]
SENTENCE = "Tajikistan called up 20,000 reservists along the Afghan border on Thursday morning."
MakeEngine = Callable[..., Engine]


# A real cluster to run the suite against instead of local mode (docs/scaling.md).
CLUSTER = os.environ.get("QA_TEST_QDRANT_URL")


def backend_settings(backend: str, root: Path, **overrides: Any) -> Settings:
    """Settings of a fresh store on ``backend``, private to ``root`` (a test's folder)."""
    if backend == "qdrant":
        pytest.importorskip("qdrant_client", reason="the Qdrant back end needs pip install '.[scale]'")
        if CLUSTER:
            where = {
                "qdrant_url": CLUSTER,
                "qdrant_api_key": os.environ.get("QA_TEST_QDRANT_API_KEY"),
                "qdrant_collection": "test" + hashlib.sha1(str(root).encode()).hexdigest()[:12],
            }
        else:
            where = {"qdrant_path": root / "qdrant"}
        overrides = {"backend": "qdrant", **where, **overrides}
    return Settings(data_dir=root / "data", **overrides)


def drop_test_collections(settings: Settings) -> None:
    if not CLUSTER or settings.backend != "qdrant":
        return
    from qdrant_client import QdrantClient

    client = QdrantClient(url=CLUSTER, api_key=settings.qdrant_api_key)
    for collection in client.get_collections().collections:
        if collection.name.startswith(settings.qdrant_collection + "_"):
            client.delete_collection(collection.name)
    client.close()


@pytest.fixture(params=BACKENDS)
def make(request: pytest.FixtureRequest, tmp_path: Path, embedder: Embedder) -> MakeEngine:
    """Engines on one back end over one private store; closing and calling again reopens it."""
    opened: list[Engine] = []

    def open_engine(encoder: Any = None, **overrides: Any) -> Engine:
        overrides.setdefault("reader", False)
        engine = Engine(backend_settings(request.param, tmp_path, **overrides), embedder=encoder or embedder)
        opened.append(engine)
        return engine

    yield open_engine
    for engine in opened:
        engine.close()
    if opened:
        drop_test_collections(opened[0].settings)


@pytest.fixture(params=[*BACKENDS, "client"])
def reach(request: pytest.FixtureRequest, tmp_path: Path, embedder: Embedder) -> Iterator[Callable[[], Any]]:
    """A fresh, empty store as a user reaches it: ``Engine`` on either back end, or
    ``qa.Client`` against a live HTTP server over a local engine. A behaviour test over
    ``reach`` holds for the library, for each store and for the service alike."""
    with ExitStack() as stack:

        def open_store() -> Any:
            kind = "local" if request.param == "client" else request.param
            engine = Engine(backend_settings(kind, tmp_path, reader=False), embedder=embedder)
            stack.callback(engine.close)
            if kind == "qdrant":
                stack.callback(drop_test_collections, engine.settings)
            if request.param != "client":
                return engine
            return stack.enter_context(Client(stack.enter_context(serving(engine)), timeout=60))

        yield open_store


def seed_paragraphs() -> dict[str, list[str]]:
    """Each seed's passages as stored: its paragraphs and its headline."""
    out = {}
    for f in sorted(SEEDS.glob("*.txt")):
        doc = document_from_file(read_document(f.name, f.read_bytes())[0], "corpus")
        out[f.stem] = [p.text for p in split_paragraphs(doc.text, title=doc.title)]
    return out


def test_sync_indexes_every_paragraph_with_exact_offsets(make: MakeEngine) -> None:
    engine = make()
    assert engine.sync(SEEDS, progress=False) == (5, 0)
    expected = seed_paragraphs()
    health = engine.health()
    assert (health.documents, health.passages) == (5, sum(len(p) for p in expected.values()))
    assert [d.doc_id for d in engine.documents(sort="doc_id")] == sorted(expected)
    assert [d.passages for d in engine.documents(sort="doc_id")] == [
        len(expected[d]) for d in sorted(expected)
    ]
    texts = {d: engine.document(d).text for d in expected}
    for passage in engine.search("Afghan troops fled into Tajikistan", k=10).passages:
        assert texts[passage.doc_id][passage.start : passage.end] == passage.text
    assert engine.sync(SEEDS, progress=False) == (0, 0)


def test_each_paragraph_is_found_by_its_own_words(make: MakeEngine) -> None:
    """Search quality on the seeds: a paragraph's first sentence finds that paragraph (or
    one of the seeds' near-copies of it, which other articles quote word for word) first."""
    engine = make()
    engine.sync(SEEDS, progress=False)
    tried = found = 0
    for paragraphs in seed_paragraphs().values():
        for text in paragraphs:
            sentence = text.split(". ")[0][:300]
            if len(sentence.split()) < 8:
                continue
            tried += 1
            found += sentence in engine.search(sentence, k=1).passages[0].text
    assert tried > 40 and found / tried >= 0.95, (found, tried)


def test_add_replace_and_delete(reach: Callable[[], Any]) -> None:
    engine = reach()
    first = "The harbour of Velmora reopened on Monday after the storm. " * 2
    second = "Velmora's mayor, Ilse Brandt, said the repairs cost 4 million euros this spring."
    assert engine.add("port", first + "\n\n" + second, metadata={"desk": "europe"}) == 2
    with pytest.raises(DocumentExists):
        engine.add("port", "Another text entirely, long enough to be a paragraph here.")
    hit = engine.search("How much did the repairs in Velmora cost?", k=1).passages[0]
    assert (hit.doc_id, hit.paragraph, hit.text) == ("port", 1, second)
    assert engine.document("port").metadata == {"desk": "europe"}

    replaced = "The airport of Velmora closed on Tuesday because of the fog over the coast."
    assert engine.add("port", replaced, replace=True) == 1
    assert engine.document("port").text == replaced
    assert [d.passages for d in engine.documents()] == [1]
    hits = engine.search("repairs cost 4 million euros", k=5).passages
    assert [(h.doc_id, h.paragraph, h.text) for h in hits] == [("port", 0, replaced)]

    engine.delete("port")
    assert engine.health().documents == engine.health().passages == 0
    assert engine.search("Velmora airport fog", k=5).passages == []
    with pytest.raises(DocumentNotFound):
        engine.document("port")
    with pytest.raises(DocumentNotFound):
        engine.delete("port")


def test_filters_by_doc_id_and_metadata(make: MakeEngine) -> None:
    engine = make()
    engine.sync(SEEDS, progress=False)
    engine.add(
        "asia-1",
        "Tajikistan mobilized reservists along the Afghan border this week.",
        metadata={"desk": "asia"},
    )
    engine.add(
        "asia-2",
        "Tajik troops held drills near the Afghan border on Thursday morning.",
        metadata={"desk": "asia", "year": 2021},
    )
    query = "Tajikistan troops at the Afghan border"
    only = engine.search(query, k=10, doc_ids=["004_0b86c02cdc35424d"]).passages
    assert only and {p.doc_id for p in only} == {"004_0b86c02cdc35424d"}
    asia = engine.search(query, k=10, metadata={"desk": "asia"}).passages
    assert {p.doc_id for p in asia} == {"asia-1", "asia-2"}
    assert {p.doc_id for p in engine.search(query, k=10, metadata={"year": 2021}).passages} == {"asia-2"}
    assert engine.search(query, k=10, metadata={"desk": "sports"}).passages == []
    both = engine.search(query, k=10, doc_ids=["asia-1", "000_a764001855818956"], metadata={"desk": "asia"})
    assert {p.doc_id for p in both.passages} == {"asia-1"}
    with pytest.raises(DocumentNotFound):
        engine.search(query, doc_ids=["no-such-document"])


def test_filters_mean_the_same_on_every_back_end(reach: Callable[[], Any]) -> None:
    """One semantics (README "Metadata filters"): JSON equality, booleans apart from numbers,
    null only where a key holds null, a scalar matches a list that holds it, and a list or
    object as the filter value is refused."""
    engine = reach()
    text = "The harbour authority of Velmora said the ferry resumed on {} morning."
    docs = {
        "one": {"flag": 1, "tags": ["asia", "politics"], "k": None},
        "true": {"flag": True, "tags": "asia"},
        "none": {"other": "x"},
    }
    for i, (doc_id, metadata) in enumerate(docs.items()):
        engine.add(doc_id, text.format(["Monday", "Tuesday", "Sunday"][i]), metadata=metadata)

    def matching(**metadata: Any) -> set[str]:
        return {
            p.doc_id
            for p in engine.search("When did the Velmora ferry resume?", k=10, metadata=metadata).passages
        }

    assert matching(flag=True) == {"true"}
    assert matching(flag=1) == {"one"}
    assert matching(tags="asia") == {"one", "true"}
    assert matching(tags="politics") == {"one"}
    assert matching(k=None) == {"one"}  # an explicit null, not a missing key
    with pytest.raises(InvalidRequest):
        engine.search("ferry", metadata={"tags": ["asia"]})


def test_documents_are_paged_by_doc_id(make: MakeEngine) -> None:
    engine = make()
    engine.sync(SEEDS, progress=False)
    everything = [d.doc_id for d in engine.documents(sort="doc_id")]
    pages: list[str] = []
    after = None
    while page := engine.documents(limit=2, after=after, sort="doc_id"):
        pages += [d.doc_id for d in page]
        after = page[-1].doc_id
    assert pages == everything == sorted(everything)
    with pytest.raises(InvalidRequest):
        engine.documents(limit=0)


def test_everything_survives_a_reopen(make: MakeEngine) -> None:
    engine = make()
    engine.sync(SEEDS, progress=False)
    engine.add(
        "note", "A short note about the Velmora harbour, written for this test only.", metadata={"k": "v"}
    )
    question = "Who leads the Taliban delegation?"
    before = [(p.doc_id, p.paragraph, p.score) for p in engine.search(question, k=5).passages]
    counts = engine.health()
    engine.close()

    reopened = make()
    assert reopened.health() == counts
    assert [(p.doc_id, p.paragraph, p.score) for p in reopened.search(question, k=5).passages] == before
    assert reopened.document("note").metadata == {"k": "v"}
    assert reopened.sync(SEEDS, progress=False) == (0, 0)  # nothing re-embedded


class Renamed:
    """The same model under another name: what a changed embedding model looks like."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self.name = inner.name + "-renamed"
        self.dim = inner.dim

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_new_embedding_model_reembeds_every_document(make: MakeEngine, embedder: Embedder) -> None:
    engine = make()
    engine.sync(SEEDS, progress=False)
    engine.add("note", "A short note about the Velmora harbour, written for this test only.")
    counts = engine.health()
    engine.close()
    renamed = Renamed(embedder)
    reopened = make(encoder=renamed)
    assert reopened.backend.wait_prepared(120)
    assert reopened.health() == counts
    assert reopened.search("Velmora harbour note", k=1).passages[0].doc_id == "note"


class Gated(Renamed):
    """A changed model whose passage embedding waits for the test to let it go."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.release = threading.Event()

    def encode(self, texts: list[str], progress: bool = False) -> Any:
        assert self.release.wait(60), "the test never let the re-embedding go"
        return self._inner.encode(texts, progress=progress)


def test_a_model_change_on_qdrant_re_embeds_in_the_background_and_says_so(
    tmp_path: Path, embedder: Embedder
) -> None:
    """The service starts at once; until every document is embedded for the new model,
    questions get 503 with the reason and progress (never answers from a part of the
    corpus), /health says it is preparing, and writes go on."""
    settings = backend_settings("qdrant", tmp_path, reader=False)
    engine = Engine(settings, embedder=embedder)
    engine.sync(SEEDS, progress=False)
    counts = engine.health()
    engine.close()
    gated = Gated(embedder)
    started = time.monotonic()
    reopened = Engine(settings, embedder=gated)
    try:
        assert time.monotonic() - started < 30  # not held up by the re-embedding
        client = TestClient(create_app(reopened))
        health = client.get("/health").json()
        assert health["status"] == "preparing" and not health["ready"]
        assert "re-embedded for the embedding model" in health["preparing"]
        reply = client.get("/search", params={"q": "How many troops did Tajikistan mobilize?"})
        assert reply.status_code == 503 and reply.headers["Retry-After"]
        assert "re-embedded" in reply.json()["detail"]
        gated.release.set()
        assert reopened.backend.wait_prepared(120)
        assert reopened.health() == counts
        reply = client.get("/search", params={"q": "How many troops did Tajikistan mobilize?", "k": 1})
        assert reply.status_code == 200 and reply.json()["passages"][0]["doc_id"] == "003_9e887223774c4d77"
    finally:
        gated.release.set()
        reopened.close()
        drop_test_collections(settings)


def test_the_http_contract_is_the_same(make: MakeEngine) -> None:
    engine = make()
    engine.sync(SEEDS, progress=False)
    client = TestClient(create_app(engine))
    reply = client.get("/search", params={"q": "Afghan troops fled into Tajikistan", "k": 3})
    assert reply.status_code == 200 and len(reply.json()["passages"]) == 3
    assert client.post("/documents", json={"doc_id": "x", "text": "Too short."}).status_code in (200, 201)
    assert client.get("/documents/x").json()["text"] == "Too short."
    assert client.delete("/documents/x").status_code in (200, 204)
    assert client.get("/documents/x").status_code == 404
    client.post("/documents", json={"doc_id": "y", "text": SENTENCE, "metadata": {"desk": "asia"}})
    found = client.get("/search", params={"q": "Tajik reservists", "meta": "desk=asia"}).json()
    assert [p["doc_id"] for p in found["passages"]] == ["y"]
    # A filter one back end cannot express is a 400 there, never a 500.
    odd = client.get("/search", params={"q": "Tajik reservists", "meta": "a.b[0]=x"})
    assert odd.status_code in (200, 400), odd.text


@pytest.fixture(scope="module")
def answering(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> dict[str, Engine]:
    """One engine with the reader per back end, over the seeds."""
    engines = {}
    for backend in BACKENDS:
        settings = backend_settings(backend, tmp_path_factory.mktemp(backend), corpus=SEEDS)
        engines[backend] = Engine(settings, embedder=embedder)
    yield engines
    for engine in engines.values():
        engine.close()
        drop_test_collections(engine.settings)


def answers(engine: Engine, question: str) -> list[tuple[str, str, int, int]]:
    return [
        (a.text, c.doc_id, c.start, c.end)
        for a in engine.ask(question, top_k=5).answers
        for c in a.citations[:1]
    ]


def test_an_ask_on_qdrant_makes_few_round_trips(answering: dict[str, Engine]) -> None:
    """Every call to the store is a round trip (fanned out to every shard on a cluster): the
    candidates of a question, or of a whole batch, are one request, which also reads the
    IDF of the question's terms (no count per term, cache cold or warm); the document records
    a question needs are read once."""
    import collections

    engine = answering["qdrant"]
    client = engine.backend.client  # type: ignore[attr-defined]
    calls: collections.Counter[str] = collections.Counter()
    originals = {}
    for name in ("query_points", "query_batch_points", "retrieve", "scroll", "count"):
        originals[name] = getattr(client, name)

        def counted(*args: Any, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] += 1
            return originals[_name](*args, **kwargs)

        setattr(client, name, counted)
    try:
        engine.backend._statistics_changed()  # type: ignore[attr-defined]  # a cold replica
        # One request for the question's candidates and its terms' IDF, one for the
        # corroborating look-up of the answer; no count.
        engine.ask("How many troops did Tajikistan mobilize?")
        assert calls["query_batch_points"] == 2 and calls["count"] == calls["query_points"] == 0, dict(calls)
        time.sleep(2.1)  # records are read afresh
        calls.clear()
        engine.ask("How many troops did Tajikistan mobilize?")
        assert calls["query_batch_points"] == 2 and calls["count"] == 0
        assert sum(calls.values()) <= 7, dict(calls)  # 11 before
        calls.clear()
        questions = ["How many troops did Tajikistan mobilize?", "Who is the president of Tajikistan?"]
        engine.ask_batch(questions * 2)
        candidates = [c for c in calls.elements() if c == "query_batch_points"]
        assert len(candidates) <= 1 + 4, dict(calls)  # one for the four questions' candidates
    finally:
        for name, original in originals.items():
            setattr(client, name, original)


def test_both_back_ends_weigh_question_terms_alike(answering: dict[str, Engine]) -> None:
    """The reader's term weights (IDF of prefix terms over the passages) are the same
    whichever store keeps the statistics, for terms the corpus holds and one it never uses."""
    terms = set(prefix_terms("How many troops did Tajikistan mobilize at the Afghan border?"))
    terms.add("zzzqx")
    local, qdrant = (answering[b].backend.prefix_idf(terms) for b in BACKENDS)
    assert local.keys() == qdrant.keys() == terms
    for term in terms:
        assert qdrant[term] == pytest.approx(local[term], rel=1e-4), term
    assert qdrant["zzzqx"] > max(w for t, w in qdrant.items() if t != "zzzqx")


def test_both_back_ends_give_the_same_answers(answering: dict[str, Engine]) -> None:
    """Questions written for this test (not the evaluation set) over the seeds."""
    questions = [
        "How many troops did Tajikistan mobilize?",
        "Who is the president of Afghanistan?",
        "Which base did American troops leave?",
        "What did the Taliban say about the border?",
    ]
    for question in questions:
        local, qdrant = (answers(answering[b], question) for b in BACKENDS)
        assert local[:1] == qdrant[:1], question  # the same answer, or both abstain
        if question == questions[0]:
            assert local, question


@pytest.mark.skipif(not (SHARED / "eval" / "dev_qa.jsonl").exists(), reason="needs ../shared/eval")
def test_both_back_ends_answer_the_smoke_questions_alike(answering: dict[str, Engine]) -> None:
    lines = (SHARED / "eval" / "dev_qa.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    differ = [
        q for q in questions if answers(answering["local"], q)[:1] != answers(answering["qdrant"], q)[:1]
    ]
    assert not differ, differ


@pytest.mark.slow
def test_qa_serve_on_qdrant_answers_like_the_local_back_end(tmp_path: Path, seed_engine: Engine) -> None:
    pytest.importorskip("qdrant_client", reason="the Qdrant back end needs pip install '.[scale]'")
    question = {"question": "How many troops did Tajikistan mobilize?", "top_k": 5}
    local = seed_engine.ask(question["question"], top_k=5).model_dump()
    env = {"QA_BACKEND": "qdrant", "QA_QDRANT_PATH": str(tmp_path / "qdrant")}
    # The same precisions as the engine compared with, whatever this machine's timing says.
    assert seed_engine.reader is not None
    env["QA_READER_PRECISION"] = seed_engine.reader.precision
    env["QA_EMBEDDING_PRECISION"] = seed_engine.embedder.precision
    with running_server(tmp_path / "data", SEEDS, **env) as url:
        reply = httpx.post(url + "/ask", json=question, timeout=60).json()
        health = httpx.get(url + "/health").json()
    assert (health["documents"], health["passages"]) == (5, seed_engine.health().passages)
    assert reply["answers"] and reply["answers"][0]["text"] == local["answers"][0]["text"]
    assert reply["answers"][0]["citations"] == local["answers"][0]["citations"]
    assert not (tmp_path / "data" / "store.sqlite3").exists()  # nothing went to the local store


def test_a_qdrant_store_remembers_which_folder_it_was_synced_from(
    tmp_path: Path, small_corpus: Path, embedder: Embedder
) -> None:
    pytest.importorskip("qdrant_client", reason="the Qdrant back end needs pip install '.[scale]'")
    from index.qdrant.backend import synced_from

    path = tmp_path / "qdrant"
    assert synced_from(SEEDS, path=path) is None  # nothing yet: `qa serve` indexes seeds/
    settings = Settings(data_dir=tmp_path / "data", backend="qdrant", qdrant_path=path, reader=False)
    with Engine(settings, embedder=embedder) as engine:
        engine.sync(small_corpus, progress=False)
    assert synced_from(SEEDS, path=path) is False  # another folder's store is served as it is
    assert synced_from(small_corpus, path=path) is True


class _Killed(BaseException):
    """Stands for SIGKILL part-way through a write: nothing after it runs."""


def _kill_on_upsert(engine: Engine, collection: str, call: int) -> None:
    """Make the ``call``-th upsert into ``collection`` (1-based) kill the write."""
    client = engine.backend.client  # type: ignore[attr-defined]
    real, seen = client.upsert, [0]

    def upsert(name: str, points: Any, **kwargs: Any) -> Any:
        if name == collection:
            seen[0] += 1
            if seen[0] == call:
                client.upsert = real
                raise _Killed
        return real(name, points, **kwargs)

    client.upsert = upsert


def test_a_killed_qdrant_write_is_all_or_nothing_to_readers(tmp_path: Path, embedder: Embedder) -> None:
    """A PUT of 300 paragraphs over a 20-paragraph document killed after its first batch used to
    leave 50 new passages pointing past the old text's end, served for good; a killed POST
    left passages of a document GET calls 404 and DELETE could not remove."""
    settings = backend_settings("qdrant", tmp_path, reader=False)
    engine = Engine(settings, embedder=embedder)
    paragraph = "Officials in the district of {} said the ferry to the island resumed service on Monday."
    old = "\n\n".join(paragraph.format(f"Old{i}") for i in range(20))
    engine.add("big", old)
    new = "\n\n".join(
        paragraph.format(f"New{i}") + " Extra words make this paragraph longer." for i in range(300)
    )
    passages = engine.backend  # the back end
    _kill_on_upsert(engine, passages.passages_name, call=2)  # type: ignore[attr-defined]
    with pytest.raises(_Killed):
        engine.add("big", new, replace=True)
    _kill_on_upsert(engine, passages.documents_name, call=1)  # type: ignore[attr-defined]
    with pytest.raises(_Killed):
        engine.add("ghost", "Ghost ferry news: the island ferry to Velmora resumed service on Tuesday.")

    def served() -> list[Any]:
        return engine.search("Which district said the ferry to the island resumed service?", k=50).passages

    hits = served()
    assert hits and {p.doc_id for p in hits} == {"big"}
    assert engine.document("big").text == old
    for p in hits:
        assert old[p.start : p.end] == p.text  # every citation points into the served text
    with pytest.raises(DocumentNotFound):
        engine.document("ghost")
    assert "ghost" not in {
        p.doc_id for p in engine.search("Ghost ferry to Velmora on Tuesday", k=10).passages
    }
    engine.close()
    reopened = Engine(settings, embedder=embedder)
    reopened.backend._sweep_interrupted(older_than=0)  # type: ignore[attr-defined]  # the writers are dead
    assert reopened.health().passages == 20  # the orphans of both writes are gone
    assert [d.doc_id for d in reopened.documents()] == ["big"]
    reopened.close()


def test_delete_removes_passages_left_without_a_document_record(tmp_path: Path, embedder: Embedder) -> None:
    settings = backend_settings("qdrant", tmp_path, reader=False)
    engine = Engine(settings, embedder=embedder)
    _kill_on_upsert(engine, engine.backend.documents_name, call=1)  # type: ignore[attr-defined]
    with pytest.raises(_Killed):
        engine.add("ghost", "Ghost ferry news: the island ferry to Velmora resumed service on Tuesday.")
    engine.delete("ghost")  # no record, yet its passages go
    with pytest.raises(DocumentNotFound):
        engine.delete("ghost")
    engine.close()


def test_with_qdrant_down_a_filtered_search_is_a_503_and_metrics_still_answer(
    tmp_path: Path, embedder: Embedder
) -> None:
    """A filter on a metadata key used to create its payload index inside the read, outside
    the error wrapper: with the server down, a 500. /metrics answered 503."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    settings = backend_settings("qdrant", tmp_path, reader=False)
    engine = Engine(settings, embedder=embedder)
    engine.add("asia-1", SENTENCE, metadata={"desk": "asia"})
    backend = engine.backend
    backend.local = False  # type: ignore[attr-defined]  # as on a server: payload indexes apply
    client = TestClient(create_app(engine), raise_server_exceptions=False)

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("connection refused")

    for name in ("query_points", "retrieve", "scroll", "count", "create_payload_index", "upsert", "delete"):
        setattr(backend.client, name, down)  # type: ignore[attr-defined]
    reply = client.get("/search", params={"q": "reservists at the border", "meta": "desk=asia"})
    assert reply.status_code == 503 and reply.headers["retry-after"]
    assert client.get("/metrics").status_code == 200
    engine.close()


def json_stand_in(body: bytes) -> Any:
    """A server on 127.0.0.1 that answers every GET, PUT and POST with 200 and ``body``: a
    proxy or another service where Qdrant should be."""
    import http.server
    import threading

    class Fixed(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fixed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_store_answering_nonsense_is_a_503_that_shows_nothing_of_it(
    tmp_path: Path, embedder: Embedder
) -> None:
    """A proxy or node answering 200 with ``{"result": null}`` tripped an assertion inside
    qdrant-client: every route a 500, /metrics included. Now a 503 with Retry-After, and the
    body names neither the store's address nor what it said."""
    from fastapi.testclient import TestClient
    from qdrant_client import QdrantClient

    from api.app import create_app

    server = json_stand_in(b'{"result": null, "status": "ok", "time": 0.001, "secret": "upstream-internal"}')
    settings = backend_settings("qdrant", tmp_path, reader=False)
    engine = Engine(settings, embedder=embedder)
    engine.add("asia-1", SENTENCE)
    address = f"127.0.0.1:{server.server_address[1]}"
    engine.backend.client = QdrantClient(url=f"http://{address}", timeout=5, check_compatibility=False)  # type: ignore[attr-defined]
    engine.backend.local = False  # type: ignore[attr-defined]
    client = TestClient(create_app(engine), raise_server_exceptions=False)
    try:
        for reply in (
            client.get("/search", params={"q": "reservists at the border"}),
            client.get("/documents/asia-1"),
            client.get("/health"),
        ):
            assert reply.status_code == 503, (reply.status_code, reply.text)
            assert reply.headers["retry-after"]
            assert address not in reply.text and "upstream-internal" not in reply.text
        assert client.get("/metrics").status_code == 200
    finally:
        server.shutdown()
        engine.close()


def test_a_server_that_is_not_qdrant_is_refused_in_one_line(tmp_path: Path, embedder: Embedder) -> None:
    pytest.importorskip("qdrant_client", reason="the Qdrant back end needs pip install '.[scale]'")
    from index.qdrant.backend import QdrantBackend

    server = json_stand_in(b'{"status": "ok"}')
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(BackendUnavailable, match="does not answer as a Qdrant server"):
            QdrantBackend.open(embedder, url=url, timeout=5)
    finally:
        server.shutdown()


DATED = {
    "jul03": (
        "2021-07-03",
        "More than 300 Afghan soldiers crossed the river border into Tajikistan on Saturday.",
    ),
    "jul05": (
        "2021-07-05T16:30:00Z",
        "More than 1,000 Afghan soldiers crossed the river border into Tajikistan by Monday.",
    ),
    "jul05b": (
        "2021-07-05",
        "Afghan soldiers who crossed the river border were given food and shelter in Tajikistan.",
    ),
    "jul09": (
        "2021-07-09",
        "Tajikistan said the Afghan soldiers who crossed the river border would be sent back.",
    ),
    "undated": (
        None,
        "Afghan soldiers crossed the river border into Tajikistan, officials said on the radio.",
    ),
}


def add_dated(engine: Any) -> None:
    for doc_id, (published, text) in DATED.items():
        engine.add(doc_id, text, published=published, source="Wire")


def test_date_filters_mean_the_same_on_every_back_end(reach: Callable[[], Any]) -> None:
    engine = reach()
    add_dated(engine)

    def found(**dates: str) -> set[str]:
        return {
            p.doc_id
            for p in engine.search("Afghan soldiers crossed the river border", k=10, **dates).passages
        }

    assert found() == set(DATED)
    assert found(published_after="2021-07-05") == {
        "jul05",
        "jul05b",
        "jul09",
    }  # a date: from its first second
    assert found(published_before="2021-07-05") == {"jul03", "jul05", "jul05b"}  # ... to its last
    assert found(published_after="2021-07-04", published_before="2021-07-05T12:00:00Z") == {"jul05b"}
    assert found(published_after="2021-07-05T17:00:00+00:00") == {"jul09"}
    assert found(published_after="2030-01-01") == set()
    passage = engine.search("food and shelter", k=1).passages[0]
    assert (passage.doc_id, passage.published, passage.source) == ("jul05b", "2021-07-05", "Wire")


def test_documents_are_listed_newest_first_a_page_at_a_time(reach: Callable[[], Any]) -> None:
    engine = reach()
    add_dated(engine)
    expected = ["jul09", "jul05", "jul05b", "jul03", "undated"]
    assert [d.doc_id for d in engine.documents()] == expected
    seen, after = [], None
    while True:
        page = engine.document_page(2, after)
        seen += [d.doc_id for d in page.documents]
        if page.next is None:
            break
        after = page.next
    assert seen == expected
    assert [d.doc_id for d in engine.documents(after="jul05", limit=2)] == ["jul05b", "jul03"]
    with pytest.raises(DocumentNotFound):
        engine.documents(after="deleted-since", sort="published")


def tricky_ids() -> list[str]:
    """Doc_ids that share prefixes up to and across every 8-character boundary, are
    prefixes of one another, use every kind of character, and run to the longest allowed."""
    rng = random.Random(7)
    alphabet = "-._" + string.digits + string.ascii_letters
    ids = {"a", "a-", "a.", "a0", "aA", "a_", "aa", "aaaaaaaa", "aaaaaaaa-", "aaaaaaaaa", "Z" * 128}
    ids |= {"Z" * 127 + "z", "Z" * 127, "wire-2021-07-05-" + "0" * 8, "wire-2021-07-05-" + "0" * 7}
    for shared in (0, 7, 8, 9, 16, 24):
        stem = "n" + "".join(rng.choice(alphabet) for _ in range(shared))
        for _ in range(6):
            ids.add(stem + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))))
    return sorted(ids)


def test_documents_are_paged_in_order_whatever_their_ids_and_dates(reach: Callable[[], Any]) -> None:
    """Every document once, in order, at any page size, by doc_id and newest first (dates
    shared by several documents, some undated); a cursor need not be a doc_id."""
    engine = reach()
    ids = tricky_ids()
    dates = [None, "2021-07-03", "2021-07-05", "2021-07-05T10:00:00+00:00", "2021-07-09"]
    lines = [
        json.dumps({"doc_id": d, "text": f"Report {i} on the border.", "published": dates[i % len(dates)]})
        for i, d in enumerate(ids)
    ]
    engine.import_file("many.jsonl", "\n".join(lines).encode())
    by_date = {d: dates[i % len(dates)] for i, d in enumerate(ids)}

    def newest_first(d: str) -> tuple[bool, float, str]:
        ts = published_ts(by_date[d])
        return (ts is None, -(ts or 0.0), d)

    for sort, expected in (("doc_id", ids), ("published", sorted(ids, key=newest_first))):
        for limit in (1, 3, 7, 50):
            seen, after = [], None
            while True:
                page = engine.document_page(limit, after, sort)
                seen += [d.doc_id for d in page.documents]
                if page.next is None:
                    break
                after = page.next
            assert seen == expected, (sort, limit)
    for cursor in ("a/", "aaaaaaaa:", "n~", "a" * 300, "~"):
        assert [d.doc_id for d in engine.documents(limit=4, after=cursor, sort="doc_id")] == [
            d for d in ids if d > cursor
        ][:4]


def test_a_page_of_documents_on_qdrant_reads_only_a_few_records(tmp_path: Path, embedder: Embedder) -> None:
    """Listing reads the records of a page, not of the whole store: a keyset seek on numeric
    listing keys (Qdrant orders by numbers only), also on a store written before them."""
    settings = backend_settings("qdrant", tmp_path, reader=False)
    engine = Engine(settings, embedder=embedder)
    ids = [f"doc-{i:04d}" for i in range(150)]
    lines = [
        json.dumps({"doc_id": d, "text": f"Border guards filed report {d} about the crossing on Monday."})
        for d in ids
    ]
    engine.import_file("many.jsonl", "\n".join(lines).encode())
    index = engine.backend
    index.client.delete_payload(index.documents_name, ["newest", *ID_FIELDS], points=qm_all())  # type: ignore[attr-defined]
    engine.close()
    engine = Engine(settings, embedder=embedder)  # gives the older records their keys
    client = engine.backend.client  # type: ignore[attr-defined]
    read = []
    real_scroll = client.scroll

    def scroll(*args: Any, **kwargs: Any) -> Any:
        points, offset = real_scroll(*args, **kwargs)
        read.append(len(points))
        return points, offset

    client.scroll = scroll
    try:
        for sort in ("doc_id", "published"):
            seen, after = [], None
            while True:
                read.clear()
                page = engine.document_page(10, after, sort)
                assert sum(read) <= 30 and len(read) <= 4, read  # a scan reads all 150
                seen += [d.doc_id for d in page.documents]
                if page.next is None:
                    break
                after = page.next
            assert seen == ids, sort
    finally:
        client.scroll = real_scroll
        engine.close()
        drop_test_collections(settings)


HTML_PAGE = """<html><head><title>Border news</title><meta property="og:site_name" content="Courier">
<meta property="article:published_time" content="2021-07-06"></head><body><article>
<h1>Tajikistan mobilizes its reservists</h1>
<p>Tajikistan has mobilized 20,000 military reservists to strengthen its border with Afghanistan,
officials said.</p>
<p>More than a thousand Afghan troops fled a Taliban offensive and sought refuge in the country
last weekend.</p>
</article></body></html>"""
FEED = """<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Asia Wire</title>
<entry><id>urn:1</id><title>Soldiers cross</title><link href="https://wire.example/1"/>
<updated>2021-07-03T10:00:00Z</updated><content type="html">&lt;p&gt;More than 300 Afghan soldiers
crossed into Tajikistan as the Taliban took more districts, the border service said.&lt;/p&gt;</content>
</entry></feed>"""


def test_html_feed_and_json_lines_index_with_exact_offsets(reach: Callable[[], Any]) -> None:
    engine = reach()
    written = engine.import_file("courier.html", HTML_PAGE.encode())
    written += engine.import_file("wire.atom", FEED.encode())
    line = {
        "doc_id": "exp-1",
        "text": "Officials said the Khorog crossing reopened to trucks on Tuesday morning.",
        "published": "2021-07-06",
    }
    written += engine.import_file("export.jsonl", json.dumps(line).encode())
    assert len(written) == 3 and all(w.passages > 0 and w.status == "added" for w in written)
    html = engine.document("courier")
    assert (html.title, html.published, html.source) == (
        "Tajikistan mobilizes its reservists",
        "2021-07-06",
        "Courier",
    )
    feed_id = next(w.doc_id for w in written if w.doc_id.startswith("wire-"))
    assert engine.document(feed_id).published == "2021-07-03T10:00:00+00:00"
    for query in ("20,000 military reservists", "300 Afghan soldiers crossed", "Khorog crossing reopened"):
        top = engine.search(query, k=1).passages[0]
        text = engine.document(top.doc_id).text
        assert text[top.start : top.end] == top.text and query.split()[0] in top.text
    with pytest.raises(InvalidDocument, match="line 1"):
        engine.import_file("bad.jsonl", b'{"doc_id": "x"}')
    assert "x" not in {d.doc_id for d in engine.documents()}


def _feed(*entries: tuple[str, str]) -> bytes:
    items = "".join(
        f"<item><guid>{guid}</guid><title>Entry {guid}</title><description>{body}</description></item>"
        for guid, body in entries
    )
    channel = f"<channel><title>Wire</title>{items}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()


def test_a_feed_read_again_adds_new_entries_replaces_changed_ones_and_embeds_nothing_else(
    make: MakeEngine,
) -> None:
    engine = make()
    one = (
        "urn:1",
        "More than 300 Afghan soldiers crossed into Tajikistan on Monday, the border service said.",
    )
    two = ("urn:2", "The Khorog crossing reopened to trucks on Tuesday morning, customs officials said.")
    first = engine.import_file("wire.rss", _feed(one, two))
    assert [w.status for w in first] == ["added", "added"]
    ids = [w.doc_id for w in first]

    def no_embedding(texts: Any, **_: Any) -> Any:
        raise AssertionError(f"embedded {len(texts)} passages of an unchanged feed")

    real_encode = engine.backend.encoder.encode
    engine.backend.encoder.encode = no_embedding  # type: ignore[method-assign]
    again = engine.import_file("wire.rss", _feed(one, two))
    assert [(w.doc_id, w.status, w.passages) for w in again] == [
        (w.doc_id, "unchanged", w.passages) for w in first
    ]
    engine.backend.encoder.encode = real_encode  # type: ignore[method-assign]

    changed = (
        two[0],
        "The Khorog crossing reopened to trucks and buses on Wednesday, customs officials said.",
    )
    new = ("urn:3", "Tajikistan mobilized 20,000 reservists to its border with Afghanistan, officials said.")
    third = engine.import_file("wire.rss", _feed(new, one, changed))
    assert {w.doc_id: w.status for w in third} == {
        ids[0]: "unchanged",
        ids[1]: "replaced",
        third[0].doc_id: "added",
    }
    assert "buses on Wednesday" in engine.document(ids[1]).text  # the same id: citations stay with the story
    assert engine.health().documents == 3

    said = "The ferry to the island resumed service on Sunday, the harbour said."
    page = f"<html><body><p>{said}</p></body></html>"
    assert engine.import_file("harbour.html", page.encode())[0].status == "added"
    assert engine.import_file("harbour.html", page.encode())[0].status == "unchanged"
    edited = page.replace("Sunday", "Monday").encode()
    with pytest.raises(DocumentExists):
        engine.import_file("harbour.html", edited)
    assert engine.import_file("harbour.html", edited, replace=True)[0].status == "replaced"


def test_a_qdrant_store_written_before_article_fields_is_migrated(tmp_path: Path, embedder: Embedder) -> None:
    """Records and passages of an earlier version (no article fields, no date on passages):
    the next start fills what each text states, and the date filter then finds them."""
    settings = backend_settings("qdrant", tmp_path, reader=False)
    engine = Engine(settings, embedder=embedder)
    engine.sync(SEEDS, progress=False)
    index = engine.backend
    old_keys = ["published", "published_ts", "outlet", "url", "provenance"]
    index.client.delete_payload(index.documents_name, old_keys, points=qm_all())  # type: ignore[attr-defined]
    index.client.delete_payload(index.passages_name, ["published_ts"], points=qm_all())  # type: ignore[attr-defined]
    index.set_state("article_fields", "0")
    assert engine.document("002_c893cae8a75fbf29").source is None
    engine.close()
    engine = Engine(settings, embedder=embedder)
    try:
        doc = engine.document("002_c893cae8a75fbf29")
        assert (doc.source, doc.published, sorted(doc.detected)) == (
            "AFP",
            "2021-07-05",
            ["published", "source", "title"],
        )
        dated = engine.search(
            "Afghan troops fled into Tajikistan", k=10, published_after="2021-07-05"
        ).passages
        assert dated and {p.doc_id for p in dated} == {"002_c893cae8a75fbf29"}
    finally:
        engine.close()
        drop_test_collections(settings)


def test_a_passages_collection_without_the_prefix_vector_keeps_working(
    tmp_path: Path, embedder: Embedder, seed_engine: Engine
) -> None:
    """A store made before passages carried the prefix-term vector (it cannot be added to an
    existing collection): the term weights are counted as before, and equal the local ones."""
    from qdrant_client import QdrantClient
    from qdrant_client import models as qm

    from index.qdrant.schema import model_slug

    settings = backend_settings("qdrant", tmp_path, reader=False)
    client = (
        QdrantClient(url=CLUSTER, api_key=settings.qdrant_api_key)
        if CLUSTER
        else QdrantClient(path=str(settings.qdrant_path))
    )
    client.create_collection(
        f"{settings.qdrant_collection}_passages_{model_slug(embedder.name)}_{embedder.dim}",
        vectors_config={"dense": qm.VectorParams(size=embedder.dim, distance=qm.Distance.DOT)},
        sparse_vectors_config={"bm25": qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
    )
    client.close()
    engine = Engine(settings, embedder=embedder)
    try:
        engine.sync(SEEDS, progress=False)
        terms = set(prefix_terms("Which Afghan soldiers crossed the border into Tajikistan?")) | {"zzzqx"}
        expected = seed_engine.backend.prefix_idf(terms)
        found = engine.backend.prefix_idf(terms)
        assert found == pytest.approx(expected, rel=1e-4)
        top = engine.search("How many troops did Tajikistan mobilize?", k=1).passages[0]
        assert top.doc_id == "003_9e887223774c4d77"
    finally:
        engine.close()
        drop_test_collections(settings)


def qm_all():  # type: ignore[no-untyped-def]
    from qdrant_client import models

    return models.Filter(must=[])


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the "SIGKILL"
def test_an_interrupted_model_change_is_resumed_at_the_next_start(tmp_path: Path, embedder: Embedder) -> None:
    """A new model re-embeds every document into its own collection; killed part-way, the
    next start (of any replica) finishes it instead of serving a fraction of the corpus."""
    settings = backend_settings("qdrant", tmp_path, reader=False)
    engine = Engine(settings, embedder=embedder)
    engine.sync(SEEDS, progress=False)
    counts = engine.health()
    engine.close()
    real_add = Indexer.add

    def add_one_then_die(self: Indexer, docs: Any, *args: Any, **kwargs: Any) -> None:
        real_add(self, list(docs)[:1], *args, **kwargs)
        raise _Killed("the process died while re-embedding")

    renamed = Renamed(embedder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Indexer, "add", add_one_then_die)
        dying = Engine(settings, embedder=renamed)  # the worker dies after one document
        assert not dying.backend.wait_prepared(60)
        assert "re-embedded" in (dying.health().preparing or "")
        dying.close()
    resumed = Engine(settings, embedder=renamed)
    try:
        assert resumed.backend.wait_prepared(120)
        assert resumed.health() == counts  # every passage, under the new model
        assert resumed.backend.get_state(f"reembed:{resumed.backend.passages_name}") == "done"  # type: ignore[attr-defined]
        assert resumed.sync(SEEDS, progress=False) == (0, 0)
        top = resumed.search("How many troops did Tajikistan mobilize?", k=1).passages[0]
        assert top.doc_id == "003_9e887223774c4d77"
    finally:
        resumed.close()
        drop_test_collections(settings)


def test_several_drivers_each_index_their_shard_of_a_folder(make: MakeEngine, tmp_path: Path) -> None:
    """`qa index DIR --shard I/N`: each driver takes its own documents (by a stable hash of
    the doc_id); together they index the folder once, and a removal is made by its shard."""
    import shutil

    folder = tmp_path / "folder"
    shutil.copytree(SEEDS, folder)
    engine = make()
    added = [engine.sync(folder, progress=False, shard=(i, 2))[0] for i in range(2)]
    assert sum(added) == 5 and all(added)  # both shards hold some of the five
    assert len(engine.documents()) == 5
    assert [engine.sync(folder, progress=False, shard=(i, 2)) for i in range(2)] == [(0, 0), (0, 0)]
    (folder / "004_0b86c02cdc35424d.txt").unlink()
    removed = [engine.sync(folder, progress=False, shard=(i, 2))[1] for i in range(2)]
    assert sorted(removed) == [0, 1] and len(engine.documents()) == 4


def test_an_export_restores_into_an_empty_store_of_either_kind(
    make: MakeEngine, tmp_path: Path, embedder: Embedder
) -> None:
    """GET /export is a backup: imported into an empty store (here: of the other kind), every
    document comes back with its text, fields (and where they came from) and metadata, and
    answers the same question with the same passage."""
    engine = make()
    engine.sync(SEEDS, progress=False)
    engine.add(
        "given",
        "Officials in Kestrel Bay said the harbour bridge would stay closed for repairs until May.",
        title="Harbour bridge stays shut",
        metadata={"desk": "coast", "tags": ["bridges", "ports"]},
        published="2021-07-05T16:30:00+02:00",
        source="The Kestrel Courier",
        url="https://courier.example/bridge",
    )
    api = TestClient(create_app(engine))
    reply = api.get("/export")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/x-ndjson")
    lines = reply.text.splitlines()
    assert len(lines) == engine.health().documents == 6
    other = "local" if engine.settings.backend == "qdrant" else "qdrant"
    restored = Engine(backend_settings(other, tmp_path / "restored", reader=False), embedder=embedder)
    try:
        written = TestClient(create_app(restored)).post(
            "/documents/import", params={"name": "backup.jsonl"}, content=reply.content
        )
        assert written.status_code == 201, written.text
        assert restored.health() == engine.health()
        for row in engine.documents(sort="doc_id"):
            before, after = (
                engine.document(row.doc_id, copies=False),
                restored.document(row.doc_id, copies=False),
            )
            assert after == before, row.doc_id
        question = "Until when will the harbour bridge stay closed?"
        top = [engine.search(question, k=1).passages[0], restored.search(question, k=1).passages[0]]
        assert top[0].doc_id == top[1].doc_id == "given" and top[0].start == top[1].start
    finally:
        restored.close()
        drop_test_collections(restored.settings)
