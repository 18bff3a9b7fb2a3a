"""The ``qa`` command against a real server started on a free port."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.text.formats import read_document
from qa.cli import main
from tests.conftest import ROOT, free_port, running_server, serving

QA = [sys.executable, "-m", "qa.cli"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("cli-data")) as url:
        yield url


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QA, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_search_prints_ranked_passages(server: str) -> None:
    out = _run("search", "How many troops did Tajikistan mobilize?", "--url", server)
    assert out.returncode == 0, out.stderr
    assert "Tajikistan has mobilized 20,000 military reservists" in out.stdout
    assert "1. " in out.stdout and "relevance" in out.stdout and "\x1b[" not in out.stdout


def test_search_json(server: str) -> None:
    out = _run("search", "Who ordered the departure of US forces?", "-k", "3", "--url", server, "--json")
    reply = json.loads(out.stdout)
    assert len(reply["passages"]) == 3


def test_add_then_search(server: str, tmp_path: Path) -> None:
    doc = tmp_path / "cli-added.txt"
    doc.write_text("The harbour authority said the ferry to the island resumed service on Sunday.\n")
    out = _run("add", str(doc), "--service", server)
    assert out.returncode == 0 and "cli-added: 1 passage\n" in out.stdout
    again = _run("add", str(doc), "--service", server)
    assert again.returncode == 1 and "already exists" in again.stderr and "--replace" in again.stderr
    found = _run("search", "When did the ferry resume service?", "-k", "1", "--url", server)
    assert "ferry to the island" in found.stdout


def test_server_errors_become_one_line(server: str) -> None:
    out = _run("search", "   ", "--url", server)
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "empty" in out.stderr


def test_unreachable_server_says_how_to_start_it(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["search", "anything", "--url", f"http://127.0.0.1:{free_port()}"])
    err = capsys.readouterr().err
    assert code != 0 and "qa serve" in err and err.count("\n") == 1


def test_ask_against_the_server(server: str) -> None:
    out = _run(
        "ask", "Which base did American troops quietly slip out of on Friday?", "--url", server, "--json"
    )
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert set(reply) == {"question", "answers", "passages", "dates_differ", "note"}
    text = _run("ask", "Which base did American troops quietly slip out of on Friday?", "--url", server)
    assert text.returncode == 0 and ("[[" in text.stdout or "No answer" in text.stdout)


def test_a_data_dir_built_from_another_folder_is_served_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`qa index DIR --data-dir X`, then `qa serve --data-dir X` (no --corpus): DIR's
    documents stay; seeds/ is not synced into X."""
    corpus = tmp_path / "mine"
    corpus.mkdir()
    (corpus / "harbour.txt").write_text("The harbour authority said the ferry resumed service on Sunday.\n")
    data = tmp_path / "x"
    assert main(["index", str(corpus), "--data-dir", str(data)]) == 0, capsys.readouterr().err
    from qa.stores.opening import default_corpus

    assert default_corpus(data) is None
    assert default_corpus(tmp_path / "new") is not None  # a new data dir gets seeds/
    capsys.readouterr()
    asked = ["ask", "When did the ferry resume service?", "--local", "--data-dir", str(data), "--json"]
    assert main(asked) == 0
    reply = json.loads(capsys.readouterr().out)
    assert {p["doc_id"] for p in reply["passages"]} == {"harbour"}


def test_version_and_help_say_what_they_should() -> None:
    out = _run("--version")
    assert out.returncode == 0 and out.stdout.startswith("qa (newsqa) ")
    serve_help = _run("serve", "--help").stdout
    assert "port to listen on" in serve_help and "address to listen on" in serve_help
    assert "passages to return" in _run("search", "--help").stdout


