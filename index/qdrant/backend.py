"""The Qdrant back end: the same store on a Qdrant cluster, a server, or a local-mode folder.

It is composed of rooms, each with its invariant in its docstring:

- ``connection``: the client (one node, several with fail-over, or a local-mode folder),
  ``ClusterPolicy``, and ``Store``, through which every write is acknowledged, ordered and
  retried and every read carries the read consistency;
- ``schema``: the three collections, their layout and payload indexes, and the points;
- ``versions``: writes made whole as readers see them (versions, write markers, the sweep);
- ``writes``: writes and deletes, one at a time here, markers first;
- ``search``: candidate lists of only what readers see, filters, prefix-term IDF;
- ``documents`` and ``listing``: records, and pages of them by keyset seek;
- ``migrations``: stores of earlier versions, and a model change re-embedded in the background.

This class wires them and implements ``index.backend.Backend`` over them: its own work is
the state, the counts of what readers see, the reads of passages and vectors, and a sweeper
thread that clears what dead writers left.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from index.backend import (
    Backend,
    Document,
    DocumentRow,
    Filter,
    Hit,
    StoredPassage,
    TextEncoder,
    native,
    stable_id,
)
from index.errors import BackendUnavailable
from index.indexer import Indexer
from index.qdrant.connection import ClusterPolicy, Store, connect, is_transport_error, reachable
from index.qdrant.documents import Documents
from index.qdrant.migrations import (
    ARTICLE_FIELDS_STATE,
    Reembedding,
    add_listing_keys,
    detect_article_fields,
    without_listing_keys,
)
from index.qdrant.schema import (
    PASSAGE_FIELDS,
    CollectionLayout,
    Names,
    Schema,
    passage_id,
    passage_payload,
    stored_passage,
)
from index.qdrant.search import Search
from index.qdrant.versions import STALE_WRITE_S, SWEEP_EVERY_S, Markers, Versions
from index.qdrant.writes import Writer
from index.text.corpus import corpus_source
from index.text.paragraphs import Paragraph

with contextlib.suppress(ImportError):  # the optional extra; connection.connect says it is missing
    from qdrant_client import models as qm

log = logging.getLogger(__name__)

__all__ = ["ClusterPolicy", "CollectionLayout", "QdrantBackend", "passage_payload", "synced_from"]


class QdrantBackend(Backend):
    def __init__(
        self,
        client: Any,
        encoder: TextEncoder,
        prefix: str = "qa",
        where: str = "",
        layout: CollectionLayout | None = None,
        policy: ClusterPolicy | None = None,
    ) -> None:
        self.encoder = encoder
        self.where = where or "local mode"
        self.local = where.startswith("path ")
        self.layout = layout or CollectionLayout()
        self.policy = policy or ClusterPolicy()
        self.store = Store(client, self.policy, self.local)
        self.names = Names.of(prefix, encoder.name, encoder.dim)
        self.passages_name = self.names.passages
        self.documents_name = self.names.documents
        self.state_name = self.names.state
        self.schema = Schema(self.store, self.names, self.layout, encoder.dim)
        self.versions = Versions(self.store, self.names)
        self.markers = Markers(self.store, self.names, self.versions)
        self.candidates = Search(self.store, self.names.passages, self.layout, self.versions)
        self.reembedding = Reembedding(
            self.store, self.names, encoder.name, self._reembed, self.get_state, self.set_state
        )
        self.documents = Documents(self.store, self.names, self.versions)
        self.writer = Writer(
            self.store,
            self.names,
            self.schema,
            self.versions,
            self.markers,
            known=lambda doc_ids: self.known_documents(doc_ids),
            get_state=self.get_state,
            prefix_vector=lambda: self.candidates.prefix_vector,
            written=self.candidates.statistics_changed,
        )
        self._closing = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._prepare()

    @property
    def client(self) -> Any:
        return self.store.client

    @client.setter
    def client(self, client: Any) -> None:
        self.store.client = client

    @classmethod
    def open(
        cls,
        encoder: TextEncoder,
        url: str | None = None,
        api_key: str | None = None,
        path: Path | None = None,
        prefix: str = "qa",
        timeout: int = 30,
        layout: CollectionLayout | None = None,
        policy: ClusterPolicy | None = None,
    ) -> QdrantBackend:
        """Connect to a server or cluster (``url``: one node, or several comma-separated)
        or open a local-mode folder (``path``)."""
        client, where = connect(url, api_key, path, timeout, bool(policy and policy.grpc))
        try:
            return cls(client, encoder, prefix, where, layout, policy)
        except BackendUnavailable:
            client.close()
            raise
        except Exception as exc:
            client.close()
            if is_transport_error(exc):
                raise BackendUnavailable(f"cannot reach Qdrant at {where}: {exc}") from None
            if url:  # something answered, but not as Qdrant does (a proxy, another service)
                raise BackendUnavailable(
                    f"{where} does not answer as a Qdrant server ({type(exc).__name__}); check QA_QDRANT_URL"
                ) from None
            raise

    def _prepare(self) -> None:
        model_changed, self.candidates.prefix_vector, others = self.schema.prepare()
        if not self.candidates.prefix_vector:
            log.warning(
                "passages collection %s predates the prefix-term vector: a question's term "
                "weights are counted per term (cached); re-create it (a model change does) "
                "for the faster way",
                self.passages_name,
            )
        if not self.read_only:
            # Local mode: this process holds the folder, so every marker is a dead writer's.
            self.markers.sweep(older_than=0 if self.local else STALE_WRITE_S)
            if self.get_state(ARTICLE_FIELDS_STATE) != "1":
                detect_article_fields(self.store, self.names)
                self.set_state(ARTICLE_FIELDS_STATE, "1")
            add_listing_keys(self.store, self.names)  # after it, every record has them
        self.documents.listing_keys = not self.read_only or not without_listing_keys(
            self.store, self.names, 1
        )
        value = self.get_state(f"bm25_mean_length:{self.passages_name}")
        self.writer.mean_length = float(value) if value else None
        if model_changed:
            self.reembedding.begin()
        if self.reembedding.pending():
            self.reembedding.start(others)
        if not self.read_only:
            self._sweeper = threading.Thread(target=self._sweep_now_and_then, name="qa-sweep", daemon=True)
            self._sweeper.start()

    def _sweep_now_and_then(self) -> None:
        """Every ``SWEEP_EVERY_S``: clear what writers that died left (any replica's)."""
        while not self._closing.wait(SWEEP_EVERY_S):
            try:  # local mode: this process holds the folder, so every marker is a dead writer's
                self._sweep_interrupted(older_than=0 if self.local else STALE_WRITE_S)
            except Exception:  # a store down now is retried at the next round
                log.warning("the sweep of interrupted writes failed; retrying later", exc_info=True)

    @reachable
    def _sweep_interrupted(self, older_than: float = STALE_WRITE_S) -> int:
        with self.writer.lock:  # never this process's own write under way
            return self.markers.sweep(older_than)

    def preparing(self) -> str | None:
        try:
            self.reembedding.check()
        except BackendUnavailable as exc:
            return str(exc)
        return None

    def wait_prepared(self, timeout: float | None = None) -> bool:
        if self.reembedding.wait(timeout):
            return True
        if self.reembedding.failure is not None:
            raise BackendUnavailable(f"re-embedding for the new model failed: {self.reembedding.failure}")
        return False

    def _reembed(self, docs: list[Document]) -> None:
        Indexer(self, self.encoder).add(docs, progress=True)

    # --- writes ------------------------------------------------------------------------
    @reachable
    def write(
        self,
        docs: Sequence[Document],
        split: Sequence[list[Paragraph]],
        vectors: np.ndarray,
        replace: bool = True,
    ) -> None:
        if docs:
            self.writer.write(docs, split, vectors, replace)

    @reachable
    def delete(self, doc_id: str) -> bool:
        return self.writer.delete(doc_id)

    @reachable
    def get_state(self, key: str) -> str | None:
        found = self.store.retrieve(self.state_name, [stable_id("state", key)], with_payload=True)
        return str(found[0].payload["value"]) if found and found[0].payload else None

    @reachable
    def set_state(self, key: str, value: str) -> None:
        point = qm.PointStruct(id=stable_id("state", key), vector={}, payload={"key": key, "value": value})
        self.store.upsert(self.state_name, [point])

    # --- reads -------------------------------------------------------------------------
    @reachable
    def dense(self, vector: np.ndarray, k: int, where: Filter | None = None) -> list[Hit]:
        self.reembedding.check()
        return self.candidates.dense(vector, k, native(where))

    @reachable
    def sparse(self, query: str, k: int, where: Filter | None = None) -> list[Hit]:
        self.reembedding.check()
        return self.candidates.sparse(query, k, native(where))

    @reachable
    def hybrid(
        self, vector: np.ndarray, query: str, k: int, where: Filter | None = None
    ) -> tuple[list[Hit], list[Hit]]:
        """Both candidate lists in one request (``query_batch_points``): one round trip."""
        self.reembedding.check()
        return self.candidates.hybrid([vector], [query], k, native(where))[0]

    @reachable
    def hybrid_many(
        self, vectors: Sequence[np.ndarray], queries: Sequence[str], k: int, where: Filter | None = None
    ) -> list[tuple[list[Hit], list[Hit]]]:
        """Every question's two candidate lists in one request."""
        self.reembedding.check()
        return self.candidates.hybrid(vectors, queries, k, native(where))

    def bind(self, where: Filter) -> Filter:
        """A Qdrant filter on the passages' payload (doc_id, metadata, published_ts)."""
        return replace(where, native=self.candidates.compile(where))

    @reachable
    def prefix_idf(self, terms: set[str]) -> dict[str, float]:
        return self.candidates.prefix_idf(terms)

    def _statistics_changed(self) -> None:
        self.candidates.statistics_changed()

    @reachable
    def passages(self, ids: Sequence[int]) -> dict[int, StoredPassage]:
        if not ids:
            return {}
        found = self.store.retrieve(self.passages_name, [int(i) for i in ids], with_payload=PASSAGE_FIELDS)
        return {int(p.id): stored_passage(int(p.id), p.payload) for p in self.versions.current(found)}

    @reachable
    def vectors_at(self, keys: Sequence[tuple[str, int]]) -> list[np.ndarray | None]:
        if not keys:
            return []
        versions = self.versions.of(sorted({d for d, _ in keys}), fresh=False)
        ids = [passage_id(d, versions.get(d, ""), n) for d, n in keys]
        found = self.store.retrieve(self.passages_name, ids, with_payload=False, with_vectors=["dense"])
        vectors: dict[int, np.ndarray] = {}
        for p in found:
            dense = p.vector.get("dense") if isinstance(p.vector, dict) else None
            if dense is not None:
                vectors[int(p.id)] = np.asarray(dense, dtype=np.float32)
        return [vectors.get(i) for i in ids]

    @reachable
    def get_document(self, doc_id: str) -> Document | None:
        return self.documents.get(doc_id)

    @reachable
    def list_documents(
        self, limit: int | None = None, after: str | None = None, order: str = "doc_id"
    ) -> list[DocumentRow]:
        return self.documents.page(limit, after, order)

    @reachable
    def article_fields(self, doc_ids: Sequence[str]) -> dict[str, DocumentRow]:
        return self.documents.article_fields(doc_ids)

    @reachable
    def document_sources(self) -> dict[str, tuple[str, str]]:
        return {
            p["doc_id"]: (p["source"], p["sha256"])
            for p in self.documents.payloads(["doc_id", "source", "sha256"])
        }

    @reachable
    def known_documents(self, doc_ids: Sequence[str]) -> set[str]:
        return set(self.versions.records(doc_ids, fresh=True)) & set(doc_ids) if doc_ids else set()

    @reachable
    def passage_count(self, doc_id: str) -> int:
        found = self.versions.records([doc_id], fresh=True).get(doc_id)
        return int(found.get("passages", 0)) if found else 0

    @reachable
    def counts(self) -> tuple[int, int]:
        """Documents and the passages readers see (those of writes under way or interrupted
        left out). Exact in local mode; on a server, Qdrant's estimate (an exact count of
        hundreds of millions of points is a scan, and /health asks for it)."""
        docs = self.client.count(self.documents_name, exact=self.local).count
        passages = self.client.count(self.passages_name, exact=self.local).count
        return int(docs), max(0, int(passages) - self.markers.unseen())

    def iter_passages(self, batch: int = 1000) -> Iterator[list[StoredPassage]]:
        offset = None
        while True:
            points, offset = self._scroll_passages(batch, offset)
            yield [stored_passage(int(p.id), p.payload) for p in self.versions.current(points)]
            if offset is None:
                return

    @reachable
    def _scroll_passages(self, batch: int, offset: Any) -> tuple[list[Any], Any]:
        return self.store.scroll(self.passages_name, limit=batch, offset=offset, with_payload=PASSAGE_FIELDS)

    def close(self) -> None:
        self._closing.set()
        self.reembedding.stop()
        if self._sweeper is not None:
            self._sweeper.join(5)
        self.reembedding.wait(30)
        self.client.close()


def synced_from(
    folder: Path,
    url: str | None = None,
    api_key: str | None = None,
    path: Path | None = None,
    prefix: str = "qa",
) -> bool | None:
    """None when the store holds no documents yet; otherwise whether ``folder`` was synced
    into it (``qa serve`` keeps such a store in step with the folder). Loads no model."""
    if not url and (path is None or not path.exists()):
        return None
    client, where = connect(url, api_key, path, timeout=30, grpc=False)
    try:
        documents, state = f"{prefix}_documents", f"{prefix}_state"
        if not client.collection_exists(documents) or not client.count(documents, exact=True).count:
            return None
        if not client.collection_exists(state):
            return False
        key = f"corpus_sha256:{corpus_source(folder)}"
        return bool(client.retrieve(state, [stable_id("state", key)]))
    except Exception as exc:
        if is_transport_error(exc):
            raise BackendUnavailable(f"cannot reach Qdrant at {where}: {exc}") from None
        raise
    finally:
        client.close()
