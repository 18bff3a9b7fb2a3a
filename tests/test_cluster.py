"""The Qdrant back end as a cluster uses it. Most cases run here on a local-mode client
driven through the cluster code path (the options a cluster needs are sent, the logic
around them is exercised); those only a real cluster can show run when QA_TEST_QDRANT_URL
names one, and skip with the reason otherwise (docs/scaling.md lists the manual checks)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("qdrant_client", reason="the Qdrant back end is an optional extra")
from qdrant_client import QdrantClient

from index.backend import Document, DocumentExistsError
from index.embedder import Embedder
from index.errors import BackendUnavailable
from index.indexer import Indexer
from index.qdrant.backend import ClusterPolicy, CollectionLayout, QdrantBackend

CLUSTER = os.environ.get("QA_TEST_QDRANT_URL")
NEEDS_CLUSTER = pytest.mark.skipif(
    not CLUSTER, reason="needs a real Qdrant cluster: set QA_TEST_QDRANT_URL (and QA_TEST_QDRANT_API_KEY)"
)
TEXT_A = "The ferry to the island of Velmora resumed service on Sunday morning after the storm."
TEXT_B = "Officials in Kestrel Bay said the harbour bridge would stay closed for repairs until May."


class Spy:
    """A local-mode client that records the options each call was given."""

    def __init__(self, client: QdrantClient) -> None:
        self._client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return method(*args, **kwargs)

        return call

    def options(self, name: str) -> list[dict[str, Any]]:
        return [kw for n, kw in self.calls if n == name]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Spy]:
    spy = Spy(QdrantClient(path=str(tmp_path / "qdrant")))
    yield spy
    spy._client.close()


def replica(client: Any, embedder: Embedder, **policy: Any) -> QdrantBackend:
    """A back end that takes the client for a cluster's (``where`` is a URL)."""
    layout = CollectionLayout(shards=2, replicas=2, on_disk=True)
    return QdrantBackend(client, embedder, "t", "http://qdrant-0:6333", layout, ClusterPolicy(**policy))


def test_cluster_settings_reach_every_write_and_read(client: Spy, embedder: Embedder) -> None:
    backend = replica(client, embedder, ordering="strong", read_consistency="majority", write_consistency=2)
    Indexer(backend, backend.encoder).add([Document("a", "A", TEXT_A, {"desk": "asia"})])
    backend.sparse("ferry island", 3)
    backend.dense(embedder.encode(["ferry"])[0], 3)
    created = client.options("create_collection")
    assert created and all(
        c["write_consistency_factor"] == 2 and c["replication_factor"] == 2 for c in created
    )
    upserts = client.options("upsert")
    assert upserts and all(str(u["ordering"].value) == "strong" for u in upserts)
    queries = client.options("query_batch_points")
    assert len(queries) == 2 and all(str(q["consistency"].value) == "majority" for q in queries)
    indexes = client.options("create_payload_index")
    assert indexes and all(getattr(i["field_schema"], "on_disk", None) for i in indexes)  # not in RAM


def test_every_read_that_decides_a_write_consults_the_configured_replicas(
    client: Spy, embedder: Embedder
) -> None:
    """Existence checks, record versions, the BM25 mean length, write markers, state: a
    read at consistency 1 on a lagging replica would let two writes of one doc_id both
    succeed, or sweep a live write. Every read carries the read consistency (a count has
    none in Qdrant's API, so no write decision rests on one)."""
    backend = replica(client, embedder, read_consistency="majority")
    client.calls.clear()
    Indexer(backend, backend.encoder).add([Document("a", "A", TEXT_A)], replace=False)
    Indexer(backend, backend.encoder).add([Document("a", "A", TEXT_B)])
    with pytest.raises(DocumentExistsError):
        Indexer(backend, backend.encoder).add([Document("a", "A", TEXT_A)], replace=False)
    assert backend.delete("a") and not backend.delete("a")
    backend._sweep_interrupted(older_than=0)  # type: ignore[attr-defined]
    backend.set_state("k", "v")
    assert backend.get_state("k") == "v"
    reads = [
        (n, kw) for n, kw in client.calls if n in ("retrieve", "scroll", "query_points", "query_batch_points")
    ]
    assert reads and all(str(kw.get("consistency").value) == "majority" for _, kw in reads), reads
    assert not client.options("count")