def test_delete_and_clear_messages_for_bad_files(server: str, tmp_path: Path) -> None:
    doc = tmp_path / "cli-gone.txt"
    doc.write_text("The harbour authority said the ferry to the island stopped for the winter on Monday.\n")
    assert _run("add", str(doc), "--service", server).returncode == 0
    out = _run("delete", "cli-gone", "--url", server)
    assert out.returncode == 0 and "cli-gone: deleted" in out.stdout
    again = _run("delete", "cli-gone", "--url", server)
    assert again.returncode == 1 and "no document" in again.stderr
    missing = _run("add", str(tmp_path / "nope.txt"), "--service", server)
    assert missing.returncode == 1 and "no such file" in missing.stderr
    folder = _run("add", str(tmp_path), "--service", server)
    assert folder.returncode == 1 and "is a folder" in folder.stderr


def test_json_into_a_closed_pipe_ends_quietly(server: str) -> None:
    import shlex

    command = " ".join(
        shlex.quote(a) for a in [*QA, "search", "Tajikistan troops", "--json", "--url", server]
    )
    out = subprocess.run(
        f"{command} | head -c 10", shell=True, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr


def test_index_skips_invalid_files_when_asked_and_search_runs_locally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "mixed"
    corpus.mkdir()
    (corpus / "good.txt").write_text(
        "The harbour authority said the ferry resumed service on Sunday morning.\n"
    )
    (corpus / "latin1.txt").write_bytes(
        "Caf\xe9 owners said the market reopened on Monday morning.".encode("latin-1")
    )
    data = tmp_path / "x"
    assert main(["index", str(corpus), "--data-dir", str(data)]) == 1
    stopped = capsys.readouterr()
    assert "latin1.txt" in stopped.err and "not UTF-8" in stopped.err
    assert main(["index", str(corpus), "--data-dir", str(data), "--skip-invalid"]) == 0
    done = capsys.readouterr()
    assert "1 document indexed" in done.out and "1 file skipped" in done.out and "latin1.txt" in done.err
    assert main(["search", "When did the ferry resume?", "--local", "--data-dir", str(data), "--json"]) == 0
    found = capsys.readouterr()
    assert [p["doc_id"] for p in json.loads(found.out)["passages"]] == ["good"]


def test_ask_a_file_of_questions(server: str, tmp_path: Path) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text("How many troops did Tajikistan mobilize?\n\nWho is the president of Tajikistan?\n")
    out = _run("ask", "--file", str(questions), "--url", server, "--json")
    assert out.returncode == 0, out.stderr
    replies = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["question"] for r in replies] == [
        "How many troops did Tajikistan mobilize?",
        "Who is the president of Tajikistan?",
    ]
    assert all(set(r) == {"question", "answers", "passages", "dates_differ", "note"} for r in replies)


def test_a_busy_port_is_reported_before_the_models_load(tmp_path: Path) -> None:
    import socket
    import time

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        t0 = time.perf_counter()
        out = _run("serve", "--port", str(port), "--data-dir", str(tmp_path / "d"))
        assert out.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in out.stderr
        assert time.perf_counter() - t0 < 8  # no model was loaded


def test_a_restart_on_the_same_port_is_not_refused_by_lingering_connections(tmp_path: Path) -> None:
    """A server that closed an idle keep-alive connection leaves it in TIME_WAIT on its port;
    a supervisor restarting ``qa serve`` there at once must not be told the port is busy."""
    import socket

    from qa.cli.serve import preflight

    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = server.accept()
        conn.close()  # the server closes first: its side of the connection waits in TIME_WAIT
        assert client.recv(1) == b""
        client.close()
    preflight(tmp_path / "d", "127.0.0.1", port)  # the old server is gone: free to restart


def test_add_refuses_what_is_not_a_regular_file_at_once(server: str, tmp_path: Path) -> None:
    """A FIFO used to block forever and /dev/zero to read until MemoryError."""
    import os

    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    for target in (fifo, Path("/dev/zero")):
        out = _run("add", str(target), "--service", server)
        assert out.returncode == 1 and "not a regular file" in out.stderr, out.stderr


