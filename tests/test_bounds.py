"""Every request's work is bounded: windows read per question and per request, a queue that
refuses rather than grows, and a batch that stops when its client leaves."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.admission import AskQueue
from api.app import create_app
from qa.engine import Engine
from qa.reading.reader import within_budget, within_chars
from qa.reading.spans import Window
from qa.tools.bounds import count_windows
from tests.conftest import SEEDS, running_server

LONG = " ".join(
    f"Officials in district {i} said that {i * 10} families had left their homes by Monday."
    for i in range(40)
)


def _window(passage: int) -> Window:
    return Window(passage, [101, 102], [0, 0], [None, None])


def test_windows_are_cut_per_question_in_passage_order() -> None:
    windows = [_window(p) for p in (0, 0, 1, 1, 1, 2, 3, 3)]  # passages 0-1: question 0; 2-3: question 1
    kept = within_budget(windows, [0, 0, 1, 1], budget=3)
    assert [w.passage for w in kept] == [0, 0, 1, 2, 3, 3]
    assert within_budget(windows, [0, 0, 1, 1], budget=0) == windows
    assert within_chars(["a" * 10, "b" * 10, "c" * 10], 25) == ["a" * 10, "b" * 10]
    assert within_chars(["a" * 100], 25) == ["a" * 100]  # the best passage is always read


def test_a_question_reads_at_most_its_window_budget(make_engine, tmp_path: Path) -> None:
    corpus = tmp_path / "long"
    corpus.mkdir()
    for d in range(12):
        (corpus / f"doc{d}.txt").write_text(
            "\n\n".join(LONG.replace("district", f"region{d} district") for _ in range(3))
        )
    engine: Engine = make_engine(corpus=corpus, max_windows_per_question=20, max_windows_per_request=30)
    assert engine.reader is not None
    read = count_windows(engine.reader)
    reply = engine.ask("How many families had left their homes?", top_k=50, max_answers=20)
    assert len(reply.passages) > 10 and read and read[0] <= 20
    read.clear()
    engine.ask_batch(["How many families left?", "When did families leave?", "Who said so?"], top_k=50)
    assert read and read[0] <= 30  # three questions share the request's budget


def test_a_full_queue_is_a_503_with_retry_after(seed_engine: Engine) -> None:
    app = create_app(seed_engine)
    app.state.ask_queue = AskQueue(computing=1, waiting=0)
    client = TestClient(app)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with app.state.ask_queue.admit():
            held.set()
            release.wait(30)

    worker = threading.Thread(target=hold)
    worker.start()
    try:
        held.wait(10)
        reply = client.post("/ask", json={"question": "How many troops did Tajikistan mobilize?"})
        assert reply.status_code == 503 and reply.headers["retry-after"] == "2"
        assert "busy" in reply.json()["detail"]
        assert client.get("/search", params={"q": "Tajikistan troops"}).status_code == 200
        assert client.get("/health").status_code == 200
    finally:
        release.set()
        worker.join()
    assert (
        client.post("/ask", json={"question": "How many troops did Tajikistan mobilize?"}).status_code == 200
    )


@pytest.mark.slow
def test_a_batch_stops_when_its_client_leaves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server(data, SEEDS, QA_MAX_WAITING_ASKS="4") as url:
        port = int(url.rsplit(":", 1)[1])
        body = json.dumps(
            {
                "questions": [f"How many troops did Tajikistan mobilize, case {i}?" for i in range(64)],
                "top_k": 50,
            }
        ).encode()
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(
                b"POST /ask/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            time.sleep(0.5)  # the first part is being read
        log = data.parent / f"{data.name}-server.log"
        deadline = time.time() + 60
        while "the client left" not in log.read_text() and time.time() < deadline:
            time.sleep(0.2)
        assert "the client left; stopped after" in log.read_text()


def test_each_part_of_a_batch_reads_its_share_of_the_budget(make_engine, tmp_path: Path) -> None:
    """The API reads a batch 8 questions at a time; the parts together stay within the
    request's budget instead of each getting all of it."""
    corpus = tmp_path / "long"
    corpus.mkdir()
    for d in range(6):
        (corpus / f"doc{d}.txt").write_text(LONG.replace("district", f"region{d} district"))
    engine = make_engine(corpus=corpus, max_windows_per_request=64)
    assert engine.reader is not None
    read = count_windows(engine.reader)
    client = TestClient(create_app(engine))
    questions = [f"How many families had left their homes, case {i}?" for i in range(16)]
    reply = client.post("/ask/batch", json={"questions": questions, "top_k": 50})
    assert reply.status_code == 200 and len(reply.json()["results"]) == 16
    assert read and all(n <= 32 for n in read)  # each reader call of a part: 8 of 16 questions, half of 64
