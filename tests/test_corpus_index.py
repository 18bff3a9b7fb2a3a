"""The on-disk index: persistence, live updates, repair after a crash, model changes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index.backend import Document, Filter
from index.indexer import Indexer
from index.local.corpus_index import CorpusIndex
from index.text.corpus import CorpusError
from qa.tools.add_latency import WORDS
from tests.conftest import SEEDS


class HashEncoder:
    """A deterministic stand-in for the embedder: fast, and its name can change."""

    def __init__(self, name: str = "hash-v1", dim: int = 16) -> None:
        self.name, self.dim, self.calls = name, dim, 0

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, hashlib.md5(word.encode()).digest()[0] % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def add(index: Any, docs: list[Document]) -> None:
    """Embed and write ``docs`` as the engine does (``index.indexer``)."""
    Indexer(index, index.encoder).add(docs)


def sync(index: Any, folder: Path, **options: Any) -> tuple[int, int]:
    """Keep ``index`` in step with ``folder`` as ``qa index`` does."""
    return Indexer(index, index.encoder).sync(folder, **options)


def _consistent(index: CorpusIndex) -> None:
    ids = set(index.store.passage_ids().tolist())
    assert len(index.vectors) == len(ids) == len(index.lexical)
    for vector_ids in (h.id for h in index.dense(index.encoder.encode(["border"])[0], 10_000)):
        assert vector_ids in ids


def _doc(doc_id: str, text: str) -> Document:
    return Document(doc_id, doc_id, text, {"lang": "en"})


def test_sync_persists_and_reopens_without_embedding(tmp_path: Path) -> None:
    encoder = HashEncoder()
    index = CorpusIndex(tmp_path, encoder)
    assert sync(index, SEEDS) == (5, 0)
    n = index.store.counts()[1]
    index.close()

    encoder = HashEncoder()
    index = CorpusIndex(tmp_path, encoder)
    assert sync(index, SEEDS) == (0, 0)
    assert encoder.calls == 0 and index.store.counts()[1] == n
    _consistent(index)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["embedding_model"] == "hash-v1" and manifest["dim"] == 16
    assert manifest["generation"] == index.store.generation
    assert list(manifest["corpora"]) == [f"corpus:{SEEDS.resolve()}"]


def test_corpus_changes_are_synced(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    index = CorpusIndex(tmp_path / "data", HashEncoder())
    sync(index, corpus)
    add(index, [_doc("api-doc", "A document added through the API about the border with Afghanistan.")])
    (corpus / "000_a764001855818956.txt").unlink()
    (corpus / "new.txt").write_text("Officials said a new bridge across the river was opened on Monday.\n")
    assert sync(index, corpus) == (1, 1)
    docs = {d[0] for d in index.store.list_documents()}
    assert "000_a764001855818956" not in docs and {"new", "api-doc"} <= docs
    _consistent(index)


def test_add_replace_delete_keep_faiss_bm25_and_store_in_step(tmp_path: Path) -> None:
    index = CorpusIndex(tmp_path, HashEncoder())
    add(index, [_doc("a", "The river border was closed on Monday after heavy fighting.\n\nTroops left.")])
    add(index, [_doc("b", "Reservists were sent to the mountain border by the president today.")])
    _consistent(index)
    add(index, [_doc("a", "A wholly new text about refugees crossing the border at night was filed.")])
    _consistent(index)
    assert [h.id for h in index.sparse("heavy fighting", 5)] == []
    assert index.delete("b") and not index.delete("b")
    _consistent(index)
    index.close()
    index = CorpusIndex(tmp_path, HashEncoder())
    _consistent(index)
    assert [d[0] for d in index.store.list_documents()] == ["a"]
    assert index.sparse("refugees", 5)


def test_filters_restrict_both_retrievers(tmp_path: Path) -> None:
    index = CorpusIndex(tmp_path, HashEncoder())
    sync(index, SEEDS)
    allowed = index.bind(Filter(doc_ids=("004_0b86c02cdc35424d",)))
    assert len(allowed.native) > 0
    docs = {
        p.doc_id
        for p in index.passages([h.id for h in index.sparse("Tajikistan border", 50, allowed)]).values()
    }
    assert docs == {"004_0b86c02cdc35424d"}
    dense = index.dense(index.encoder.encode(["Tajikistan"])[0], 50, allowed)
    assert {p.doc_id for p in index.passages([h.id for h in dense]).values()} == {"004_0b86c02cdc35424d"}
    assert len(index.bind(Filter(metadata=(("lang", "xx"),))).native) == 0


def test_crash_between_store_commit_and_index_save_is_repaired(tmp_path: Path) -> None:
    index = CorpusIndex(tmp_path, HashEncoder())
    sync(index, SEEDS)
    # Simulate a crash: the store commits a new document, the derived indexes are not saved.
    doc = _doc("late", "Late news says the border crossing reopened for trade on Tuesday morning.")
    from index.text.paragraphs import split_paragraphs

    paragraphs = split_paragraphs(doc.text)
    index.store.put_document(doc, paragraphs, index.encoder.encode([p.text for p in paragraphs]))
    index.close()  # the store and the directory's lock; FAISS and BM25 were never saved

    encoder = HashEncoder()
    reopened = CorpusIndex(tmp_path, encoder)
    assert encoder.calls == 0  # repaired from stored vectors, not re-embedded
    _consistent(reopened)
    hits = reopened.sparse("border crossing reopened trade", 1)
    assert reopened.passages([hits[0].id])[hits[0].id].doc_id == "late"


def test_corrupt_derived_files_are_rebuilt(tmp_path: Path) -> None:
    index = CorpusIndex(tmp_path, HashEncoder())
    sync(index, SEEDS)
    index.close()
    (tmp_path / "vectors.faiss").write_bytes(b"garbage")
    reopened = CorpusIndex(tmp_path, HashEncoder())
    _consistent(reopened)


def test_changing_the_embedding_model_reembeds(tmp_path: Path) -> None:
    index = CorpusIndex(tmp_path, HashEncoder("hash-v1", 16))
    sync(index, SEEDS)
    n = index.store.counts()[1]
    index.close()
    encoder = HashEncoder("hash-v2", 24)
    reopened = CorpusIndex(tmp_path, encoder)
    assert encoder.calls == n and reopened.vectors.dim == 24
    _consistent(reopened)


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_index_type_setting(tmp_path: Path, index_type: str) -> None:
    index = CorpusIndex(tmp_path, HashEncoder(), index_type=index_type)
    sync(index, SEEDS)
    assert index.vectors.index_type == index_type
    index.delete("000_a764001855818956")
    _consistent(index)


def test_auto_index_moves_to_hnsw_as_the_corpus_grows(tmp_path: Path) -> None:
    index = CorpusIndex(tmp_path, HashEncoder(), hnsw_threshold=60)
    add(index, [_numbered_doc("first", 0, 30)])
    assert index.vectors.index_type == "flat"
    add(index, [_numbered_doc("second", 30, 40)])  # 70 passages: past the threshold
    assert index.vectors.index_type == "hnsw"
    _consistent(index)
    index.close()
    reopened = CorpusIndex(tmp_path, HashEncoder(), hnsw_threshold=60)
    assert reopened.vectors.index_type == "hnsw" and len(reopened.vectors) == 70


def _numbered_doc(doc_id: str, lo: int, n: int) -> Document:
    text = "\n\n".join(
        f"Report {i} says that border post number {i} was reinforced today." for i in range(lo, lo + n)
    )
    return _doc(doc_id, text)


def test_a_sync_only_removes_documents_from_its_own_folder(tmp_path: Path) -> None:
    """`qa index A` then a sync of folder B (or of seeds/) must not delete A's documents,
    nor documents added through the API."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "alpha.txt").write_text("The alpha committee met on Monday to discuss the border crossing.")
    (b / "beta.txt").write_text("The beta committee met on Tuesday to discuss the river crossing.")
    index = CorpusIndex(tmp_path / "data", HashEncoder())
    assert sync(index, a) == (1, 0)
    add(index, [Document("note", "note", "An API note about the gamma committee and its long meeting.")])
    assert sync(index, b) == (1, 0)
    assert {d[0] for d in index.store.list_documents()} == {"alpha", "beta", "note"}
    (a / "alpha.txt").unlink()
    assert sync(index, a) == (0, 1)
    assert {d[0] for d in index.store.list_documents()} == {"beta", "note"}
    assert Indexer(index, index.encoder).sources() == {f"corpus:{b.resolve()}", "api"}
    _consistent(index)


