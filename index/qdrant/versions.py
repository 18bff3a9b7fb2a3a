"""Writes made whole as readers see them, on a store without transactions.

Qdrant has no transactions across points, so a write is made whole by versions: each write of
a document draws a new version; its passages are written under point ids of (doc_id, version,
paragraph) with the version in their payload, then the document record, naming the version
(and carrying the sha256 that ``sync_corpus`` compares), then the previous version's passages
are deleted. Readers keep only passages of the version their document's record names, so a
write killed part-way shows the old document whole (or, for a new one, nothing). A delete
removes the record first (readers stop seeing the document at once), then every passage of
the doc_id.

Both leave a marker in the state collection before they start (doc_id, version, time), which
the writer refreshes every ``HEARTBEAT_S`` while it writes and removes when it is done. A
marker older than ``STALE_WRITE_S`` is a writer that died: the sweep (every replica runs it
every ``SWEEP_EVERY_S``; local mode, which one process holds, at open too) deletes the
passages its document's record does not name. Nobody waits for the sweep: a search drops
what a record does not name and asks again for more (``index.qdrant.search``), and the
counts leave those passages out (``Markers.unseen``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from index.backend import stable_id
from index.qdrant.connection import Store
from index.qdrant.schema import RECORD_FIELDS, Names, doc_condition

with contextlib.suppress(ImportError):  # the optional extra; connection.connect says it is missing
    from qdrant_client import models as qm

log = logging.getLogger(__name__)
PAGE = 1000  # records per read
RECORD_TTL_S = 2.0  # document records are read once for the reads of one question
HEARTBEAT_S = 30.0  # a writer refreshes its markers this often
STALE_WRITE_S = 120.0  # a marker not refreshed for this long is a writer that died
SWEEP_EVERY_S = 60.0
MARKER = "writing:"


class Versions:
    """Which version of each document readers see: the one its record names."""

    def __init__(self, store: Store, names: Names) -> None:
        self.store = store
        self.names = names
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def records(self, doc_ids: Sequence[str], fresh: bool = False) -> dict[str, dict[str, Any]]:
        """Document records without their text, by doc_id: read once for the several reads a
        question makes (passage versions, vectors, the articles cited), kept for
        ``RECORD_TTL_S`` seconds. A record this process writes or deletes is dropped at once
        (``forget``); another replica's change is seen within the TTL (until then a reader may
        still find the passages of the version it replaced, which it deletes right after).
        ``fresh``: read now, at the read consistency (what decides a write)."""
        now = time.monotonic()
        found: dict[str, dict[str, Any]] = {}
        missing = []
        for d in dict.fromkeys(doc_ids):
            cached = None if fresh else self._cache.get(d)
            if cached is not None and now - cached[0] < RECORD_TTL_S:
                if cached[1] is not None:
                    found[d] = cached[1]
            else:
                missing.append(d)
        for lo in range(0, len(missing), PAGE):
            part = missing[lo : lo + PAGE]
            ids = [stable_id("document", d) for d in part]
            got = {
                p.payload["doc_id"]: p.payload
                for p in self.store.retrieve(self.names.documents, ids, with_payload=RECORD_FIELDS)
                if p.payload
            }
            if len(self._cache) > 100_000:
                self._cache.clear()
            for d in part:
                self._cache[d] = (now, got.get(d))
            found |= {d: got[d] for d in part if d in got}
        return found

    def of(self, doc_ids: Sequence[str], fresh: bool = True) -> dict[str, str]:
        """The version each document's record names ("" for a record written before
        versions); documents without a record are absent. Not ``fresh``: a record read in
        the last ``RECORD_TTL_S`` seconds will do (the reads of one question)."""
        return {d: str(q.get("version", "")) for d, q in self.records(doc_ids, fresh).items()}

    def current(self, points: Sequence[Any]) -> list[Any]:
        """The points (with doc_id and version in their payload) whose version is the one
        their document's record names: never a passage of a write still under way,
        interrupted, or replaced, nor of a deleted document."""
        versions = self.of(sorted({p.payload["doc_id"] for p in points if p.payload}), fresh=False)
        return [
            p
            for p in points
            if p.payload and versions.get(p.payload["doc_id"]) == str(p.payload.get("version", ""))
        ]

    def forget(self, doc_ids: Sequence[str]) -> None:
        for d in doc_ids:
            self._cache.pop(d, None)

    def delete_passages(self, doc_id: str, keep_version: str | None = None) -> None:
        """Delete a document's passages, all or all but those of ``keep_version``."""
        self.store.delete(
            self.names.passages, qm.FilterSelector(filter=_other_versions(doc_id, keep_version))
        )


