from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from index.embedder import Embedder
from qa.engine import Engine
from qa.settings import Settings
from qa.tools import devserver

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    """The product's embedder: torch for passages, ONNX Runtime for queries."""
    return Embedder(onnx_dir=tmp_path_factory.mktemp("models"))


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


def start_server(data_dir: Path, corpus: Path = SEEDS, **env: str):
    return devserver.start_server(data_dir, corpus, **env)


def running_server(data_dir: Path, corpus: Path = SEEDS, **env: str):
    return devserver.running_server(data_dir, corpus, **env)


free_port = devserver.free_port


@contextmanager
def serving(engine: Engine) -> Iterator[str]:
    """A real HTTP server over ``engine`` in this process (uvicorn in a thread, 127.0.0.1);
    its base URL. No model is loaded: the engine's are served."""
    import uvicorn

    from api.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)
    assert server.started, "the test server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
