"""The Qdrant back end: the same store on a Qdrant cluster, a server, or a local-mode folder.

It is composed of rooms, each with its invariant in its docstring:

- ``connection``: the client (one node, several with fail-over, or a local-mode folder),
  ``ClusterPolicy``, and ``Store``, through which every write is acknowledged, ordered and
  retried and every read carries the read consistency;
- ``schema``: the three collections, their layout and payload indexes, and the points;
- ``versions``: writes made whole as readers see them (versions, write markers, the sweep);
- ``search``: candidate lists of only what readers see, filters, prefix-term IDF;
- ``listing``: pages of documents by keyset seek;
- ``migrations``: stores of earlier versions, and a model change re-embedded in the background.

This class wires them and implements ``index.backend.Backend``: writes and deletes (under
one in-process lock, with their markers), reads, counts of what readers see, and a sweeper
thread that clears what dead writers left.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.backend import (
    Backend,
    BackendUnavailable,
    DateRange,
    Document,
    DocumentExistsError,
    DocumentRow,
    Hit,
    StoredPassage,
    TextEncoder,
    corpus_source,
    parse_cursor,
    published_order,
    stable_id,
)
from index.qdrant.connection import ClusterPolicy, Store, connect, is_transport_error, reachable
from index.qdrant.listing import ID_FIELDS, NEWEST, KeysetPager, fields_past, floor_id, id_keys, newest
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
    doc_condition,
    document,
    ones,
    passage_id,
    passage_payload,
    record,
    sparse_weights,
    stored_passage,
)
from index.qdrant.search import Search
from index.qdrant.versions import STALE_WRITE_S, SWEEP_EVERY_S, Markers, Versions
from index.text.paragraphs import Paragraph
from index.text.terms import term_counts, term_positions

try:
    from qdrant_client import QdrantClient
    from qdrant_client import models as qm
except ImportError:  # pragma: no cover - the optional extra is missing
    QdrantClient = None  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)
PAGE = 1000  # points per scroll page

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
        self._write_lock = threading.Lock()
        self._listing_keys = False  # whether every document record has its listing keys
        self._mean_length: float | None = None
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
        self._listing_keys = not self.read_only or not without_listing_keys(self.store, self.names, 1)
        value = self.get_state(f"bm25_mean_length:{self.passages_name}")
        self._mean_length = float(value) if value else None
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
        with self._write_lock:  # never this process's own write under way
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
        self.add(docs, progress=True)

    # --- writes ------------------------------------------------------------------------
    @reachable
    def write(
        self,
        docs: Sequence[Document],
        split: Sequence[list[Paragraph]],
        vectors: np.ndarray,
        replace: bool = True,
    ) -> None:
        if not docs:
            return
        doc_ids = [d.doc_id for d in docs]
        with self._write_lock:
            if not replace and (existing := self.known_documents(doc_ids)):
                raise DocumentExistsError(sorted(existing)[0])
            # Each write is a new version (index.qdrant.versions): its passages, then the
            # records naming it, then the other versions' passages go.
            version = uuid.uuid4().hex[:16]
            self.markers.mark(doc_ids, version)
            points = self._passage_points(docs, split, vectors, version)
            self.schema.index_metadata(list(docs))
            self.store.upsert(self.passages_name, points, between=self.markers.refresh)
            records = [record(doc, version, len(ps)) for doc, ps in zip(docs, split, strict=True)]
            keep = dict.fromkeys(doc_ids, version)
            if replace:
                self.store.upsert(self.documents_name, records, between=self.markers.refresh)
            else:
                # Another replica may have passed the same check at the same moment: a record is
                # only inserted, never overwritten, then read back. A write whose record is not
                # the stored one lost the race: its passages go and it answers "exists" (409).
                self.store.upsert(self.documents_name, records, update_mode=qm.UpdateMode.INSERT_ONLY)
                keep |= self.versions.of(doc_ids)
            for doc_id in doc_ids:  # the versions readers do not see: the previous, or this if it lost
                self.versions.delete_passages(doc_id, keep_version=keep[doc_id])
                self.markers.refresh()
            self.markers.unmark()
            self.candidates.statistics_changed()
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
                if not self.candidates.prefix_vector:
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
        if self._mean_length is None:
            key = f"bm25_mean_length:{self.passages_name}"
            offered = max(1.0, float(np.mean(lengths))) if lengths else 1.0
            point = qm.PointStruct(
                id=stable_id("state", key), vector={}, payload={"key": key, "value": repr(offered)}
            )
            self.store.upsert(self.state_name, [point], update_mode=qm.UpdateMode.INSERT_ONLY)
            self._mean_length = float(self.get_state(key) or offered)
        return self._mean_length

    @reachable
    def delete(self, doc_id: str) -> bool:
        """Delete a document: its record first (readers stop seeing its passages at once),
        then its passages, which goes for passages left without a record, too. Marked like
        a write: a delete killed between the two is finished by the sweep."""
        with self._write_lock:
            known = bool(self.known_documents([doc_id]))
            if not known and not self.store.any_point(
                self.passages_name, qm.Filter(must=[doc_condition(doc_id)])
            ):
                return False
            self.markers.mark([doc_id], "")
            self.store.delete(self.documents_name, qm.PointIdsList(points=[stable_id("document", doc_id)]))
            self.versions.delete_passages(doc_id)
            self.markers.unmark()
            self.candidates.statistics_changed()
            self.versions.forget([doc_id])
        return True

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
    def dense(self, vector: np.ndarray, k: int, allowed: Any = None) -> list[Hit]:
        self.reembedding.check()
        return self.candidates.dense(vector, k, allowed)

    @reachable
    def sparse(self, query: str, k: int, allowed: Any = None) -> list[Hit]:
        self.reembedding.check()
        return self.candidates.sparse(query, k, allowed)

    @reachable
    def hybrid(
        self, vector: np.ndarray, query: str, k: int, allowed: Any = None
    ) -> tuple[list[Hit], list[Hit]]:
        """Both candidate lists in one request (``query_batch_points``): one round trip."""
        self.reembedding.check()
        return self.candidates.hybrid([vector], [query], k, allowed)[0]

    @reachable
    def hybrid_many(
        self, vectors: Sequence[np.ndarray], queries: Sequence[str], k: int, allowed: Any = None
    ) -> list[tuple[list[Hit], list[Hit]]]:
        """Every question's two candidate lists in one request."""
        self.reembedding.check()
        return self.candidates.hybrid(vectors, queries, k, allowed)

    @reachable
    def allowed(
        self,
        doc_ids: Sequence[str] | None,
        metadata: dict[str, Any] | None,
        published: DateRange | None = None,
    ) -> Any:
        return self.candidates.allowed(doc_ids, metadata, published)

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
        found = self.store.retrieve(self.documents_name, [stable_id("document", doc_id)], with_payload=True)
        return document(found[0].payload) if found and found[0].payload else None

    def _document_payloads(self, fields: list[str]) -> Iterator[dict[str, Any]]:
        offset = None
        while True:
            points, offset = self.store.scroll(
                self.documents_name, limit=PAGE, offset=offset, with_payload=fields
            )
            for p in points:
                if p.payload:
                    yield p.payload
            if offset is None:
                return

    @reachable
    def list_documents(
        self, limit: int | None = None, after: str | None = None, order: str = "doc_id"
    ) -> list[DocumentRow]:
        """A page by keyset seek on the records' listing keys (index.qdrant.listing): a few
        ordered scrolls of at most ``limit`` records, however many the store holds. Without a
        ``limit``, or on a store not yet given those keys (opened read-only), every doc_id is
        read and sorted here."""
        if limit is None or not self._listing_keys:
            return self._list_by_scan(limit, after, order)
        fields = [NEWEST, *ID_FIELDS] if order == "published" else ID_FIELDS
        pager = KeysetPager(fields, self._ordered_scroll(fields), _range_condition)
        cursor: list[float] | None = None
        skip = 0
        if after:
            ts, doc_id = parse_cursor(after, order)
            doc_id = floor_id(doc_id)
            cursor = [float(k) for k in id_keys(doc_id)]
            if order == "published":
                cursor.insert(0, newest(ts))
            skip = fields_past(doc_id)
        page = [r["doc_id"] for r in pager.page(limit, cursor, skip)]
        rows = self.article_fields(page)
        return [rows[d] for d in page if d in rows]

    def _ordered_scroll(self, fields: list[str]) -> Callable[[list[Any], str, int], list[dict[str, Any]]]:
        def scroll(conditions: list[Any], field: str, limit: int) -> list[dict[str, Any]]:
            points, _ = self.store.scroll(
                self.documents_name,
                scroll_filter=qm.Filter(must=conditions) if conditions else None,
                limit=limit,
                order_by=qm.OrderBy(key=field, direction=qm.Direction.ASC),
                with_payload=["doc_id", *fields],
            )
            return [p.payload for p in points if p.payload]

        return scroll

    def _list_by_scan(self, limit: int | None, after: str | None, order: str) -> list[DocumentRow]:
        keys = [(p["doc_id"], p.get("published")) for p in self._document_payloads(["doc_id", "published"])]
        if order == "published":
            keys.sort(key=lambda k: published_order(*k))
            if after:
                ts, doc_id = parse_cursor(after, order)
                cursor = (ts is None, -(ts or 0.0), doc_id)
                keys = [k for k in keys if published_order(*k) > cursor]
        else:
            keys = sorted(k for k in keys if k[0] > (after or ""))
        page = [doc_id for doc_id, _ in (keys if limit is None else keys[:limit])]
        rows = self.article_fields(page)
        return [rows[d] for d in page if d in rows]

    @reachable
    def article_fields(self, doc_ids: Sequence[str]) -> dict[str, DocumentRow]:
        rows: dict[str, DocumentRow] = {}
        for d, q in self.versions.records(sorted(set(doc_ids))).items():
            rows[d] = DocumentRow(
                q["doc_id"],
                q["title"],
                q.get("metadata") or {},
                q["source"],
                q["sha256"],
                int(q.get("passages", 0)),
                q.get("published"),
                q.get("outlet"),
                q.get("url"),
                q.get("provenance") or {},
            )
        return rows

    @reachable
    def document_sources(self) -> dict[str, tuple[str, str]]:
        return {
            p["doc_id"]: (p["source"], p["sha256"])
            for p in self._document_payloads(["doc_id", "source", "sha256"])
        }

    @reachable
    def known_documents(self, doc_ids: Sequence[str]) -> set[str]:
        if not doc_ids:
            return set()
        return set(self.versions.records(doc_ids, fresh=True)) & set(doc_ids)

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


def _range_condition(field: str, value: float, how: str) -> Any:
    """``field`` above ``value`` (``gt``) or equal to it (``eq``): ranges, which integer and
    float payload indexes both answer."""
    bounds = qm.Range(gt=value) if how == "gt" else qm.Range(gte=value, lte=value)
    return qm.FieldCondition(key=field, range=bounds)