def test_a_duplicate_post_through_two_replicas_gives_one_write_and_one_conflict(
    client: Spy, embedder: Embedder
) -> None:
    """Both replicas pass the existence check before either record is stored (the race the
    in-process lock cannot see): the record is inserted only, the loser's read-back sees
    the winner's version, takes its passages away and reports the conflict (409)."""
    first, second = replica(client, embedder), replica(client, embedder)
    second.known_documents = lambda doc_ids: set()  # type: ignore[method-assign]  # checked too early
    Indexer(first, first.encoder).add([Document("x", "x", TEXT_A)], replace=False)
    with pytest.raises(DocumentExistsError):
        Indexer(second, second.encoder).add([Document("x", "x", TEXT_B)], replace=False)
    stored = first.get_document("x")
    assert stored is not None and stored.text == TEXT_A
    assert first.counts() == (1, 1)  # the losing write left no passage behind
    hits = first.passages([h.id for h in first.sparse("Kestrel Bay harbour bridge", 5)])
    assert all(p.text == TEXT_A for p in hits.values())


def test_the_bm25_mean_length_is_the_first_writers_on_every_replica(client: Spy, embedder: Embedder) -> None:
    first, second = replica(client, embedder), replica(client, embedder)
    Indexer(first, first.encoder).add(
        [Document("short", "s", "A short note about the ferry to the island on Sunday.")]
    )
    Indexer(second, second.encoder).add([Document("long", "l", " ".join([TEXT_A, TEXT_B] * 6))])
    assert first.writer.mean_length == second.writer.mean_length


def test_a_write_that_fails_on_the_wire_is_retried_with_backoff(client: Spy, embedder: Embedder) -> None:
    backend = replica(client, embedder, retries=3, backoff_s=0.01)
    real = client._client.upsert
    failures = iter([ConnectionError("reset"), ConnectionError("reset")])

    def flaky(*args: Any, **kwargs: Any) -> Any:
        error = next(failures, None)
        if error is not None:
            raise error
        return real(*args, **kwargs)

    client._client.upsert = flaky  # type: ignore[method-assign]
    Indexer(backend, backend.encoder).add([Document("a", "A", TEXT_A)])
    assert backend.counts() == (1, 1)
    client._client.upsert = lambda *a, **k: (_ for _ in ()).throw(ConnectionError("down"))  # type: ignore[method-assign]
    with pytest.raises(BackendUnavailable):  # after the retries: a 503, and nothing of it stored
        Indexer(backend, backend.encoder).add([Document("b", "B", TEXT_B)])
    assert backend.known_documents(["b"]) == set()


def _post(url: str, doc_id: str, text: str) -> int:
    import urllib.error
    import urllib.request

    body = json.dumps({"doc_id": doc_id, "text": text}).encode()
    request = urllib.request.Request(url + "/documents", data=body, method="POST")
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@NEEDS_CLUSTER
def test_two_api_processes_on_one_cluster_give_one_201_and_one_409(tmp_path: Path) -> None:
    from tests.conftest import running_server

    env = {
        "QA_BACKEND": "qdrant",
        "QA_QDRANT_URL": str(CLUSTER),
        "QA_QDRANT_API_KEY": os.environ.get("QA_TEST_QDRANT_API_KEY", ""),
        "QA_QDRANT_COLLECTION": f"qa_test_{os.getpid()}",
        "QA_READER": "false",
    }
    from concurrent.futures import ThreadPoolExecutor

    with (
        running_server(tmp_path / "a", tmp_path / "empty", **env) as one,
        running_server(tmp_path / "b", tmp_path / "empty", **env) as two,
        ThreadPoolExecutor(2) as pool,
    ):
        doc_id = f"race-{time.time_ns()}"
        codes = sorted(pool.map(lambda url: _post(url, doc_id, TEXT_A), [one, two]))
        assert codes == [201, 409]


@NEEDS_CLUSTER
@pytest.mark.skipif(
    not os.environ.get("QA_TEST_QDRANT_STOP_NODE"),
    reason="needs a command that stops one node of the cluster: set QA_TEST_QDRANT_STOP_NODE "
    "(and QA_TEST_QDRANT_START_NODE to bring it back)",
)
def test_with_replication_2_a_node_down_loses_nothing(tmp_path: Path, embedder: Embedder) -> None:
    from qa.engine import Engine
    from qa.settings import Settings
    from tests.conftest import SEEDS

    settings = Settings(
        data_dir=tmp_path / "data",
        backend="qdrant",
        qdrant_url=CLUSTER,
        qdrant_api_key=os.environ.get("QA_TEST_QDRANT_API_KEY"),
        qdrant_collection=f"qa_down_{os.getpid()}",
        qdrant_shards=3,
        qdrant_replicas=2,
        reader=False,
    )
    engine = Engine(settings, embedder=embedder)
    engine.sync(SEEDS, progress=False)
    before = engine.health()
    subprocess.run(os.environ["QA_TEST_QDRANT_STOP_NODE"], shell=True, check=True)
    try:
        assert engine.health().documents == before.documents
        assert engine.search("How many troops did Tajikistan mobilize?", k=1).passages
    finally:
        subprocess.run(os.environ.get("QA_TEST_QDRANT_START_NODE", "true"), shell=True, check=False)
        engine.close()
