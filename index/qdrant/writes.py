"""Writing and deleting documents on Qdrant, each whole as readers see it
(``index.qdrant.versions``): one write at a time in this process, markers first."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from index.backend import Document, DocumentExistsError, stable_id
from index.qdrant.connection import Store
from index.qdrant.schema import (
    Names,
    Schema,
    doc_condition,
    ones,
    passage_id,
    passage_payload,
    record,
    sparse_weights,
)
from index.qdrant.versions import Markers, Versions
from index.text.paragraphs import Paragraph
from index.text.terms import term_counts, term_positions

with contextlib.suppress(ImportError):  # the optional extra; connection.connect says it is missing
    from qdrant_client import models as qm


class Writer:
    def __init__(
        self,
        store: Store,
        names: Names,
        schema: Schema,
        versions: Versions,
        markers: Markers,
        known: Callable[[list[str]], set[str]],
        get_state: Callable[[str], str | None],
        prefix_vector: Callable[[], bool],
        written: Callable[[], None],
    ) -> None:
        self.store = store
        self.names = names
        self.schema = schema
        self.versions = versions
        self.markers = markers
        self._known = known
        self._get_state = get_state
        self._prefix_vector = prefix_vector
        self._written = written  # term statistics changed: read them afresh
        self.lock = threading.Lock()  # one write (or delete, or sweep) at a time here
        self.mean_length: float | None = None

    def write(
        self, docs: Sequence[Document], split: Sequence[list[Paragraph]], vectors: np.ndarray, replace: bool
    ) -> None:
        doc_ids = [d.doc_id for d in docs]
        with self.lock:
            if not replace and (existing := self._known(doc_ids)):
                raise DocumentExistsError(sorted(existing)[0])
            # Each write is a new version (index.qdrant.versions): its passages, then the
            # records naming it, then the other versions' passages go.
            version = uuid.uuid4().hex[:16]
            self.markers.mark(doc_ids, version)
            points = self._passage_points(docs, split, vectors, version)
            self.schema.index_metadata(list(docs))
            self.store.upsert(self.names.passages, points, between=self.markers.refresh)
            records = [record(doc, version, len(ps)) for doc, ps in zip(docs, split, strict=True)]
            keep = dict.fromkeys(doc_ids, version)
            if replace:
                self.store.upsert(self.names.documents, records, between=self.markers.refresh)
            else:
                # Another replica may have passed the same check at the same moment: a record is
                # only inserted, never overwritten, then read back. A write whose record is not
                # the stored one lost the race: its passages go and it answers "exists" (409).
                self.store.upsert(self.names.documents, records, update_mode=qm.UpdateMode.INSERT_ONLY)
                keep |= self.versions.of(doc_ids)
            for doc_id in doc_ids:  # the versions readers do not see: the previous, or this if it lost
                self.versions.delete_passages(doc_id, keep_version=keep[doc_id])
                self.markers.refresh()
            self.markers.unmark()
            self._written()
            self.versions.forget(doc_ids)
            lost = sorted(d for d in doc_ids if keep[d] != version)
            if lost:
                raise DocumentExistsError(lost[0])

    def _passage_points(
        self, docs: Sequence[Document], split: Sequence[list[Paragraph]], vectors: np.ndarray, version: str
    ) -> list[Any]:
        texts = [p.text for paragraphs in split for p in paragraphs]
        counts = term_counts(texts)
        positions = [term_positions(t) for t in texts]
        mean_length = self._bm25_mean_length([length for _, length in counts])
        prefix_vector = self._prefix_vector()
        points, row = [], 0
        for doc, paragraphs in zip(docs, split, strict=True):
            for number, p in enumerate(paragraphs):
                tf, length = counts[row]
                weights = sparse_weights(tf, length, mean_length)
                vector: dict[str, Any] = {
                    "dense": np.asarray(vectors[row], dtype=np.float32).tolist(),
                    "bm25": qm.SparseVector(indices=list(weights), values=list(weights.values())),
                }
                payload = passage_payload(doc, version, number, p, positions[row])
                if not prefix_vector:
                    payload["prefixes"] = sorted(positions[row])
                elif positions[row]:
                    vector["prefix"] = ones(positions[row])
                point_id = passage_id(doc.doc_id, version, number)
                points.append(qm.PointStruct(id=point_id, vector=vector, payload=payload))
                row += 1
        return points

    def _bm25_mean_length(self, lengths: list[int]) -> float:
        """The ``avglen`` of the sparse vectors: the first batch's mean, kept from then on.
        Two replicas writing their first batch at once both offer theirs; only the first is
        stored (insert-only) and both use the stored one, so every vector has one avglen."""
        if self.mean_length is None:
            key = f"bm25_mean_length:{self.names.passages}"
            offered = max(1.0, float(np.mean(lengths))) if lengths else 1.0
            point = qm.PointStruct(
                id=stable_id("state", key), vector={}, payload={"key": key, "value": repr(offered)}
            )
            self.store.upsert(self.names.state, [point], update_mode=qm.UpdateMode.INSERT_ONLY)
            self.mean_length = float(self._get_state(key) or offered)
        return self.mean_length

    def delete(self, doc_id: str) -> bool:
        """Delete a document: its record first (readers stop seeing its passages at once),
        then its passages, which goes for passages left without a record, too. Marked like
        a write: a delete killed between the two is finished by the sweep."""
        with self.lock:
            known = bool(self._known([doc_id]))
            if not known and not self.store.any_point(
                self.names.passages, qm.Filter(must=[doc_condition(doc_id)])
            ):
                return False
            self.markers.mark([doc_id], "")
            self.store.delete(self.names.documents, qm.PointIdsList(points=[stable_id("document", doc_id)]))
            self.versions.delete_passages(doc_id)
            self.markers.unmark()
            self._written()
            self.versions.forget([doc_id])
        return True
