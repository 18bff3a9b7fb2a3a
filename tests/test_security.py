"""Write protection, explicit replace, limits, CORS and metrics."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from api.app import create_app

TEXT = "Officials in Khorog said the road along the river reopened to trucks on Wednesday."


@pytest.fixture
def protected(make_engine, small_corpus) -> TestClient:
    engine = make_engine(
        corpus=small_corpus, api_key="s3cret", max_document_bytes=2000, cors_origins=["https://news.example"]
    )
    return TestClient(create_app(engine))


def test_writes_need_the_key_reads_do_not(protected: TestClient) -> None:
    body = {"doc_id": "road", "text": TEXT}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        response = protected.post("/documents", json=body, headers=headers)
        assert response.status_code == 401 and "API key" in response.json()["detail"]
    assert protected.delete("/documents/road").status_code == 401
    assert protected.put("/documents/road", json={"text": TEXT}).status_code == 401
    ok = {"Authorization": "Bearer s3cret"}
    assert protected.post("/documents", json=body, headers=ok).status_code == 201
    assert protected.get("/documents/road").status_code == 200
    assert protected.get("/search", params={"q": "road reopened"}).status_code == 200


def test_put_replaces_explicitly_and_post_refuses_duplicates(protected: TestClient) -> None:
    ok = {"Authorization": "Bearer s3cret"}
    assert protected.post("/documents", json={"doc_id": "road", "text": TEXT}, headers=ok).status_code == 201
    assert protected.post("/documents", json={"doc_id": "road", "text": TEXT}, headers=ok).status_code == 409
    new = "A second report said the same road closed again after a landslide on Friday night."
    assert protected.put("/documents/road", json={"text": new}, headers=ok).status_code == 200
    assert protected.get("/documents/road").json()["text"] == new
    hits = protected.get("/search", params={"q": "landslide road closed", "k": 1}).json()["passages"]
    assert hits[0]["doc_id"] == "road" and hits[0]["text"] == new


def test_document_limits(protected: TestClient) -> None:
    ok = {"Authorization": "Bearer s3cret"}
    big = protected.post("/documents", json={"doc_id": "big", "text": "word " * 1000}, headers=ok)
    assert big.status_code == 413 and "limit" in big.json()["detail"]
    binary = protected.post("/documents", json={"doc_id": "bin", "text": "abc\u0000def ghi"}, headers=ok)
    assert binary.status_code == 400 and "binary" in binary.json()["detail"]
    assert protected.get("/documents/big").status_code == 404


def test_cors_only_for_configured_origins(protected: TestClient) -> None:
    allowed = protected.get("/health", headers={"Origin": "https://news.example"})
    assert allowed.headers.get("access-control-allow-origin") == "https://news.example"
    other = protected.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_metrics_count_requests_by_route(protected: TestClient) -> None:
    protected.get("/documents/000_a764001855818956")
    protected.get("/documents/missing")
    text = protected.get("/metrics").text
    assert 'qa_requests_total{method="GET",route="/documents/{doc_id}",status="200"} 1' in text
    assert 'qa_requests_total{method="GET",route="/documents/{doc_id}",status="404"} 1' in text
    assert "qa_request_seconds_bucket" in text and "qa_passages " in text


def test_request_logs_leave_out_the_question(protected: TestClient, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="api.requests"):
        protected.get("/search", params={"q": "secret question about khorog"})
    lines = [r.getMessage() for r in caplog.records if r.name == "api.requests"]
    assert lines and json.loads(lines[-1])["route"] == "/search"
    assert not any("khorog" in line for line in lines)
