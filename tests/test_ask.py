"""Answers end to end with the shipped reader weights: offsets, abstention, /ask, `qa ask`."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from qa.engine import Engine
from qa.reading.reader import ReaderUnavailable, verify_weights
from qa.settings import DEFAULT_READER

QUESTIONS = [
    "How many troops did Tajikistan mobilize?",
    "Who is the president of Afghanistan?",
    "Which base did American troops quietly slip out of on Friday?",
]


@pytest.fixture(scope="module")
def client(seed_engine: Engine) -> TestClient:
    assert seed_engine.reader is not None, "the shipped reader weights must load"
    return TestClient(create_app(seed_engine))


def test_shipped_weights_match_their_checksum(tmp_path) -> None:
    info = verify_weights(DEFAULT_READER)
    assert info["recipe"]["seed"] is not None and info["weights_sha256"]
    tampered = tmp_path / "reader"
    tampered.mkdir()
    for f in DEFAULT_READER.iterdir():
        (tampered / f.name).write_bytes(f.read_bytes())
    with open(tampered / "model.safetensors", "r+b") as fh:
        fh.seek(-4, 2)
        fh.write(b"\x00\x01\x02\x03")
    with pytest.raises(ReaderUnavailable):
        verify_weights(tampered)


@pytest.mark.parametrize("question", QUESTIONS)
def test_citations_point_at_the_exact_characters(client: TestClient, question: str) -> None:
    reply = client.post("/ask", json={"question": question, "top_k": 5}).json()
    if question != QUESTIONS[1]:  # three presidents compete in the seeds for that one
        assert reply["answers"], reply
    scores = [a["score"] for a in reply["answers"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert len(reply["answers"]) <= 3 and len(reply["passages"]) == 5
    if (
        question == QUESTIONS[0]
    ):  # the seed example: three articles state it, two of them so the reader sees it
        top = reply["answers"][0]
        assert top["text"] == "20,000" and {"001", "003"} <= {c["doc_id"][:3] for c in top["citations"]}
    documents: dict[str, str] = {}
    for answer in reply["answers"]:
        assert answer["citations"]
        for c in answer["citations"]:
            text = documents.setdefault(c["doc_id"], client.get(f"/documents/{c['doc_id']}").json()["text"])
            assert text[c["start"] : c["end"]] == c["text"]
            assert c["context"][c["context_start"] : c["context_end"]] == c["text"]
            assert 0 <= c["score"] <= 1


def test_unanswerable_question_gets_no_answer_but_passages(client: TestClient) -> None:
    reply = client.post("/ask", json={"question": "What is the boiling point of mercury in kelvin?"}).json()
    assert reply["answers"] == [] and reply["passages"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"question": ""},
        {"question": "   "},
        {"question": "x" * 2001},
        {"question": "ok?", "top_k": 0},
        {"question": "ok?", "top_k": 51},
        {"question": "ok?", "max_answers": 0},
        {"question": "ok?", "unknown": 1},
        {"question": 42},
    ],
)
def test_ask_bad_input_is_a_clear_4xx(client: TestClient, body: dict) -> None:
    response = client.post("/ask", json=body)
    assert response.status_code in (400, 422) and response.json()["detail"]


def test_ask_filtered_to_one_document(client: TestClient) -> None:
    reply = client.post("/ask", json={"question": QUESTIONS[0], "doc_ids": ["001_b6733ea8aba2a067"]}).json()
    cited = {c["doc_id"] for a in reply["answers"] for c in a["citations"]}
    assert cited <= {"001_b6733ea8aba2a067"}
    assert {p["doc_id"] for p in reply["passages"]} == {"001_b6733ea8aba2a067"}


def test_qa_ask_local_prints_highlighted_answer_and_json(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from qa.cli import main

    argv = ["ask", QUESTIONS[2], "--local", "--data-dir", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "[[" in out and "]]" in out and "confidence" in out  # plain markers when not a terminal
    assert main([*argv, "--json"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply["question"] == QUESTIONS[2] and "answers" in reply and "passages" in reply


HARBOUR = {
    "a": "The port authority said the harbour of Velmora reopened on 14 March after repairs to "
    "its breakwater.",
    "b": "Fishing boats returned to Velmora, whose harbour reopened on 14 March, the mayor told "
    "reporters on Friday.",
    "c": "Traders in Velmora said business picked up after the harbour reopened on 14 March "
    "following the storm.",
    # The same words in a story about something else:
    "z": "The school choir of Dunmore gave its spring concert of folk songs in the town hall on "
    "14 March, and the tickets sold out.",
}


def _harbour(make_engine, tmp_path, names: str):  # type: ignore[no-untyped-def]
    """An engine over the ``HARBOUR`` reports named in ``names``."""
    corpus = tmp_path / "harbour"
    corpus.mkdir()
    for name in names:
        (corpus / f"{name}.txt").write_text(HARBOUR[name] + "\n")
    return make_engine(corpus=corpus)


def test_answer_cites_sources_beyond_the_passages_read(make_engine, tmp_path) -> None:
    engine = _harbour(make_engine, tmp_path, "abc")
    reply = engine.ask("When did the harbour of Velmora reopen?", top_k=1)
    assert len(reply.passages) == 1 and reply.answers
    best = reply.answers[0]
    assert best.text == "14 March"
    assert {c.doc_id for c in best.citations} == {"a", "b", "c"}
    for c in best.citations:
        assert engine.document(c.doc_id).text[c.start : c.end] == "14 March"


def test_the_same_words_in_an_unrelated_story_are_never_cited(make_engine, tmp_path) -> None:
    """The corroboration pass finds "14 March" word for word in a story about something
    else; the reader, reading it for this question, does not give that answer there."""
    engine = _harbour(make_engine, tmp_path, "abz")
    reply = engine.ask("When did the harbour of Velmora reopen?", top_k=1)
    assert reply.answers and reply.answers[0].text == "14 March"
    cited = {c.doc_id for a in reply.answers for c in a.citations}
    assert "z" not in cited and "a" in cited
    assert all("z" not in {c.doc_id for c in a.citations} for a in reply.answers)


def test_a_question_is_embedded_once_however_many_passes_read_it(make_engine, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine = _harbour(make_engine, tmp_path, "abc")
    calls: list[str] = []
    encode = engine.retriever.encoder.encode_query
    monkeypatch.setattr(engine.retriever.encoder, "encode_query", lambda q: calls.append(q) or encode(q))
    monkeypatch.setattr(engine.retriever, "_query_cache", type(engine.retriever._query_cache)(0))
    reply = engine.ask("When did the harbour of Velmora reopen?", top_k=1)
    assert len(reply.answers[0].citations) == 3  # corroborated: a second reading pass
    assert calls == ["When did the harbour of Velmora reopen?"]
