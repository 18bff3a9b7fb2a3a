"""The ``qa`` command against a real server started on a free port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.cli import main
from tests.conftest import ROOT, SEEDS

QA = [sys.executable, "-m", "qa.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    data = tmp_path_factory.mktemp("cli-data")
    log = open(data / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*QA, "serve", "--port", str(port), "--corpus", str(SEEDS), "--data-dir", str(data)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if json.loads(r.read())["ready"]:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("server did not start:\n" + (data / "server.log").read_text())
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


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
    code = main(["search", "anything", "--url", f"http://127.0.0.1:{_free_port()}"])
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
