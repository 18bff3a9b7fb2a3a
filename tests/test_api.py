"""Every endpoint through TestClient, with good and bad input."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from qa.engine import Engine

QUESTION = "How many troops did Tajikistan mobilize?"


@pytest.fixture(scope="module")
def client(seed_engine: Engine) -> TestClient:
    return TestClient(create_app(seed_engine))


@pytest.fixture
def writable(make_engine, small_corpus) -> TestClient:
    return TestClient(create_app(make_engine(corpus=small_corpus)))


def test_health_and_docs(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["ready"] and health["documents"] == 5 and health["passages"] > 50
    assert client.get("/docs").status_code == 200
    assert "/search" in client.get("/openapi.json").json()["paths"]


def test_search_passages_obey_the_offset_invariant(client: TestClient) -> None:
    reply = client.get("/search", params={"q": QUESTION, "k": 5}).json()
    passages = reply["passages"]
    assert len(passages) == 5
    assert any(p["text"].startswith("Tajikistan has mobilized 20,000") for p in passages)
    scores = [p["score"] for p in passages]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    for p in passages:
        doc = client.get(f"/documents/{p['doc_id']}").json()
        assert doc["text"][p["start"] : p["end"]] == p["text"]


def test_search_filter_by_doc_id(client: TestClient) -> None:
    reply = client.get("/search", params={"q": QUESTION, "k": 5, "doc_id": "004_0b86c02cdc35424d"}).json()
    assert reply["passages"] and {p["doc_id"] for p in reply["passages"]} == {"004_0b86c02cdc35424d"}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "x", "k": 0},
        {"q": "x", "k": 51},
        {"q": "x", "k": "ten"},
        {"q": "x" * 2001},
    ],
)
def test_search_bad_input_is_a_clear_4xx(client: TestClient, params: dict) -> None:
    response = client.get("/search", params=params)
    assert response.status_code in (400, 422)
    assert response.json()["detail"]


def test_documents_list_and_get(client: TestClient) -> None:
    docs = client.get("/documents").json()["documents"]
    assert len(docs) == 5 and all(d["title"] and d["passages"] > 0 for d in docs)
    one = client.get(f"/documents/{docs[0]['doc_id']}").json()
    assert set(one) == {"doc_id", "title", "text", "metadata"}
    missing = client.get("/documents/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_add_search_delete_cycle(writable: TestClient) -> None:
    text = "Officials in Dushanbe said the new customs post on the river opened on Tuesday morning."
    created = writable.post(
        "/documents", json={"doc_id": "customs", "text": text, "metadata": {"desk": "asia"}}
    )
    assert created.status_code == 201 and created.json() == {"doc_id": "customs", "passages": 1}
    duplicate = writable.post("/documents", json={"doc_id": "customs", "text": text})
    assert duplicate.status_code == 409
    hit = writable.get("/search", params={"q": "When did the customs post open?", "k": 1}).json()["passages"][
        0
    ]
    assert hit["doc_id"] == "customs" and hit["text"] == text
    assert writable.get("/documents/customs").json()["metadata"] == {"desk": "asia"}
    assert writable.delete("/documents/customs").status_code == 204
    assert writable.delete("/documents/customs").status_code == 404
    after = writable.get("/search", params={"q": "customs post Dushanbe", "k": 5}).json()["passages"]
    assert all(p["doc_id"] != "customs" for p in after)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"doc_id": "x"}, 422),
        ({"text": "some text"}, 422),
        ({"doc_id": "../etc/passwd", "text": "some text"}, 422),
        ({"doc_id": "a b", "text": "some text"}, 422),
        ({"doc_id": "empty", "text": "   \n  "}, 400),
        ({"doc_id": "x", "text": "t", "extra": 1}, 422),
        ([1, 2], 422),
    ],
)
def test_add_bad_input(writable: TestClient, body: object, status: int) -> None:
    response = writable.post("/documents", json=body)
    assert response.status_code == status and response.json()["detail"]


def test_add_body_that_is_not_json(writable: TestClient) -> None:
    response = writable.post("/documents", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_app_mounts_inside_another_app(seed_engine: Engine) -> None:
    parent = FastAPI()
    parent.mount("/qa", create_app(seed_engine))
    client = TestClient(parent)
    assert client.get("/qa/health").json()["ready"]
    assert client.get("/qa/search", params={"q": QUESTION}).status_code == 200
