"""Write protection, explicit replace, limits, CORS and metrics."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import SEEDS

TEXT = "Officials in Khorog said the road along the river reopened to trucks on Wednesday."


@pytest.fixture
def protected(make_engine, tmp_path) -> TestClient:
    # A corpus within the 2,000-byte document limit: the folder is held to the API's bounds.
    corpus = tmp_path / "short"
    corpus.mkdir()
    text = (SEEDS / "000_a764001855818956.txt").read_text(encoding="utf-8")
    (corpus / "000_a764001855818956.txt").write_text(text[: text.rfind("\n", 0, 1800)], encoding="utf-8")
    engine = make_engine(
        corpus=corpus, api_key="s3cret", max_document_bytes=2000, cors_origins=["https://news.example"]
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


def test_the_key_is_checked_before_the_body_is_read(protected: TestClient) -> None:
    # Not even JSON: without the key the answer is 401, not a 422 about the body.
    reply = protected.post("/documents", content=b"{not json", headers={"content-type": "application/json"})
    assert reply.status_code == 401 and "API key" in reply.json()["detail"]
    huge = protected.post(
        "/documents",
        content=b"x" * 100_000,
        headers={"content-type": "application/json", "Authorization": "Bearer s3cret"},
    )
    assert huge.status_code == 413  # 3 x max_document_bytes (2,000) + 64 KiB


def test_protected_reads_cover_the_docs_too(make_engine, small_corpus) -> None:
    client = TestClient(create_app(make_engine(corpus=small_corpus, api_key="k", protect_reads=True)))
    for path in ("/docs", "/redoc", "/openapi.json", "/documents", "/metrics"):
        assert client.get(path).status_code == 401, path
    assert client.post("/ask", json={"question": "Who?"}).status_code == 401
    assert client.get("/health").status_code == 200
    assert client.get("/openapi.json", headers={"Authorization": "Bearer k"}).status_code == 200


def test_failures_are_counted_and_logged_without_user_text(
    protected: TestClient, caplog, monkeypatch
) -> None:
    engine = protected.app.state.engine  # type: ignore[attr-defined]

    def broken(*args, **kwargs):
        raise RuntimeError(f"failed on {args[0]!r}")

    monkeypatch.setattr(engine, "search", broken)
    with caplog.at_level(logging.INFO):
        reply = protected.get("/search", params={"q": "a private question about khorog"})
    assert reply.status_code == 500 and "internal error" in reply.json()["detail"]
    service = [r for r in caplog.records if not r.name.startswith("httpx")]  # the test client logs URLs
    assert not any("khorog" in r.getMessage() or "khorog" in (r.exc_text or "") for r in service)
    assert any("RuntimeError" in r.getMessage() for r in service)
    text = protected.get("/metrics").text
    assert 'qa_requests_total{method="GET",route="/search",status="500"} 1' in text


def test_metric_labels_stay_bounded(protected: TestClient) -> None:
    before = len(protected.get("/metrics").text)
    for i in range(50):
        protected.request(f"MADEUP{i}", f"/nothing/{i}")
    text = protected.get("/metrics").text
    assert 'method="OTHER",route="unmatched"' in text
    assert len(text) < before + 3000


def _through_gate(app, receive, body_timeout: float) -> list[dict]:  # type: ignore[no-untyped-def]
    """What the body gate sends for one POST /ask whose body ``receive`` delivers."""
    import asyncio

    from api.security import RequestGate

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    gate = RequestGate(
        app, api_key=None, protect_reads=False, max_body_bytes=10_000, body_timeout=body_timeout
    )
    scope = {"type": "http", "method": "POST", "path": "/ask", "headers": [], "root_path": ""}
    asyncio.run(asyncio.wait_for(gate(scope, receive, send), 5))
    return sent


def test_a_client_that_sends_its_body_too_slowly_gets_408() -> None:
    import asyncio

    async def app(scope, receive, send):  # reads the body, as a route would
        await receive()
        raise AssertionError("the body never arrived")

    async def slow_receive():
        await asyncio.sleep(5)
        return {"type": "http.request", "body": b"{}", "more_body": False}

    sent = _through_gate(app, slow_receive, body_timeout=0.2)
    assert sent[0]["status"] == 408 and b"did not arrive" in sent[1]["body"]


def test_every_response_carries_the_security_headers(protected: TestClient) -> None:
    for path in ("/", "/health", "/static/app.js", "/documents/nope"):
        headers = protected.get(path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY", path
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, path
    refused = protected.post("/documents", json={"doc_id": "x", "text": "y"})  # the gate's own reply
    assert refused.status_code == 401 and refused.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in protected.get("/docs").headers  # Swagger UI runs inline code


def test_a_wrong_key_is_rejected_and_a_missing_one_asked_for(protected: TestClient) -> None:
    missing = protected.post("/documents", json={"doc_id": "x", "text": "y"})
    assert "Authorization: Bearer" in missing.json()["detail"]
    wrong = protected.post(
        "/documents", json={"doc_id": "x", "text": "y"}, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401 and wrong.json()["detail"].startswith("API key rejected")


def test_the_favicon_is_served(protected: TestClient) -> None:
    icon = protected.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_a_json_route_says_413_for_a_chunked_body_over_its_limit(protected: TestClient) -> None:
    """No Content-Length to refuse early: the body gate stops the read midway, and the route
    answers what the gate decided, not "There was an error parsing the body"."""

    def chunks():
        for _ in range(50):
            yield b"x" * 4096

    reply = protected.post(
        "/documents",
        content=chunks(),
        headers={"content-type": "application/json", "Authorization": "Bearer s3cret"},
    )
    assert reply.status_code == 413 and "over" in reply.json()["detail"], reply.text


def test_a_body_trickled_in_small_pieces_is_cut_off_at_one_deadline() -> None:
    """Each piece arrives well within the deadline; the body as a whole does not."""
    import asyncio
    import time

    async def app(scope, receive, send):  # reads the whole body, as a route would
        while (await receive()).get("more_body"):
            pass
        raise AssertionError("the whole body arrived")

    async def trickle():
        await asyncio.sleep(0.1)
        return {"type": "http.request", "body": b"x", "more_body": True}

    t0 = time.perf_counter()
    sent = _through_gate(app, trickle, body_timeout=0.5)
    assert sent[0]["status"] == 408 and time.perf_counter() - t0 < 1.5


def test_a_read_takes_a_body_of_its_own_size_only(make_engine, small_corpus) -> None:
    """/ask needs a few KB; 15 MB bodies from clients without a key are refused up front."""
    from api.security import MAX_READ_BODY_BYTES

    client = TestClient(create_app(make_engine(corpus=small_corpus, max_document_bytes=5_000_000)))
    big = b'{"question": "' + b"x" * (MAX_READ_BODY_BYTES + 10) + b'"}'
    reply = client.post("/ask", content=big, headers={"content-type": "application/json"})
    assert reply.status_code == 413
    questions = ["Which ferry resumed its service on Sunday? " + "x" * 1800] * 64
    assert len(json.dumps({"questions": questions}).encode()) < MAX_READ_BODY_BYTES
    reply = client.post("/ask/batch", json={"questions": questions[:2], "top_k": 1})
    assert reply.status_code != 413
