"""What a Qdrant store does when a writer dies, a node is down or a large import runs: what
users see through the API stays whole, counted right, bounded in time, and what a dead writer
left is cleared while the service runs (no restart needed)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("qdrant_client", reason="the Qdrant back end is an optional extra")
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient

import index.qdrant.backend as qdrant_backend
from api.app import create_app
from index.backend import Document
from index.embedder import Embedder
from index.indexer import Indexer
from index.qdrant.backend import ClusterPolicy, QdrantBackend
from index.qdrant.connection import Nodes, connect
from qa.engine import Engine
from tests.test_backends import _kill_on_upsert, _Killed, backend_settings

PARAGRAPH = "Officials in the district of {} said the ferry to the island resumed service on Monday."


def stored_points(engine: Engine) -> int:
    """Every point in the passages collection, seen by readers or not."""
    index: Any = engine.backend
    return int(index.client.count(index.passages_name, exact=True).count)


def wait_for(check: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


@pytest.fixture
def sweeping_often(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qdrant_backend, "SWEEP_EVERY_S", 0.2)


def test_a_delete_killed_half_way_is_finished_by_the_running_service(
    tmp_path: Path, embedder: Embedder, sweeping_often: None
) -> None:
    """A DELETE killed after the record went and before the passages did used to leave its
    passages for good (no marker, never swept) and counted in /health."""
    engine = Engine(backend_settings("qdrant", tmp_path, reader=False), embedder=embedder)
    try:
        engine.add("doomed", "\n\n".join(PARAGRAPH.format(f"Doomed{i}") for i in range(8)))
        engine.add("kept", PARAGRAPH.format("Kestrel"))
        client: Any = engine.backend.client  # type: ignore[attr-defined]
        real = client.delete

        def die_on_passages(name: str, *args: Any, **kwargs: Any) -> Any:
            if name == engine.backend.passages_name:  # type: ignore[attr-defined]
                client.delete = real
                raise _Killed
            return real(name, *args, **kwargs)

        client.delete = die_on_passages
        with pytest.raises(_Killed):
            engine.delete("doomed")
        api = TestClient(create_app(engine))
        assert api.get("/documents/doomed").status_code == 404
        assert api.get("/health").json()["passages"] == 1  # what readers see
        found = api.get("/search", params={"q": "Which district said the ferry resumed?", "k": 10}).json()
        assert {p["doc_id"] for p in found["passages"]} == {"kept"}
        assert wait_for(lambda: stored_points(engine) == 1)  # swept while serving
    finally:
        engine.close()


def test_a_killed_replace_neither_shortens_a_search_nor_swells_the_counts(
    tmp_path: Path, embedder: Embedder
) -> None:
    """The killed write's passages rank as well as the served ones: a search filtered to the
    document for k=50 used to return fewer than 50, and /health counted them."""
    engine = Engine(backend_settings("qdrant", tmp_path, reader=False), embedder=embedder)
    try:
        old = "\n\n".join(PARAGRAPH.format(f"Old{i}") for i in range(60))
        engine.add("big", old)
        _kill_on_upsert(engine, engine.backend.documents_name, call=1)  # type: ignore[attr-defined]
        with pytest.raises(_Killed):  # every new passage written, the record never
            engine.add("big", "\n\n".join(PARAGRAPH.format(f"New{i}") for i in range(60)), replace=True)
        assert stored_points(engine) == 120
        api = TestClient(create_app(engine))
        found = api.get(
            "/search",
            params={"q": "Which district said the ferry to the island resumed?", "k": 50, "doc_id": "big"},
        ).json()["passages"]
        assert len(found) == 50
        assert all(old[p["start"] : p["end"]] == p["text"] and "Old" in p["text"] for p in found)
        assert api.get("/health").json()["passages"] == 60
    finally:
        engine.close()


def test_questions_are_answered_while_a_large_import_is_stored_on_local_mode(
    tmp_path: Path, embedder: Embedder
) -> None:
    """Local mode serves one client call at a time: a whole import used to hold every read
    for its storage phase (a search waited 99 s behind a 1,000-document import)."""
    settings = backend_settings("qdrant", tmp_path, reader=False, qdrant_write_batch=8, api_key="k")
    engine = Engine(settings, embedder=embedder)
    engine.add("kept", PARAGRAPH.format("Kestrel"))
    client: Any = engine.backend.client  # type: ignore[attr-defined]
    real = client.upsert

    def slow_upsert(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == engine.backend.passages_name:  # type: ignore[attr-defined]
            time.sleep(0.25)  # a slow disk: 13 batches, over 3 s in all
        return real(name, *args, **kwargs)

    client.upsert = slow_upsert
    lines = [
        json.dumps({"doc_id": f"d{i}", "text": "\n\n".join(PARAGRAPH.format(f"D{i}x{j}") for j in range(5))})
        for i in range(20)
    ]
    api = TestClient(create_app(engine))
    took: dict[str, float] = {}

    def import_all() -> None:
        started = time.monotonic()
        reply = api.post(
            "/documents/import",
            params={"name": "big.jsonl"},
            content="\n".join(lines).encode(),
            headers={"Authorization": "Bearer k"},
        )
        assert reply.status_code == 201, reply.text
        took["import"] = time.monotonic() - started

    writer = threading.Thread(target=import_all)
    try:
        writer.start()
        time.sleep(0.5)  # into the storage phase (embedding 100 passages is quicker than that)
        waits = []
        while writer.is_alive() and len(waits) < 5:
            started = time.monotonic()
            reply = api.get("/search", params={"q": "Kestrel ferry", "k": 3})
            waits.append(time.monotonic() - started)
            assert reply.status_code == 200
        writer.join(60)
        assert took["import"] > 3.0 and waits
        assert max(waits) < 2.0, waits  # a read waits for one batch at most, not the import
        assert api.get("/health").json()["documents"] == 21
    finally:
        writer.join(60)
        engine.close()


class Down(http.server.BaseHTTPRequestHandler):
    """A Qdrant node that is there but cannot serve: 503 to everything."""

    def _answer(self) -> None:
        body = b'{"status": {"error": "Service Unavailable"}}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def down_node() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Down)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_with_one_node_answering_503_every_read_and_write_goes_to_another(
    tmp_path: Path, embedder: Embedder, down_node: str
) -> None:
    """Each API replica used to talk to its own node only: with one of three nodes down, a
    third of the questions failed. The replica's first node is a stand-in answering 503;
    the second a working store."""
    down = QdrantClient(url=down_node, timeout=5, check_compatibility=False)
    working = QdrantClient(path=str(tmp_path / "qdrant"))
    nodes = Nodes([down, working], [down_node, "local"])
    backend = QdrantBackend(nodes, embedder, "t", f"{down_node}, local", policy=ClusterPolicy(retries=0))
    try:
        Indexer(backend, backend.encoder).add([Document("a", "A", PARAGRAPH.format("Velmora"))])
        nodes._current = 0  # the replica's own node first again, for every question below
        for _ in range(30):
            hits = backend.sparse("Which district said the ferry resumed?", 3)
            assert [backend.passages([h.id for h in hits])[hits[0].id].doc_id] == ["a"]
            nodes._current = 0
    finally:
        backend.close()


def test_a_request_the_store_refuses_is_not_sent_to_another_node(tmp_path: Path) -> None:
    """A 4xx is the request's fault: another node would refuse it too (and a write must not
    be tried twice for nothing)."""
    calls = []

    class Refusing:
        def retrieve(self, *args: Any, **kwargs: Any) -> Any:
            from qdrant_client.http.exceptions import UnexpectedResponse

            calls.append("first")
            raise UnexpectedResponse(400, "Bad Request", b"{}", None)  # type: ignore[arg-type]

    class Second:
        def retrieve(self, *args: Any, **kwargs: Any) -> Any:
            calls.append("second")
            return []

    from qdrant_client.http.exceptions import UnexpectedResponse

    with pytest.raises(UnexpectedResponse):
        Nodes([Refusing(), Second()], ["one", "two"]).retrieve("c", [1])
    assert calls == ["first"]


def test_a_url_list_names_every_node(tmp_path: Path) -> None:
    client, where = connect("http://127.0.0.1:1, http://127.0.0.1:2,http://127.0.0.1:3", None, None, 5, False)
    try:
        assert isinstance(client, Nodes) and len(client.clients) == 3
        assert where == "http://127.0.0.1:1, http://127.0.0.1:2, http://127.0.0.1:3"
    finally:
        client.close()
