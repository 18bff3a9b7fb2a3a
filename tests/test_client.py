"""``qa.Client`` against a live service: the same behaviour as ``Engine`` in-process (the
same answers, offsets and errors), over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qa import Client, Engine
from qa.errors import (
    DocumentExists,
    DocumentNotFound,
    InvalidDocument,
    InvalidQuestion,
    InvalidRequest,
    ServiceUnavailable,
    Unauthorized,
)
from qa.tools.devserver import running_server

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
QUESTION = "How many troops did Tajikistan mobilize?"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    with (
        running_server(tmp_path_factory.mktemp("client-data"), SEEDS, QA_API_KEY="k3y") as url,
        Client(url, api_key="k3y") as remote,
    ):
        yield remote


def test_answers_and_passages_are_the_engines(client: Client, seed_engine: Engine) -> None:
    here, there = seed_engine.ask(QUESTION), client.ask(QUESTION)
    assert there.answers and there.answers[0].text == "20,000"
    assert [(a.text, [(c.doc_id, c.start, c.end) for c in a.citations]) for a in there.answers] == [
        (a.text, [(c.doc_id, c.start, c.end) for c in a.citations]) for a in here.answers
    ]
    found = client.search(QUESTION, k=3, published_after="2021-07-01")
    assert [p.doc_id for p in found.passages] == [
        p.doc_id for p in seed_engine.search(QUESTION, k=3, published_after="2021-07-01").passages
    ]
    batch = client.ask_batch([QUESTION, "Who is the president of Tajikistan?"], top_k=3)
    assert len(batch) == 2 and batch[0].question == QUESTION
    health = client.health()
    assert health.ready and health.reader and health.documents >= 5


@pytest.fixture(params=["engine", "client"])
def surface(request: pytest.FixtureRequest, make_engine: Any) -> Any:
    """The same calls, in-process (``Engine``) or against the live server (``Client``)."""
    if request.param == "engine":
        return make_engine(corpus=SEEDS, reader=True)
    return request.getfixturevalue("client")


def test_documents_round_trip_with_the_cores_errors(surface: Any) -> None:
    """One behaviour test, run on Engine and on Client: the same returns and errors."""
    client = surface
    text = "The harbour authority said the ferry to the island resumed service on Sunday morning."
    assert client.add("ferry", text, metadata={"desk": "ports"}, published="2021-07-04") == 1
    with pytest.raises(DocumentExists):
        client.add("ferry", text)
    doc = client.document("ferry")
    assert (doc.text, doc.metadata, doc.published, doc.fields_from["published"]) == (
        text,
        {"desk": "ports"},
        "2021-07-04",
        "given",
    )
    assert client.add("ferry", text + " Tickets cost 12 euros.", replace=True) == 1
    assert "ferry" in {d.doc_id for d in client.documents(sort="doc_id")}
    refused: list[tuple[str, str]] = []
    lines = b'{"doc_id": "a1", "text": "The ferry resumed on Sunday, officials said."}\n{"doc_id": "a2"}\n'
    written = client.import_file("desk.jsonl", lines, refused=refused)
    assert [(w.doc_id, w.status) for w in written] == [("a1", "added")] and refused[0][0] == "line 2"
    assert client.import_file("desk.jsonl", lines, refused=[])[0].status == "unchanged"
    with pytest.raises(InvalidDocument, match="line 2"):
        client.import_file("other.jsonl", lines)  # no refused list: one bad line refuses the file
    client.delete("ferry")
    with pytest.raises(DocumentNotFound):
        client.document("ferry")
    with pytest.raises(DocumentNotFound):
        client.delete("ferry")
    with pytest.raises(InvalidQuestion):
        client.ask("   ")
    with pytest.raises(InvalidRequest):
        client.ask(QUESTION, top_k=0)


def test_qa_export_writes_every_document_and_qa_add_takes_it_back(
    client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from qa.cli.main import main

    backup = tmp_path / "backup.jsonl"
    assert main(["export", str(backup), "--url", client.url, "--api-key", "k3y"]) == 0
    lines = backup.read_text(encoding="utf-8").splitlines()
    assert len(lines) == client.health().documents and "restore: qa add" in capsys.readouterr().out
    exported = [doc.doc_id for doc in client.export()]
    assert exported == sorted(exported) == [json.loads(line)["doc_id"] for line in lines]
    first = client.document(exported[0])
    client.delete(exported[0])
    assert main(["add", str(backup), "--service", client.url, "--api-key", "k3y"]) == 0
    assert client.document(exported[0]) == first  # restored as it was
    assert not list(tmp_path.glob(".*partial"))


def test_an_export_cut_off_part_way_leaves_no_file(tmp_path: Path) -> None:
    """A backup is whole or absent: a stream that breaks after two documents writes nothing."""

    def stream() -> Iterator[bytes]:
        yield b'{"doc_id": "a", "text": "One."}\n{"doc_id": "b", "text": "Two."}\n'
        raise httpx.ReadError("the connection was reset")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Broken(stream()))

    backup = tmp_path / "backup.jsonl"
    with (
        Client("http://qa.test", transport=httpx.MockTransport(handler)) as broken,
        pytest.raises(ServiceUnavailable, match="cut off"),
    ):
        broken.export_to(backup)
    assert list(tmp_path.iterdir()) == []


class _Broken(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks


def test_a_client_without_the_key_cannot_write(client: Client) -> None:
    with Client(client.url) as anonymous:
        assert anonymous.search(QUESTION, k=1).passages  # reads are open
        with pytest.raises(Unauthorized):
            anonymous.add("nope", "The ferry to the island resumed service on Sunday, officials said.")


def test_a_busy_service_is_retried_as_it_asks_then_reported() -> None:
    calls = []

    def busy_once(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"detail": "queue full"})
        health = {"status": "ok", "ready": True, "documents": 0, "passages": 0, "reader": False}
        return httpx.Response(200, json=health)

    with Client("http://service.test", transport=httpx.MockTransport(busy_once)) as remote:
        assert remote.health().ready and len(calls) == 2

    def always_busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "0"}, json={"detail": "queue full"})

    busy = httpx.MockTransport(always_busy)
    with (
        Client("http://service.test", transport=busy) as remote,
        pytest.raises(ServiceUnavailable, match="full"),
    ):
        remote.health()
    with Client("http://127.0.0.1:9", timeout=2) as nobody, pytest.raises(ServiceUnavailable, match="no QA"):
        nobody.health()


def test_the_readmes_python_examples_run(
    client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README.md's two Python examples, as written, against a temporary data directory and
    the live server of this module: both print 20,000."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    in_process, remote = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    in_process = in_process.replace('"data-python"', repr(str(tmp_path / "data-python")))
    in_process = in_process.replace('corpus="seeds"', f"corpus={str(SEEDS)!r}")
    remote = remote.replace('Client("http://127.0.0.1:8000")', f"Client({client.url!r}, api_key='k3y')")
    namespace: dict[str, object] = {}
    exec(compile(in_process, "README.md (Engine)", "exec"), namespace)
    namespace["engine"].close()  # type: ignore[attr-defined]
    exec(compile(remote, "README.md (Client)", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("20,000 [") and printed[-1] == "20,000"


def test_the_sites_python_examples_run(
    client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/python.md's examples, as written (the data directory and server aside), in a
    folder that holds the feed they import."""
    import re

    page = (ROOT / "docs" / "python.md").read_text(encoding="utf-8")
    in_process, remote = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "asia-wire.rss").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Asia Wire</title><item><title>Reservists'
        "</title><guid>w1</guid><description>Tajikistan called up 20,000 reservists to reinforce the border"
        " on Monday, officials said.</description></item></channel></rss>",
        encoding="utf-8",
    )
    in_process = in_process.replace('corpus="seeds"', f"corpus={str(SEEDS)!r}")
    remote = remote.replace(
        'Client("http://127.0.0.1:8000", api_key=None', f"Client({client.url!r}, api_key='k3y'"
    )
    namespace: dict[str, object] = {}
    exec(compile(in_process, "docs/python.md (Engine)", "exec"), namespace)
    engine = namespace["engine"]
    try:
        # the feed's one entry, as <stem>-<hash of its guid> (the note was deleted again)
        assert [d.source for d in engine.documents() if d.doc_id.startswith("asia-wire-")] == ["Asia Wire"]  # type: ignore[attr-defined]
    finally:
        engine.close()  # type: ignore[attr-defined]
    exec(compile(remote, "docs/python.md (Client)", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("003_9e887223774c4d77 ") and printed[-1].startswith("20,000 [")


def test_filters_and_their_errors_are_the_same_on_engine_and_client(surface: Any) -> None:
    """One behaviour test, run on Engine and on Client: date, document and metadata filters
    narrow the same way, and a bad filter is the same core error."""
    dated = surface.search(QUESTION, k=10, published_after="2021-07-05")
    assert dated.passages and all(p.published_day and p.published_day >= "2021-07-05" for p in dated.passages)
    assert not surface.search(QUESTION, k=10, published_before="1999-12-31").passages
    one = surface.search(QUESTION, k=10, doc_ids=["003_9e887223774c4d77"])
    assert {p.doc_id for p in one.passages} == {"003_9e887223774c4d77"}
    assert all(p.text for p in one.passages)
    assert not surface.search(QUESTION, k=10, metadata={"desk": "nowhere"}).passages
    with pytest.raises(DocumentNotFound, match="to filter on"):
        surface.search(QUESTION, doc_ids=["no-such-document"])
    with pytest.raises(InvalidRequest):
        surface.search(QUESTION, published_after="not a date")
    with pytest.raises(InvalidQuestion):
        surface.search("   ")
    answered = surface.ask(QUESTION, doc_ids=["003_9e887223774c4d77"])
    assert answered.answers[0].text == "20,000"
    assert {c.doc_id for c in answered.answers[0].citations} == {"003_9e887223774c4d77"}