class Markers:
    """The write markers of this store: who is writing which document, and the sweep of
    those whose writer died."""

    def __init__(self, store: Store, names: Names, versions: Versions) -> None:
        self.store = store
        self.names = names
        self.versions = versions
        self._mine: dict[str, str] = {}  # doc_id -> version, of the write under way here
        self._marked_at = 0.0

    def mark(self, doc_ids: Sequence[str], version: str) -> None:
        """Before a write (``version``) or a delete (version "") touches a passage."""
        self._mine = dict.fromkeys(doc_ids, version)
        self._write_markers()

    def refresh(self) -> None:
        """Between the batches of a long write: its markers stay fresh."""
        if self._mine and time.time() - self._marked_at >= HEARTBEAT_S:
            self._write_markers()

    def unmark(self) -> None:
        ids: list[Any] = [_marker_id(d) for d in self._mine]
        batch = self.store.policy.write_batch
        for lo in range(0, len(ids), batch):
            self.store.delete(self.names.state, qm.PointIdsList(points=ids[lo : lo + batch]))
        self._mine = {}

    def _write_markers(self) -> None:
        now = time.time()
        points = [
            qm.PointStruct(
                id=_marker_id(d),
                vector={},
                payload={"key": MARKER + d, "value": json.dumps({"version": v, "at": now})},
            )
            for d, v in self._mine.items()
        ]
        self.store.upsert(self.names.state, points)
        self._marked_at = now

    def pending(self) -> list[tuple[Any, str, float]]:
        """(point id, doc_id, last refreshed) of every marker in the store (the state
        collection is small: a scan, which needs no payload index in local mode)."""
        found = []
        offset = None
        while True:
            points, offset = self.store.scroll(self.names.state, limit=PAGE, offset=offset, with_payload=True)
            for point in points:
                key = str((point.payload or {}).get("key", ""))
                if key.startswith(MARKER):
                    at = float(json.loads(point.payload["value"])["at"])
                    found.append((point.id, key.removeprefix(MARKER), at))
            if offset is None:
                return found

    def sweep(self, older_than: float = STALE_WRITE_S) -> int:
        """Delete the passages of writes whose writer died (a marker not refreshed for
        ``older_than`` seconds): those of a version the document's record does not name, or
        all of them when there is no record."""
        swept = 0
        for point_id, doc_id, at in self.pending():
            if time.time() - at < older_than:
                continue
            versions = self.versions.of([doc_id])
            self.versions.delete_passages(doc_id, keep_version=versions.get(doc_id))
            self.store.delete(self.names.state, qm.PointIdsList(points=[point_id]))
            swept += 1
        if swept:
            log.warning("swept the passages of %d interrupted writes", swept)
        return swept

    def unseen(self) -> int:
        """Passages in the store that no reader sees: those of the marked documents (a write
        under way or interrupted) whose version is not the one the record names."""
        doc_ids = sorted({doc_id for _, doc_id, _ in self.pending()})
        versions = self.versions.of(doc_ids)
        return sum(
            int(
                self.store.client.count(
                    self.names.passages, count_filter=_other_versions(d, versions.get(d)), exact=True
                ).count
            )
            for d in doc_ids
        )


def _marker_id(doc_id: str) -> int:
    return stable_id("state", MARKER + doc_id)


def _other_versions(doc_id: str, keep_version: str | None) -> Any:
    """A document's passages, all or all but those of ``keep_version``."""
    must_not: list[Any] = []
    if keep_version:
        must_not.append(qm.FieldCondition(key="version", match=qm.MatchValue(value=keep_version)))
    elif keep_version == "":  # a record written before versions: its passages have none
        must_not.append(qm.IsEmptyCondition(is_empty=qm.PayloadField(key="version")))
    return qm.Filter(must=[doc_condition(doc_id)], must_not=must_not or None)
