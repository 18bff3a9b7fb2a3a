"""The data directory: one writer at a time, and read-only directories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from index.backend import Document
from index.local.corpus_index import CorpusIndex
from index.local.datadir import DataDirInUse, DataDirUnavailable, ReadOnlyDataDir, check_free
from tests.conftest import ROOT, SEEDS
from tests.test_corpus_index import HashEncoder, add, sync

HOLD = """
import sys, time
from pathlib import Path
from index.local.datadir import DataDirLock
DataDirLock(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_writer_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(DataDirInUse, match=rf"in use by another process \(pid {holder.pid}\)"):
            CorpusIndex(tmp_path, HashEncoder())
        with pytest.raises(DataDirInUse):
            check_free(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    # The OS released the lock with the process: no stale lock after a crash.
    index = CorpusIndex(tmp_path, HashEncoder())
    index.close()


def test_closing_an_index_releases_its_directory(tmp_path: Path) -> None:
    CorpusIndex(tmp_path, HashEncoder()).close()
    CorpusIndex(tmp_path, HashEncoder()).close()


def test_read_only_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    built = tmp_path / "built"
    index = CorpusIndex(built, HashEncoder())
    sync(index, SEEDS)
    index.close()
    for d in (empty, built):
        d.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the directories look as they do to others
        real_access = os.access
        monkeypatch.setattr(
            os,
            "access",
            lambda p, mode: False if mode == os.W_OK and Path(p) in (empty, built) else real_access(p, mode),
        )
    try:
        with pytest.raises(DataDirUnavailable, match="read-only and holds no index"):
            CorpusIndex(empty, HashEncoder())
        served = CorpusIndex(built, HashEncoder())
        assert served.read_only and served.sparse("Tajikistan troops", 3)
        with pytest.raises(ReadOnlyDataDir, match="read-only"):
            add(served, [Document("x", "x", "A short note about the river crossing on Monday morning.")])
        with pytest.raises(ReadOnlyDataDir):
            served.delete("000_a764001855818956")
        served.close()
    finally:
        for d in (empty, built):
            d.chmod(0o755)


def _built(tmp_path: Path) -> Path:
    index = CorpusIndex(tmp_path, HashEncoder())
    sync(index, SEEDS)
    index.close()
    return tmp_path


def _damage(path: Path, at: float = 0.5, size: int = 4096) -> None:
    data = bytearray(path.read_bytes())
    lo = int(len(data) * at)
    data[lo : lo + size] = os.urandom(min(size, len(data) - lo))
    path.write_bytes(bytes(data))


def test_a_damaged_store_is_refused_with_one_clear_line(tmp_path: Path) -> None:
    _damage(_built(tmp_path) / "store.sqlite3", at=0.4, size=20000)
    with pytest.raises(DataDirUnavailable) as refused:
        CorpusIndex(tmp_path, HashEncoder())
    message = str(refused.value)
    assert "store.sqlite3" in message and "re-index" in message and "\n" not in message


def test_a_manifest_holding_null_rebuilds_instead_of_crashing(tmp_path: Path) -> None:
    (_built(tmp_path) / "manifest.json").write_text("null")
    index = CorpusIndex(tmp_path, HashEncoder())
    assert len(index.vectors) == len(index.lexical) == index.store.counts()[1]
    index.close()


def test_garbage_in_the_vectors_file_is_noticed_and_repaired(tmp_path: Path) -> None:
    _built(tmp_path)
    index = CorpusIndex(tmp_path, HashEncoder())
    query = index.encoder.encode(["Tajikistan mobilized troops at the border"])[0]
    expected = index.dense(query, 5)
    index.close()
    _damage(tmp_path / "vectors.faiss", at=0.6, size=2048)
    encoder = HashEncoder()
    reopened = CorpusIndex(tmp_path, encoder)
    assert reopened.dense(query, 5) == expected
    assert encoder.calls == 0  # rebuilt from the stored vectors
    reopened.close()
