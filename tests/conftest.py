from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from index.embedder import Embedder
from qa.engine import Engine
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="session")
def seed_engine(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Engine:
    """A read-only engine over the seed corpus, shared by the tests that only read."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("seed-index"), corpus=SEEDS)
    engine = Engine(settings, embedder=embedder)
    yield engine
    engine.close()


@pytest.fixture
def make_engine(tmp_path: Path, embedder: Embedder):
    """Engines over a private data directory (for tests that write); reopenable."""
    opened: list[Engine] = []

    def make(corpus: Path | None = None, data_dir: Path | None = None, **overrides) -> Engine:
        settings = Settings(data_dir=data_dir or tmp_path / "data", corpus=corpus, **overrides)
        engine = Engine(settings, embedder=embedder)
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.close()


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("000_a764001855818956", "004_0b86c02cdc35424d"):
        shutil.copy(SEEDS / f"{name}.txt", corpus)
    return corpus


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, corpus: Path = SEEDS, **env: str) -> tuple[subprocess.Popen, str]:
    """Start `qa serve` on a free port and wait until /health says ready."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qa.cli",
                "serve",
                "--port",
                str(port),
                "--corpus",
                str(corpus),
                "--data-dir",
                str(data_dir),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        )
    try:
        wait_ready(url, proc, log_path)
    except BaseException:
        proc.kill()
        raise
    return proc, url


@contextmanager
def running_server(data_dir: Path, corpus: Path = SEEDS, **env: str) -> Iterator[str]:
    proc, url = start_server(data_dir, corpus, **env)
    try:
        yield url
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def wait_ready(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if json.loads(r.read())["ready"]:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError("server did not start:\n" + log_path.read_text())
        time.sleep(0.3)
