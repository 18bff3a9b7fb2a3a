"""A full disk: writes answer 507 naming it and lose nothing, no temporary file stays behind,
and closing says one line instead of a traceback."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app

PARAGRAPH = "The harbour authority said the ferry to the island resumed its service on {} morning. "


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs (needs root and permission to mount; skips otherwise)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): " + done.stderr.decode().strip())
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_is_a_507_and_loses_nothing(small_disk: Path, make_engine, caplog) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(data_dir=small_disk / "data", query_runtime="torch")
    client = TestClient(create_app(engine))
    kept = []
    status = 201
    for i in range(200):
        text = "\n\n".join(PARAGRAPH.format(f"day {i}-{j}") * 6 for j in range(60))
        reply = client.post("/documents", json={"doc_id": f"doc-{i}", "text": text})
        status = reply.status_code
        if status != 201:
            break
        kept.append((f"doc-{i}", text))
    assert status == 507, reply.text
    assert "no space left on the disk holding" in reply.json()["detail"]
    assert kept, "the disk filled before the first document"
    for doc_id, text in kept:  # every acknowledged write is whole
        assert client.get(f"/documents/{doc_id}").json()["text"] == text
    assert client.get(f"/documents/doc-{len(kept)}").status_code == 404  # the refused one is absent
    with caplog.at_level(logging.WARNING):
        engine.close()
    assert not [p for p in (small_disk / "data").rglob("*") if ".tmp" in p.name]
    assert "snapshot was not saved" in caplog.text and "Traceback" not in caplog.text
    reopened = make_engine(data_dir=small_disk / "data", query_runtime="torch")  # still full
    assert reopened.health().documents == len(kept)


def test_an_import_refused_midway_stores_none_of_its_documents(make_engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The disk fills while the second of three documents is written: the import answers
    507 and none of the three is stored, in the store or in search."""
    import json
    import sqlite3

    from index.local.store import PassageStore as Store

    engine = make_engine(query_runtime="torch")
    client = TestClient(create_app(engine))
    real_put = Store._put
    calls = {"n": 0}

    def filling(db, doc, paragraphs, vectors):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise sqlite3.OperationalError("database or disk is full")
        return real_put(db, doc, paragraphs, vectors)

    monkeypatch.setattr(Store, "_put", staticmethod(filling))
    lines = [json.dumps({"doc_id": f"ferry-{i}", "text": PARAGRAPH.format(f"day {i}") * 3}) for i in range(3)]
    reply = client.post("/documents/import?name=ferries.jsonl", content="\n".join(lines).encode())
    assert reply.status_code == 507, reply.text
    assert calls["n"] == 2
    for i in range(3):
        assert client.get(f"/documents/ferry-{i}").status_code == 404
    assert engine.health().documents == engine.health().passages == 0
    assert engine.search("ferry to the island resumed", k=5).passages == []