def test_symlinks_in_a_corpus_folder_are_not_followed(tmp_path: Path) -> None:
    from index.text.corpus import read_corpus

    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash and other private lines of text.")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "real.txt").write_text("A real news paragraph about the border crossing on Monday.")
    (corpus / "x.txt").symlink_to("/etc/passwd")
    (corpus / "leak.txt").symlink_to(secret)
    (corpus / "linked-dir").symlink_to(outside, target_is_directory=True)
    assert [f.doc_id for f in read_corpus(corpus)] == ["real"]


def test_writes_do_not_rewrite_the_snapshot_and_a_crash_loses_nothing(tmp_path: Path) -> None:
    index = CorpusIndex(tmp_path, HashEncoder())
    sync(index, SEEDS)
    index.close()  # snapshot at close
    stamp = (tmp_path / "vectors.faiss").stat().st_mtime_ns
    index = CorpusIndex(tmp_path, HashEncoder())
    add(index, [_doc("late", "Late news says the ferry to the island resumed service on Sunday morning.")])
    assert index.delete("004_0b86c02cdc35424d")
    assert (tmp_path / "vectors.faiss").stat().st_mtime_ns == stamp  # no O(corpus) save per write
    hits = index.sparse("ferry island resumed service", 1)
    assert index.passages([hits[0].id])[hits[0].id].doc_id == "late"
    # A crash: the process dies without close(); the store has the writes, the snapshot not.
    index.store.close()
    index._dir_lock.release()  # what the OS does for a dead process
    encoder = HashEncoder()
    reopened = CorpusIndex(tmp_path, encoder)
    assert encoder.calls == 0  # replayed from stored vectors and texts
    _consistent(reopened)
    hits = reopened.sparse("ferry island resumed service", 1)
    assert reopened.passages([hits[0].id])[hits[0].id].doc_id == "late"
    assert not reopened.bind(Filter(doc_ids=("004_0b86c02cdc35424d",))).native.size
    assert all(
        reopened.passages([h.id])[h.id].doc_id != "004_0b86c02cdc35424d"
        for h in reopened.dense(HashEncoder().encode(["Taliban border"])[0], 200)
    )
    reopened.close()


