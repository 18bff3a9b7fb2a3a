"""The ``qa`` command against a real server started on a free port."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.cli import main
from tests.conftest import ROOT, free_port, running_server

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
    assert "1. " in out.stdout and "score" in out.stdout and "\x1b[" not in out.stdout


def test_search_json(server: str) -> None:
    out = _run("search", "Who ordered the departure of US forces?", "-k", "3", "--url", server, "--json")
    reply = json.loads(out.stdout)
    assert len(reply["passages"]) == 3


def test_add_then_search(server: str, tmp_path: Path) -> None:
    doc = tmp_path / "cli-added.txt"
    doc.write_text("The harbour authority said the ferry to the island resumed service on Sunday.\n")
    out = _run("add", str(doc), "--url", server)
    assert out.returncode == 0 and "cli-added: 1 passages" in out.stdout
    again = _run("add", str(doc), "--url", server)
    assert again.returncode == 1 and "already exists" in again.stderr
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
    assert set(reply) == {"question", "answers", "passages"}
    text = _run("ask", "Which base did American troops quietly slip out of on Friday?", "--url", server)
    assert text.returncode == 0 and ("[[" in text.stdout or "No answer" in text.stdout)


def test_a_data_dir_built_from_another_folder_is_served_as_it_is(tmp_path: Path) -> None:
    """`qa index DIR --data-dir X`, then `qa serve --data-dir X` (no --corpus): DIR's
    documents stay; seeds/ is not synced into X."""
    corpus = tmp_path / "mine"
    corpus.mkdir()
    (corpus / "harbour.txt").write_text("The harbour authority said the ferry resumed service on Sunday.\n")
    data = tmp_path / "x"
    built = _run("index", str(corpus), "--data-dir", str(data))
    assert built.returncode == 0, built.stderr
    from qa.cli.main import default_corpus

    assert default_corpus(data) is None
    assert default_corpus(tmp_path / "new") is not None  # a new data dir gets seeds/
    out = _run("ask", "When did the ferry resume service?", "--local", "--data-dir", str(data), "--json")
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert {p["doc_id"] for p in reply["passages"]} == {"harbour"}
