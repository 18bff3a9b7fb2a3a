"""``qa index DIR --ray``: passages embedded by Ray actors on a local Ray (127.0.0.1 only),
written to the Qdrant back end, searchable like a locally embedded corpus."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from index.embedder import Embedder
from qa.engine import Engine
from qa.settings import Settings
from tests.conftest import ROOT, SEEDS

pytest.importorskip("ray", reason="--ray needs pip install '.[scale]'")
pytest.importorskip("qdrant_client", reason="the Qdrant back end needs pip install '.[scale]'")


@pytest.mark.slow
def test_index_with_ray_into_qdrant(tmp_path: Path, embedder: Embedder) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "QA_BACKEND": "qdrant",
        "QA_QDRANT_PATH": str(tmp_path / "qdrant"),
        "RAY_ADDRESS": "",  # never join a cluster this machine may know of
    }
    command = [sys.executable, "-m", "qa.cli", "index", str(SEEDS), "--ray", "--ray-workers", "2"]
    command += ["--data-dir", str(tmp_path / "data")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "5 documents indexed" in done.stdout

    settings = Settings(
        data_dir=tmp_path / "data", backend="qdrant", qdrant_path=tmp_path / "qdrant", reader=False
    )
    with Engine(settings, embedder=embedder) as engine:
        passages = [p for batch in engine.index.iter_passages() for p in batch]
        assert engine.health().passages == len(passages) > 50
        stored = engine.index.vectors_at([(p.doc_id, p.paragraph) for p in passages])
        local = embedder.encode([p.text for p in passages])
        cosines = [float(a @ b) for a, b in zip(stored, local, strict=True) if a is not None]
        assert len(cosines) == len(passages) and min(cosines) >= 0.999, min(cosines)
        hit = engine.search("Afghan troops fled into Tajikistan overnight", k=1).passages[0]
        assert "fled into Tajikistan" in hit.text
        # A second run finds nothing to do (and starts no Ray job).
        assert engine.sync(SEEDS, progress=False) == (0, 0)