def test_adding_one_document_to_a_large_index_is_cheap(tmp_path: Path) -> None:
    import time

    index = CorpusIndex(tmp_path, HashEncoder())
    words = WORDS[:10]  # the add-latency tool's news-like vocabulary
    docs = [
        _doc(
            f"d{i}",
            "\n\n".join(
                f"{' '.join(words[(i + j) % 10 :] + words[: (i + j) % 10])} number {i} part {j}."
                for j in range(10)
            ),
        )
        for i in range(2000)
    ]
    add(index, docs)  # 20,000 passages
    assert len(index.vectors) == 20_000
    times = []
    for i in range(5):
        t0 = time.perf_counter()
        add(index, [_doc(f"new{i}", "A new report says the harbour committee met on Friday to talk trucks.")])
        times.append(time.perf_counter() - t0)
    assert sorted(times)[2] < 0.1, times  # median index work of one add, encoder included
    _consistent(index)
    index.close()


def _corpus_of_three(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "top.txt").write_text("The ferry to the island resumed service on Sunday morning.")
    (corpus / "sub" / "one.txt").write_text("Border guards said 1,030 troops crossed on Monday.")
    (corpus / "sub" / "two.txt").write_text("Tajikistan mobilized 20,000 reservists on Tuesday.")
    return corpus