def test_add_of_a_file_over_the_limit_says_so(server: str, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("word " * 300_000)  # 1.5 MB
    out = _run("add", str(big), "--service", server, "--max-bytes", "1000000")
    assert out.returncode == 1 and "larger than 1,000,000 bytes" in out.stderr
    assert "no QA service" not in out.stderr


def test_ask_file_goes_on_past_bad_lines_and_names_them(server: str, tmp_path: Path) -> None:
    questions = tmp_path / "questions.txt"
    lines = [
        "Who is the president of Tajikistan?",
        "x" * 2500,  # over the question limit
        "How many troops did Tajikistan mobilize?\u2028(the one about reservists)",
    ]
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = _run("ask", "--file", str(questions), "--url", server, "--json")
    assert out.returncode == 1
    assert f"{questions}:2: the question is 2,500 characters" in out.stderr
    replies = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["question"] for r in replies] == [lines[0], lines[2]]  # U+2028 did not split it


def test_a_server_that_takes_too_long_is_called_busy_not_absent(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        from qa.client import Client
        from qa.errors import ServiceBusy

        with pytest.raises(ServiceBusy, match=r"did not answer within 1 s.*may still complete"):
            Client(url, timeout=1).add("doc", "text")


@pytest.fixture
def keyed_server(make_engine, small_corpus) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A real HTTP server in this process (uvicorn in a thread) whose writes need a key."""
    with serving(make_engine(corpus=small_corpus, api_key="s3cret", reader=False)) as url:
        yield url


def test_writes_send_the_api_key_from_the_flag_or_the_environment(
    keyed_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "keyed.txt"
    doc.write_text("The harbour authority said the ferry to the island resumed service on Sunday.\n")
    monkeypatch.delenv("QA_API_KEY", raising=False)
    assert main(["add", str(doc), "--service", keyed_server]) == 1
    assert "API key" in capsys.readouterr().err
    assert main(["add", str(doc), "--service", keyed_server, "--api-key", "s3cret"]) == 0
    assert "keyed: 1 passage" in capsys.readouterr().out
    monkeypatch.setenv("QA_API_KEY", "s3cret")
    assert main(["delete", "keyed", "--url", keyed_server]) == 0
    assert "keyed: deleted" in capsys.readouterr().out


def test_add_takes_article_fields_feeds_and_json_lines(
    keyed_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.client import Client

    monkeypatch.setenv("QA_API_KEY", "s3cret")
    note = tmp_path / "khorog.txt"
    note.write_text(
        "Officials said the border crossing at Khorog reopened to trucks on Tuesday after a week.\n"
    )
    fields = ["--title", "Khorog reopens", "--published", "2021-07-06", "--source", "Asia-Plus"]
    assert (
        main(["add", str(note), *fields, "--url", "https://asia.example/k", "--service", keyed_server]) == 0
    )
    stored = Client(keyed_server).document("khorog")
    assert (stored.title, stored.published, stored.source, stored.url) == (
        "Khorog reopens",
        "2021-07-06",
        "Asia-Plus",
        "https://asia.example/k",
    )
    feed = tmp_path / "wire.rss"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Asia Wire</title>'
        "<item><title>One</title><guid>a</guid><description>More than 300 soldiers crossed the border on "
        "Saturday, the border service said.</description></item><item><title>Two</title><guid>b</guid>"
        "<description>Tajikistan called up 20,000 reservists to reinforce the border on Monday.</description>"
        "</item></channel></rss>"
    )
    lines = tmp_path / "export.jsonl"
    lines.write_text(
        json.dumps({"doc_id": "exp-1", "text": "The ferry to the island resumed service on Sunday morning."})
    )
    capsys.readouterr()
    assert main(["add", str(feed), str(lines), "--service", keyed_server]) == 0
    out = capsys.readouterr().out
    assert out.count("wire-") == 2 and "exp-1: 1 passage" in out and "2 added, 0 replaced, 0 unchanged" in out
    assert main(["add", str(feed), "--service", keyed_server]) == 0  # read again: nothing new
    again = capsys.readouterr().out
    assert again.count("(unchanged)") == 2 and f"{feed}: 0 added, 0 replaced, 2 unchanged" in again
    big = tmp_path / "big.jsonl"
    big.write_text(
        "\n".join(
            json.dumps(
                {"doc_id": f"bulk-{n}", "text": f"Bulletin {n}: the ferry to the island left on time."}
            )
            for n in range(600)
        )
    )
    capsys.readouterr()
    assert main(["add", str(big), "--service", keyed_server]) == 0  # in parts of 500 lines
    assert capsys.readouterr().out.count("bulk-") == 600
    rows = [{"doc_id": f"late-{n}", "text": f"Bulletin {n}: the ferry left on time."} for n in range(600)]
    rows[549] = {"doc_id": "late-549"}  # line 550 has no text
    strict = tmp_path / "strict.jsonl"
    strict.write_text("\n".join(json.dumps(r) for r in rows))
    assert main(["add", str(strict), "--strict", "--service", keyed_server]) == 1
    err = capsys.readouterr().err
    assert "line 550" in err and "nothing was sent" in err
    listed = Client(keyed_server).documents(sort="doc_id")
    assert not any(d.doc_id.startswith("late-") for d in listed)  # the first 500 too
    assert main(["add", str(note), str(feed), "--title", "x", "--service", keyed_server]) == 1
    assert "one file" in capsys.readouterr().err


def test_a_writer_refuses_a_data_dir_in_use_before_loading_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server holds the data directory: `qa index` says so at once, not after a minute of
    model loading."""
    from index.local.datadir import DataDirLock

    def no_models(*args: object, **kwargs: object) -> None:
        raise AssertionError("models were loaded before the data directory was checked")

    monkeypatch.setattr("qa.wiring.Embedder", no_models)
    data = tmp_path / "held"
    data.mkdir()
    lock = DataDirLock(data)
    try:
        assert main(["index", str(tmp_path), "--data-dir", str(data)]) == 1
        err = capsys.readouterr().err
        assert "in use" in err and "without --local" in err
    finally:
        lock.release()


def test_a_local_search_reads_beside_the_server_that_holds_the_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_engine
) -> None:  # type: ignore[no-untyped-def]
    """`qa search --local` while a server holds the directory: read-only, no lock taken,
    what the server has committed is found (including what it added after we last looked)."""
    data = tmp_path / "served"
    server = make_engine(data_dir=data, reader=False)  # holds the directory's lock
    server.add("ferry", "The harbour authority said the ferry to the island resumed service on Sunday.")
    assert (
        main(["search", "When did the ferry resume service?", "--local", "--data-dir", str(data), "--json"])
        == 0
    )
    out = capsys.readouterr()
    assert "read-only" in out.err and json.loads(out.out)["passages"][0]["doc_id"] == "ferry"
    server.add("bridge", "Officials in Kestrel Bay said the harbour bridge would stay closed until May.")
    assert (
        main(
            [
                "search",
                "When will the Kestrel Bay bridge reopen?",
                "--local",
                "--data-dir",
                str(data),
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["passages"][0]["doc_id"] == "bridge"
    server.add("later", "A third note, about the ferry timetable for the winter months on the island.")
    assert (
        server.search("winter ferry timetable", k=1).passages[0].doc_id == "later"
    )  # the writer still writes


def test_outside_the_repository_the_default_is_an_empty_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.stores.opening import default_corpus

    monkeypatch.chdir(tmp_path)
    assert default_corpus(tmp_path / "data") is None
    monkeypatch.chdir(ROOT)
    assert default_corpus(tmp_path / "fresh") == Path("seeds")


def test_search_and_ask_take_a_date_range(server: str) -> None:
    out = _run("search", "Afghan troops fled", "--published-after", "2021-07-05", "--url", server, "--json")
    assert out.returncode == 0, out.stderr
    assert {p["doc_id"] for p in json.loads(out.stdout)["passages"]} == {"002_c893cae8a75fbf29"}
    printed = _run(
        "search", "Afghan troops fled", "--published-after", "2021-07-05", "-k", "1", "--url", server
    )
    assert "AFP · 2021-07-05" in printed.stdout  # the source named by headline, outlet and date
    none = _run(
        "ask", "How many troops did Tajikistan mobilize?", "--published-before", "2021-07-01", "--url", server
    )
    assert none.returncode == 0 and "No answer" in none.stdout
    bad = _run("ask", "Anything?", "--published-after", "soon", "--url", server)
    assert bad.returncode == 1 and "published_after" in bad.stderr


def test_an_api_key_no_client_could_send_is_refused_at_start(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "QA_API_KEY": "ключ", "QA_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [*QA, "serve", "--port", "1"], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("qa: setting QA_API_KEY:") and "must be Latin-1 text" in line


def test_index_holds_each_document_to_the_bounds_of_the_api(tmp_path: Path) -> None:
    import os

    corpus = tmp_path / "bounded"
    corpus.mkdir()
    (corpus / "good.txt").write_text(
        "The harbour authority said the ferry resumed service on Sunday morning.\n"
    )
    sentence = "The committee said the border crossing reopened to trucks on Monday. "
    (corpus / "huge.txt").write_text(sentence * 400)  # ~28 KB: over the 20 KB set below
    (corpus / "tagged.txt").write_text("The market in the old town reopened on Monday after the storm.\n")
    (corpus / "tagged.json").write_text(json.dumps({"metadata": {"notes": "x" * 20_000}}))
    env = {**os.environ, "QA_MAX_DOCUMENT_BYTES": "20000"}
    data = tmp_path / "x"
    done = subprocess.run(
        [*QA, "index", str(corpus), "--data-dir", str(data), "--skip-invalid"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 document indexed" in done.stdout and "2 files skipped" in done.stdout, done.stdout
    assert "huge.txt" in done.stderr and "the limit is 20,000" in done.stderr
    assert "tagged.txt" in done.stderr and "metadata" in done.stderr
    assert "Traceback" not in done.stderr


def test_index_skip_invalid_leaves_out_a_bad_feed_entry_not_the_feed(tmp_path: Path) -> None:
    corpus = tmp_path / "feeds"
    corpus.mkdir()
    item = "<item><title>{t}</title><guid>{g}</guid><description>{d}</description></item>"
    entries = item.format(t="Ferry back", g="f1", d="The ferry to the island resumed on Sunday morning.")
    entries += item.format(t="Photo", g="p1", d="<img src='https://wire.example/p.jpg'/>")
    (corpus / "wire.rss").write_text(
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>W</title>{entries}</channel></rss>"
    )
    data = tmp_path / "x"
    done = _run("index", str(corpus), "--data-dir", str(data), "--skip-invalid")
    assert done.returncode == 0, done.stderr
    assert "1 document indexed" in done.stdout and "entry 2" in done.stderr


RDF = """<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://journal.example/"><title>Journal Preprints</title>
<link>https://journal.example/</link><description>New papers</description></channel>
<item rdf:about="https://journal.example/1"><title>Warm cells</title><link>https://journal.example/1</link>
<description>Researchers found that the cells divided twice as fast when warmed.</description>
<dc:date>2020-01-05</dc:date></item>
</rdf:RDF>"""


def test_rdf_is_a_feed_and_a_binary_file_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "mixed"
    corpus.mkdir()
    (corpus / "preprints.rdf").write_text(RDF)
    (corpus / "report.docx").write_bytes(b"PK\x03\x04" + bytes(range(256)))
    (corpus / "report.json").write_text("{}")  # not binary: a note beside the files, passed over
    done = _run("index", str(corpus), "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 0, done.stderr
    assert "1 document indexed" in done.stdout
    assert "report.docx: a ZIP archive" in done.stderr and "not a format we read" in done.stderr
    assert "report.json" not in done.stderr
    (entry,) = read_document("preprints.rdf", RDF.encode())  # the RDF item, as a feed entry
    assert (entry.article.title, (entry.article.published or "")[:10]) == ("Warm cells", "2020-01-05")
    capsys.readouterr()
    assert main(["add", str(corpus / "report.docx"), "--service", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a ZIP archive" in err and "convert it to text or HTML" in err