def test_an_unreadable_folder_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder that cannot be listed (permissions, a flaky mount) is not a folder whose files
    were deleted: its documents stay, and the user hears about it."""
    corpus = _corpus_of_three(tmp_path)
    index = CorpusIndex(tmp_path / "data", HashEncoder())
    assert sync(index, corpus) == (3, 0)
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if Path(path).name == "sub":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(CorpusError, match=r"(?s)nothing was changed.*sub: cannot list this folder"):
        sync(index, corpus)
    skipped: list = []
    assert sync(index, corpus, skipped=skipped) == (0, 0)
    assert [p.name for p, _ in skipped] == ["sub"]
    assert {d[0] for d in index.store.list_documents()} == {"top", "one", "two"}
    monkeypatch.undo()
    (corpus / "sub" / "two.txt").unlink()  # once readable again, a real removal is seen
    assert sync(index, corpus) == (0, 1)


def test_an_unreadable_file_keeps_its_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = _corpus_of_three(tmp_path)
    index = CorpusIndex(tmp_path / "data", HashEncoder())
    sync(index, corpus)
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "one.txt":
            raise PermissionError(13, "Permission denied")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    (corpus / "top.txt").write_text("The ferry to the island stopped again on Monday evening.")
    with pytest.raises(CorpusError, match=r"one\.txt: cannot read"):
        sync(index, corpus)
    skipped: list = []
    assert sync(index, corpus, skipped=skipped) == (1, 0)  # top changed; one kept
    assert [p.name for p, _ in skipped] == ["one.txt"]
    assert {d[0] for d in index.store.list_documents()} == {"top", "one", "two"}
    monkeypatch.undo()
    assert sync(index, corpus) == (
        0,
        0,
    )  # the partial sync was not remembered as whole


def test_metadata_filters_are_index_look_ups_and_old_stores_are_migrated(tmp_path: Path) -> None:
    import sqlite3

    index = CorpusIndex(tmp_path, HashEncoder())
    add(index, [_doc("a", "The ferry resumed on Sunday morning after the storm passed by.")])
    index.store._db.execute("UPDATE documents SET metadata = ? WHERE doc_id = 'a'", ('{"desk": "asia"}',))
    index.close()
    db = sqlite3.connect(tmp_path / "store.sqlite3")  # as a store written before the index existed
    db.execute("DROP TABLE metadata_values")
    db.execute("DELETE FROM state WHERE key = 'metadata_index'")
    db.commit()
    db.close()
    index = CorpusIndex(tmp_path, HashEncoder())
    index.store.list_documents = None  # type: ignore[assignment,method-assign]  # no scan allowed
    assert index.store.doc_ids_with_metadata({"desk": "asia"}) == ["a"]
    assert index.store.doc_ids_with_metadata({"desk": "europe"}) == []


def test_vectors_are_read_back_by_passage_in_the_order_asked(tmp_path: Path) -> None:
    encoder = HashEncoder()
    index = CorpusIndex(tmp_path, encoder)
    add(index, [_numbered_doc("a", 0, 150), _numbered_doc("b", 150, 150)])
    keys = [("b", 149), ("a", 0), ("a", 500), ("zz", 0), ("a", 0)] + [("a", i) for i in range(150)]
    keys += [("b", i) for i in range(150)]  # more pairs than one look-up takes
    got = index.vectors_at(keys)
    assert got[2] is None and got[3] is None
    texts = {(p.doc_id, p.paragraph): p.text for batch in index.iter_passages() for p in batch}
    assert sum(v is not None for v in got) == sum(k in texts for k in keys) > 250
    for key, vector in zip(keys, got, strict=True):
        if key in texts:
            assert vector is not None and np.allclose(vector, encoder.encode([texts[key]])[0], atol=1e-6)
    index.close()
