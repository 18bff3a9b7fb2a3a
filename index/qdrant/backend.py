"""The Qdrant back end: the same store on a Qdrant cluster, a server, or a local-mode folder.

Three collections, all named from one prefix (``QA_QDRANT_COLLECTION``, default ``qa``)::

    {prefix}_passages_{model}_{dim}   one point per passage: a dense vector (the passage
                                      embedding, dot product), a sparse vector of BM25 term
                                      weights, a sparse vector of its prefix terms (1 each)
                                      and the payload doc_id, paragraph, start, end, text,
                                      metadata, terms
    {prefix}_documents                one point per document: doc_id, title, text, metadata,
                                      source, sha256, passages, article fields and the
                                      listing keys of index.qdrant.listing (no vector)
    {prefix}_state                    key -> value (corpus hashes, BM25 length statistics)

The passages collection is named by the embedding model and dimension: after a model change
the service finds no collection for the new model, creates it and re-embeds every document
from the documents collection, so vectors of two models are never mixed.

Lexical search is Qdrant's: each passage's sparse vector holds, for every BM25 term of our
own tokenizer (the one the local BM25 uses), its saturated term frequency
``tf / (tf + k1 (1 - b + b len / avglen))``, and the collection multiplies by Qdrant's IDF
(``modifier=IDF``) at query time; a query is a vector of 1s over its terms. That is BM25
with ``avglen`` fixed when the collection is first written, rather than recomputed as the
corpus grows. Fusion and the proximity re-rank stay in our code, so both back ends rank the
same candidates the same way.

The reader's coverage signal weighs a question's prefix terms by their IDF over the passages
(``prefix_idf``). Qdrant keeps those statistics: each passage has a ``prefix`` sparse vector
(value 1 for each prefix term it holds, ``modifier=IDF``), so a one-term query's score is the
term's IDF, ``ln((N + 1) / (df + 0.5))``, the same formula the local index uses. The probes
ride in the request that fetches a question's candidates (no extra round trip, no per-query
count); a replica keeps each term's value for ``IDF_TTL_S``. A passages collection made
before the ``prefix`` vector existed keeps the older way (a count per term, cached).

Qdrant has no transactions across points, so a write is made whole as readers see it by
versions: each write of a document draws a new version; its passages are written under point
ids of (doc_id, version, paragraph) with the version in their payload, then the document
record, naming the version (and carrying the sha256 that ``sync_corpus`` compares), then the
previous version's passages are deleted. Readers keep only passages of the version their
document's record names, so a write killed part-way shows the old document whole (or, for a
new one, nothing), and the next start sweeps what it left. DELETE removes the record first,
then every passage of the doc_id, with a record or not. Every write waits for Qdrant's
acknowledgement (``wait=True``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

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
    UnsupportedFilter,
    corpus_source,
    detected_fields,
    excerpt,
    parse_cursor,
    published_order,
    stable_id,
)
from index.qdrant.listing import (
    ID_FIELDS,
    NEWEST,
    KeysetPager,
    fields_past,
    floor_id,
    id_keys,
    listing_payload,
    newest,
)
from index.text.article import published_ts
from index.text.paragraphs import Paragraph
from index.text.terms import K1, B, prefix_terms, query_terms, term_counts, term_positions

try:
    from qdrant_client import QdrantClient
    from qdrant_client import models as qm
except ImportError:  # pragma: no cover - the optional extra is missing
    QdrantClient = None  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)
WRITE_BATCH = 256  # points per upsert
PAGE = 1000  # points per scroll page
RECORD_TTL_S = 2.0  # document records are read once for the reads of one question
IDF_TTL_S = 300.0  # a prefix term's IDF is read again after this long
# A write marker older than this is from a writer that died: its passages are swept at open.
STALE_WRITE_S = 600.0
_FIELD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
F = TypeVar("F", bound=Callable[..., Any])


def _reachable(method: F) -> F:
    """Qdrant's transport and server errors become BackendUnavailable (HTTP 503). In local
    mode, calls are also made one at a time: the in-process engine is not thread-safe, and
    the API serves requests from a thread pool."""

    @functools.wraps(method)
    def wrapper(self: QdrantBackend, *args: Any, **kwargs: Any) -> Any:
        try:
            with self._serial:
                return method(self, *args, **kwargs)
        except (BackendUnavailable, DocumentExistsError, UnsupportedFilter):
            raise
        except Exception as exc:
            if _is_transport_error(exc) or _is_unreadable_reply(exc):
                raise BackendUnavailable(
                    f"Qdrant at {self.where} failed: {type(exc).__name__}: {exc}"
                ) from exc
            raise

    return wrapper  # type: ignore[return-value]


def _is_transport_error(exc: Exception) -> bool:
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    if isinstance(exc, (ResponseHandlingException, UnexpectedResponse, ConnectionError, TimeoutError)):
        return True
    module = type(exc).__module__
    return module.startswith(("httpx", "httpcore", "grpc"))


def _is_unreadable_reply(exc: Exception) -> bool:
    """A reply qdrant-client cannot read: ``{"result": null}`` from a broken proxy or node
    trips an assertion or a validation inside its parsing (not a fault of our request)."""
    from pydantic import ValidationError

    return isinstance(exc, (AssertionError, ValidationError, KeyError, TypeError)) and _raised_in_client(exc)


def _raised_in_client(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc`` is qdrant-client's own code."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}qdrant_client{os.sep}" in tb.tb_frame.f_code.co_filename


def model_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64] or "model"


def term_index(term: str) -> int:
    """A term's dimension in the sparse vectors (CRC-32: stable across processes)."""
    return zlib.crc32(term.encode("utf-8"))


def sparse_weights(counts: Any, length: int, mean_length: float) -> dict[int, float]:
    """BM25's saturated term frequency of each term (Qdrant multiplies in the IDF)."""
    norm = K1 * (1 - B + B * length / mean_length)
    weights: dict[int, float] = {}
    for term, tf in counts.items():
        index = term_index(term)
        weights[index] = weights.get(index, 0.0) + tf / (norm + tf)
    return weights


@dataclass(frozen=True)
class CollectionLayout:
    """How a new passages collection is laid out on a cluster (an existing one is kept as
    it is; Qdrant changes shard counts only by re-creating a collection)."""

    shards: int = 1
    replicas: int = 1
    quantization: str = "none"  # none | int8 | binary
    on_disk: bool = False  # original vectors and payload memory-mapped from disk
    oversampling: float = 3.0  # quantized candidates per wanted hit, re-scored with the originals

    def quantization_config(self) -> Any:
        if self.quantization == "int8":
            return qm.ScalarQuantization(
                scalar=qm.ScalarQuantizationConfig(type=qm.ScalarType.INT8, quantile=0.99, always_ram=True)
            )
        if self.quantization == "binary":
            return qm.BinaryQuantization(binary=qm.BinaryQuantizationConfig(always_ram=True))
        return None

    def search_params(self) -> Any:
        if self.quantization == "none":
            return None
        return qm.SearchParams(
            quantization=qm.QuantizationSearchParams(rescore=True, oversampling=self.oversampling)
        )


@dataclass(frozen=True)
class ClusterPolicy:
    """How this process writes to and reads from a cluster (every API replica sets the same).

    Writes are idempotent (fixed point ids), so a write that fails on the transport is retried
    ``retries`` times with exponential backoff from ``backoff_s``. ``ordering`` (weak, medium,
    strong) is Qdrant's write ordering across a shard's replicas: ``medium`` (the default
    here) routes a point's writes through its shard's current leader, so two writes of one
    point are applied in one order on every replica. ``write_consistency`` replicas must
    acknowledge a write before it succeeds (set when a collection is created).
    ``read_consistency`` (1, majority, quorum, all) is how many replicas a read consults."""

    write_batch: int = WRITE_BATCH
    retries: int = 3
    backoff_s: float = 0.5
    ordering: str = "medium"
    write_consistency: int = 1
    read_consistency: str = "1"
    grpc: bool = False

    def write_ordering(self) -> Any:
        return qm.WriteOrdering(self.ordering)

    def consistency(self) -> Any:
        value = self.read_consistency
        return int(value) if value.isdigit() else qm.ReadConsistencyType(value)


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
        self.client = client
        self.layout = layout or CollectionLayout()
        self.policy = policy or ClusterPolicy()
        self.encoder = encoder
        self.where = where or "local mode"
        self.local = where.startswith("path ")
        self._serial: Any = threading.RLock() if self.local else contextlib.nullcontext()
        self.prefix = prefix
        self.passages_name = f"{prefix}_passages_{model_slug(encoder.name)}_{encoder.dim}"
        self.documents_name = f"{prefix}_documents"
        self.state_name = f"{prefix}_state"
        self._write_lock = threading.Lock()
        self._idf: dict[str, tuple[float, float | None]] = {}  # prefix term -> (read at, IDF; None: unseen)
        self._passages_n: tuple[float, int] | None = None  # (counted at, passages)
        self._prefix_vector = True  # whether passages carry the ``prefix`` sparse vector
        self._listing_keys = False  # whether every document record has its listing keys
        self._record_cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._indexed_fields: set[tuple[str, str]] = set()  # (collection, field)
        self._mean_length: float | None = None
        self._prepare()

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
        """Connect to a server or cluster (``url``) or open a local-mode folder (``path``)."""
        if QdrantClient is None:
            raise BackendUnavailable(
                "QA_BACKEND=qdrant needs qdrant-client: pip install 'newsqa[scale]' (or qdrant-client)"
            )
        if not url and path is None:
            raise BackendUnavailable(
                "QA_BACKEND=qdrant needs QA_QDRANT_URL (a server or cluster) or QA_QDRANT_PATH "
                "(a folder for local mode, no server)"
            )
        try:
            if url:
                grpc = bool(policy and policy.grpc)
                client = QdrantClient(url=url, api_key=api_key, timeout=timeout, prefer_grpc=grpc)
                where = url
            else:
                assert path is not None
                path.mkdir(parents=True, exist_ok=True)
                client = QdrantClient(path=str(path))
                where = f"path {path}"
        except (RuntimeError, OSError, ValueError) as exc:
            raise BackendUnavailable(f"cannot open Qdrant ({url or path}): {exc}") from None
        try:
            return cls(client, encoder, prefix, where, layout, policy)
        except BackendUnavailable:
            client.close()
            raise
        except Exception as exc:
            client.close()
            if _is_transport_error(exc):
                raise BackendUnavailable(f"cannot reach Qdrant at {url or path}: {exc}") from None
            if url:  # something answered, but not as Qdrant does (a proxy, another service)
                raise BackendUnavailable(
                    f"{url} does not answer as a Qdrant server ({type(exc).__name__}); check QA_QDRANT_URL"
                ) from None
            raise

    # --- collections -------------------------------------------------------------------
    def _prepare(self) -> None:
        existing = {c.name for c in self.client.get_collections().collections}
        layout = self.layout
        cluster = (
            {}
            if self.local
            else {
                "shard_number": layout.shards,
                "replication_factor": layout.replicas,
                "write_consistency_factor": min(self.policy.write_consistency, layout.replicas),
            }
        )
        if self.state_name not in existing:
            self._create(self.state_name, vectors_config={}, **cluster)
        if self.documents_name not in existing:
            self._create(self.documents_name, vectors_config={}, on_disk_payload=True, **cluster)
        model_changed = False
        if self.passages_name not in existing:
            created = self._create(
                self.passages_name,
                vectors_config={
                    "dense": qm.VectorParams(
                        size=self.encoder.dim, distance=qm.Distance.DOT, on_disk=layout.on_disk or None
                    )
                },
                sparse_vectors_config={
                    "bm25": qm.SparseVectorParams(
                        modifier=qm.Modifier.IDF, index=qm.SparseIndexParams(on_disk=layout.on_disk or None)
                    ),
                    # Every value is 1, exact in half precision: half the bytes of float32.
                    "prefix": qm.SparseVectorParams(
                        modifier=qm.Modifier.IDF,
                        index=qm.SparseIndexParams(
                            on_disk=layout.on_disk or None, datatype=qm.Datatype.FLOAT16
                        ),
                    ),
                },
                quantization_config=layout.quantization_config(),
                on_disk_payload=layout.on_disk or None,
                **cluster,
            )
            model_changed = created and self.client.count(self.documents_name, exact=True).count > 0
        else:
            sparse = self.client.get_collection(self.passages_name).config.params.sparse_vectors or {}
            self._prefix_vector = "prefix" in sparse
            if not self._prefix_vector:
                log.warning(
                    "passages collection %s predates the prefix-term vector: a question's term "
                    "weights are counted per term (cached); re-create it (a model change does) "
                    "for the faster way",
                    self.passages_name,
                )
        self._payload_index("doc_id", qm.PayloadSchemaType.KEYWORD)
        self._payload_index("version", qm.PayloadSchemaType.KEYWORD)
        if not self._prefix_vector:
            self._payload_index("prefixes", qm.PayloadSchemaType.KEYWORD)
        self._payload_index("published_ts", qm.PayloadSchemaType.FLOAT)
        self._payload_index(NEWEST, qm.PayloadSchemaType.FLOAT, self.documents_name)
        for field in ID_FIELDS:
            self._payload_index(field, qm.PayloadSchemaType.INTEGER, self.documents_name)
        self._sweep_interrupted()
        if not self.read_only and self.get_state(ARTICLE_FIELDS_STATE) != "1":
            self._detect_article_fields()
        if not self.read_only:
            self._add_listing_keys()  # after it, every record has them
        self._listing_keys = not self.read_only or not self._without_listing_keys(1)
        value = self.get_state(f"bm25_mean_length:{self.passages_name}")
        self._mean_length = float(value) if value else None
        reembed_key = f"reembed:{self.passages_name}"
        if model_changed:
            # Marked before any work: a start after a crash part-way finds the mark and resumes.
            self.set_state(reembed_key, "pending")
        if self.get_state(reembed_key) == "pending":
            others = sorted(n for n in existing if n.startswith(f"{self.prefix}_passages_"))
            log.info(
                "passages collection %s for %s is %s: re-embedding the documents it lacks; "
                "those of other models (%s) can be dropped",
                self.passages_name,
                self.encoder.name,
                "new" if model_changed else "part-filled (an earlier re-embedding was interrupted)",
                ", ".join(others) or "none",
            )
            self._reembed_all()
            self.set_state(reembed_key, "done")

    def _create(self, name: str, **config: Any) -> bool:
        """Create a collection; False when another replica created it first."""
        try:
            self.client.create_collection(name, **config)
            return True
        except Exception:
            if self.client.collection_exists(name):
                return False
            raise

    def _payload_index(self, field: str, schema: Any, collection: str | None = None) -> None:
        """Payload indexes make filters fast on a server (and ``order_by`` possible); local
        mode has none (and warns). With ``on_disk`` layouts they live on disk too
        (memory-mapped), not in RAM. On the passages collection unless said otherwise."""
        name = collection or self.passages_name
        if self.local or (name, field) in self._indexed_fields:
            return
        params = _index_params(schema, on_disk=True) if self.layout.on_disk else schema
        self._retrying(lambda: self.client.create_payload_index(name, field, field_schema=params, wait=True))
        self._indexed_fields.add((name, field))

    def _retrying(self, call: Callable[[], Any]) -> Any:
        """An idempotent call, retried on transport errors with exponential backoff."""
        for attempt in range(self.policy.retries + 1):
            try:
                return call()
            except Exception as exc:
                if attempt == self.policy.retries or not _is_transport_error(exc) or self.local:
                    raise
                delay = self.policy.backoff_s * 2**attempt
                log.warning("Qdrant call failed (%s); retrying in %.1f s", type(exc).__name__, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _upsert(self, collection: str, points: list[Any], **options: Any) -> None:
        """Points in batches of ``policy.write_batch``, each acknowledged and ordered."""
        ordering = None if self.local else self.policy.write_ordering()
        for lo in range(0, len(points), self.policy.write_batch):
            part = points[lo : lo + self.policy.write_batch]
            self._retrying(
                functools.partial(
                    self.client.upsert, collection, part, wait=True, ordering=ordering, **options
                )
            )

    def _delete(self, collection: str, selector: Any) -> None:
        ordering = None if self.local else self.policy.write_ordering()
        self._retrying(lambda: self.client.delete(collection, selector, wait=True, ordering=ordering))

    def _read_consistency(self) -> Any:
        return None if self.local else self.policy.consistency()

    def _detect_article_fields(self) -> None:
        """Migrate a store written before article fields: each document record without them
        gets what its text states (``detect_article``, marked detected; a derived title
        gives way to a detected headline), and its passages the date the date filter reads.
        Idempotent, resumable (a record that has fields is skipped), from any replica."""
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.documents_name,
                limit=PAGE,
                offset=offset,
                with_payload=["doc_id", "title", "text", "provenance"],
            )
            for point in points:
                q = point.payload or {}
                if "provenance" in q or "doc_id" not in q:
                    continue
                title, published, outlet, provenance = detected_fields(
                    q.get("title", ""), excerpt(q.get("text", ""))
                )
                ts = published_ts(published)
                if ts is not None:
                    self.client.set_payload(
                        self.passages_name,
                        {"published_ts": ts},
                        points=qm.Filter(
                            must=[qm.FieldCondition(key="doc_id", match=qm.MatchValue(value=q["doc_id"]))]
                        ),
                        wait=True,
                    )
                fields = {
                    "title": title,
                    "published": published,
                    "published_ts": ts,
                    NEWEST: newest(ts),
                    "outlet": outlet,
                }
                self.client.set_payload(
                    self.documents_name,
                    {**fields, "url": None, "provenance": provenance},
                    points=[point.id],
                    wait=True,
                )
            if offset is None:
                break
        self.set_state(ARTICLE_FIELDS_STATE, "1")

    def _add_listing_keys(self) -> None:
        """Give the records that lack them their listing keys: a store written before them,
        or records an older replica wrote during a rolling upgrade. Only those records are
        read (a filter on the indexed key), a page at a time, one request per page; at every
        start, from any replica (idempotent)."""
        while records := self._without_listing_keys(PAGE):
            updates = [
                qm.SetPayloadOperation(
                    set_payload=qm.SetPayload(
                        payload=listing_payload(p.payload["doc_id"], p.payload.get("published_ts")),
                        points=[p.id],
                    )
                )
                for p in records
            ]
            self._retrying(
                functools.partial(self.client.batch_update_points, self.documents_name, updates, wait=True)
            )

    def _without_listing_keys(self, limit: int) -> list[Any]:
        lacking = qm.Filter(
            must=[qm.IsEmptyCondition(is_empty=qm.PayloadField(key=ID_FIELDS[0]))],
            must_not=[qm.IsEmptyCondition(is_empty=qm.PayloadField(key="doc_id"))],
        )
        points, _ = self.client.scroll(
            self.documents_name, scroll_filter=lacking, limit=limit, with_payload=["doc_id", "published_ts"]
        )
        return [p for p in points if p.payload]

    def _reembed_all(self) -> None:
        """Embed into this model's passages collection every document whose current version
        has no passage there yet (all of them the first time; the rest after a crash). Two
        replicas doing it at once write the same documents twice, each write whole."""
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.documents_name, limit=256, offset=offset, with_payload=True
            )
            records = [p.payload for p in points if p.payload]
            done = self._embedded_versions(records)
            todo = [_document(q) for q in records if (q["doc_id"], q.get("version", "")) not in done]
            self.add(todo, progress=True)
            if offset is None:
                return

    def _embedded_versions(self, records: list[dict[str, Any]]) -> set[tuple[str, str]]:
        """(doc_id, version) of these records whose passages this collection holds."""
        if not records:
            return set()
        ids = [passage_id(q["doc_id"], q.get("version", ""), 0) for q in records if q.get("passages")]
        found = self.client.retrieve(self.passages_name, ids, with_payload=["doc_id", "version"])
        have = {(p.payload["doc_id"], p.payload.get("version", "")) for p in found if p.payload}
        # A document without a passage (no prose paragraph) needs nothing embedded.
        return have | {(q["doc_id"], q.get("version", "")) for q in records if not q.get("passages")}

    # --- writes ------------------------------------------------------------------------
    @_reachable
    def write(
        self,
        docs: Sequence[Document],
        split: Sequence[list[Paragraph]],
        vectors: np.ndarray,
        replace: bool = True,
    ) -> None:
        if not docs:
            return
        with self._write_lock:
            if not replace:
                existing = self.known_documents([d.doc_id for d in docs])
                if existing:
                    raise DocumentExistsError(sorted(existing)[0])
            # Each write is a new version: its passages get new point ids, readers see them only
            # once the document record names that version (written last), and the old
            # version's passages are deleted after. A write killed part-way leaves passages no
            # reader sees; the marker lets a later start sweep them (_sweep_interrupted).
            version = uuid.uuid4().hex[:16]
            self._mark_writing([d.doc_id for d in docs], version)
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
                    if not self._prefix_vector:
                        payload["prefixes"] = sorted(positions[row])
                    elif positions[row]:
                        vector["prefix"] = prefix_vector(positions[row])
                    point_id = passage_id(doc.doc_id, version, number)
                    points.append(qm.PointStruct(id=point_id, vector=vector, payload=payload))
                    row += 1
            self._index_metadata(docs)
            self._upsert(self.passages_name, points)
            records = [
                qm.PointStruct(
                    id=stable_id("document", doc.doc_id),
                    vector={},
                    payload={
                        "doc_id": doc.doc_id,
                        "title": doc.title,
                        "text": doc.text,
                        "metadata": doc.metadata,
                        "source": doc.source,
                        "sha256": doc.sha256,
                        "passages": len(paragraphs),
                        "version": version,
                        "published": doc.published,
                        "published_ts": doc.published_ts,
                        "outlet": doc.outlet,
                        "url": doc.url,
                        "provenance": doc.provenance,
                        **listing_payload(doc.doc_id, doc.published_ts),
                    },
                )
                for doc, paragraphs in zip(docs, split, strict=True)
            ]
            keep = {d.doc_id: version for d in docs}
            if replace:
                self._upsert(self.documents_name, records)
            else:
                # Another replica may have passed the same check at the same moment: a record is
                # only inserted, never overwritten, then read back. A write whose record is not
                # the stored one lost the race: its passages go and it answers "exists" (409).
                self._upsert(self.documents_name, records, update_mode=qm.UpdateMode.INSERT_ONLY)
                keep |= self._versions([d.doc_id for d in docs])
            lost = sorted(d.doc_id for d in docs if keep[d.doc_id] != version)
            for doc in docs:  # the version readers do not see: the previous one, or this one if it lost
                self._delete_passages(doc.doc_id, keep_version=keep[doc.doc_id])
            self._unmark_writing([d.doc_id for d in docs])
            self._statistics_changed()
            for doc in docs:
                self._record_cache.pop(doc.doc_id, None)
            if lost:
                raise DocumentExistsError(lost[0])

    def _index_metadata(self, docs: Sequence[Document]) -> None:
        """Payload indexes for the metadata keys these documents bring, by their values' type
        (a list by its elements'), so that filters on them are fast on a server."""
        kinds = {bool: qm.PayloadSchemaType.BOOL, int: qm.PayloadSchemaType.INTEGER}
        kinds |= {float: qm.PayloadSchemaType.FLOAT, str: qm.PayloadSchemaType.KEYWORD}
        for doc in docs:
            for key, value in doc.metadata.items():
                first = value[0] if isinstance(value, list) and value else value
                schema = kinds.get(type(first))
                if schema is not None and _FIELD.fullmatch(key):
                    self._payload_index(f"metadata.{key}", schema)

    def _mark_writing(self, doc_ids: list[str], version: str) -> None:
        now = time.time()
        points = [
            qm.PointStruct(
                id=stable_id("state", f"writing:{d}"),
                vector={},
                payload={"key": f"writing:{d}", "value": json.dumps({"version": version, "at": now})},
            )
            for d in doc_ids
        ]
        self._upsert(self.state_name, points)

    def _unmark_writing(self, doc_ids: list[str]) -> None:
        ids: list[Any] = [stable_id("state", f"writing:{d}") for d in doc_ids]
        for lo in range(0, len(ids), self.policy.write_batch):
            self._delete(self.state_name, qm.PointIdsList(points=ids[lo : lo + self.policy.write_batch]))

    def _sweep_interrupted(self, older_than: float = STALE_WRITE_S) -> int:
        """Delete the passages of writes that were interrupted (a marker older than
        ``older_than`` seconds: another replica may be writing a newer one): those of a
        version the document record does not name, or all when there is no record."""
        points, _ = self.client.scroll(self.state_name, limit=10_000, with_payload=True)
        swept = 0
        for point in points:
            key = str((point.payload or {}).get("key", ""))
            if not key.startswith("writing:"):
                continue
            marker = json.loads(point.payload["value"])
            if time.time() - float(marker["at"]) < older_than:
                continue
            doc_id = key.removeprefix("writing:")
            versions = self._versions([doc_id])
            self._delete_passages(doc_id, keep_version=versions.get(doc_id))
            self._delete(self.state_name, qm.PointIdsList(points=[point.id]))
            swept += 1
        if swept:
            log.warning("swept the passages of %d interrupted writes", swept)
        return swept

    def _versions(self, doc_ids: Sequence[str], fresh: bool = True) -> dict[str, str]:
        """The version each document's record names ("" for a record written before
        versions); documents without a record are absent. Not ``fresh``: a record read in
        the last ``RECORD_TTL_S`` seconds will do (the reads of one question)."""
        return {d: str(q.get("version", "")) for d, q in self._records(doc_ids, fresh).items()}

    def _records(self, doc_ids: Sequence[str], fresh: bool = False) -> dict[str, dict[str, Any]]:
        """Document records without their text, by doc_id: read once for the several reads a
        question makes (passage versions, vectors, the articles cited), kept for
        ``RECORD_TTL_S`` seconds. A record this process writes or deletes is dropped at once;
        another replica's change is seen within the TTL (until then a reader may still find
        the passages of the version it replaced, which it deletes right after)."""
        now = time.monotonic()
        found: dict[str, dict[str, Any]] = {}
        missing = []
        for d in dict.fromkeys(doc_ids):
            cached = None if fresh else self._record_cache.get(d)
            if cached is not None and now - cached[0] < RECORD_TTL_S:
                if cached[1] is not None:
                    found[d] = cached[1]
            else:
                missing.append(d)
        for lo in range(0, len(missing), PAGE):
            part = missing[lo : lo + PAGE]
            got = {
                p.payload["doc_id"]: p.payload
                for p in self.client.retrieve(
                    self.documents_name, [stable_id("document", d) for d in part], with_payload=_RECORD_FIELDS
                )
                if p.payload
            }
            if len(self._record_cache) > 100_000:
                self._record_cache.clear()
            for d in part:
                self._record_cache[d] = (now, got.get(d))
            found |= {d: got[d] for d in part if d in got}
        return found

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
            self._upsert(self.state_name, [point], update_mode=qm.UpdateMode.INSERT_ONLY)
            self._mean_length = float(self.get_state(key) or offered)
        return self._mean_length

    def _delete_passages(self, doc_id: str, keep_version: str | None = None) -> None:
        """Delete a document's passages, all or all but those of ``keep_version``."""
        must: list[Any] = [qm.FieldCondition(key="doc_id", match=qm.MatchValue(value=doc_id))]
        must_not: list[Any] = []
        if keep_version:
            must_not.append(qm.FieldCondition(key="version", match=qm.MatchValue(value=keep_version)))
        elif keep_version == "":  # a record written before versions: its passages have none
            must_not.append(qm.IsEmptyCondition(is_empty=qm.PayloadField(key="version")))
        selector = qm.FilterSelector(filter=qm.Filter(must=must, must_not=must_not or None))
        self._delete(self.passages_name, selector)

    @_reachable
    def delete(self, doc_id: str) -> bool:
        """Delete a document: its record first (readers stop seeing its passages at once),
        then its passages, which goes for passages left without a record, too."""
        with self._write_lock:
            known = bool(self.known_documents([doc_id]))
            stray = self.client.count(
                self.passages_name,
                count_filter=qm.Filter(
                    must=[qm.FieldCondition(key="doc_id", match=qm.MatchValue(value=doc_id))]
                ),
                exact=True,
            ).count
            if not known and not stray:
                return False
            self._delete(self.documents_name, qm.PointIdsList(points=[stable_id("document", doc_id)]))
            self._delete_passages(doc_id)
            self._statistics_changed()
            self._record_cache.pop(doc_id, None)
        return True

    @_reachable
    def get_state(self, key: str) -> str | None:
        found = self.client.retrieve(self.state_name, [stable_id("state", key)], with_payload=True)
        return str(found[0].payload["value"]) if found and found[0].payload else None

    @_reachable
    def set_state(self, key: str, value: str) -> None:
        point = qm.PointStruct(id=stable_id("state", key), vector={}, payload={"key": key, "value": value})
        self._upsert(self.state_name, [point])

    # --- reads -------------------------------------------------------------------------
    @_reachable
    def dense(self, vector: np.ndarray, k: int, allowed: Any = None) -> list[Hit]:
        found = self.client.query_points(
            self.passages_name,
            query=np.asarray(vector, dtype=np.float32).tolist(),
            using="dense",
            limit=k,
            consistency=self._read_consistency(),
            query_filter=allowed,
            search_params=self.layout.search_params(),
            with_payload=False,
        )
        return [Hit(int(p.id), float(p.score)) for p in found.points]

    @staticmethod
    def _sparse_query(words: list[str]) -> Any:
        """A query's terms as a sparse vector (each term once; Qdrant weighs in the IDF)."""
        indices = sorted({term_index(t) for t in words})
        return qm.SparseVector(indices=indices, values=[1.0] * len(indices))

    @_reachable
    def hybrid(
        self, vector: np.ndarray, query: str, k: int, allowed: Any = None
    ) -> tuple[list[Hit], list[Hit]]:
        """Both candidate lists in one request (``query_batch_points``): one round trip."""
        return self._hybrid_batch([vector], [query], k, allowed)[0]

    @_reachable
    def hybrid_many(
        self, vectors: Sequence[np.ndarray], queries: Sequence[str], k: int, allowed: Any = None
    ) -> list[tuple[list[Hit], list[Hit]]]:
        """Every question's two candidate lists in one request."""
        return self._hybrid_batch(vectors, queries, k, allowed)

    def _hybrid_batch(
        self, vectors: Sequence[np.ndarray], queries: Sequence[str], k: int, allowed: Any
    ) -> list[tuple[list[Hit], list[Hit]]]:
        requests: list[Any] = []
        slots: list[tuple[int, int | None]] = []
        now = time.monotonic()
        probed: list[str] = []
        if self._prefix_vector:  # the reader will weigh these questions' terms: read their IDF now
            wanted = {t for q in queries for t in prefix_terms(q)}
            probed = [t for t in sorted(wanted) if not self._idf_cached(t, now)]
        for vector, query in zip(vectors, queries, strict=True):
            words = query_terms(query)
            dense_at = len(requests)
            requests.append(
                qm.QueryRequest(
                    query=np.asarray(vector, dtype=np.float32).tolist(),
                    using="dense",
                    limit=k,
                    filter=allowed,
                    params=self.layout.search_params(),
                    with_payload=False,
                )
            )
            sparse_at = None
            if words:
                sparse_at = len(requests)
                requests.append(
                    qm.QueryRequest(
                        query=self._sparse_query(words),
                        using="bm25",
                        limit=k,
                        filter=allowed,
                        with_payload=False,
                    )
                )
            slots.append((dense_at, sparse_at))
        probes_at = len(requests)
        requests += self._idf_probes(probed)
        found = self.client.query_batch_points(
            self.passages_name, requests, consistency=self._read_consistency()
        )
        self._keep_idf(probed, found[probes_at:], now)
        out = []
        for dense_at, sparse_at in slots:
            dense = [Hit(int(p.id), float(p.score)) for p in found[dense_at].points]
            sparse = (
                []
                if sparse_at is None
                else [Hit(int(p.id), float(p.score)) for p in found[sparse_at].points if p.score > 0]
            )
            out.append((dense, sparse))
        return out

    @_reachable
    def sparse(self, query: str, k: int, allowed: Any = None) -> list[Hit]:
        words = query_terms(query)
        if not words or k <= 0:
            return []
        found = self.client.query_points(
            self.passages_name,
            query=self._sparse_query(words),
            using="bm25",
            limit=k,
            query_filter=allowed,
            with_payload=False,
            consistency=self._read_consistency(),
        )
        return [Hit(int(p.id), float(p.score)) for p in found.points if p.score > 0]

    @_reachable
    def passages(self, ids: Sequence[int]) -> dict[int, StoredPassage]:
        if not ids:
            return {}
        found = self.client.retrieve(
            self.passages_name,
            [int(i) for i in ids],
            with_payload=["doc_id", "version", "paragraph", "start", "end", "text", "terms"],
        )
        current = self._current(found)
        return {int(p.id): _passage(int(p.id), p.payload) for p in current}

    def _current(self, points: list[Any]) -> list[Any]:
        """The points whose version is the one their document's record names: never a
        passage of a write still under way, interrupted, or replaced."""
        versions = self._versions(sorted({p.payload["doc_id"] for p in points if p.payload}), fresh=False)
        return [
            p
            for p in points
            if p.payload and versions.get(p.payload["doc_id"]) == str(p.payload.get("version", ""))
        ]

    @_reachable
    def vectors_at(self, keys: Sequence[tuple[str, int]]) -> list[np.ndarray | None]:
        if not keys:
            return []
        versions = self._versions(sorted({d for d, _ in keys}), fresh=False)
        ids = [passage_id(d, versions.get(d, ""), n) for d, n in keys]
        found = self.client.retrieve(self.passages_name, ids, with_payload=False, with_vectors=["dense"])
        vectors: dict[int, np.ndarray] = {}
        for p in found:
            dense = p.vector.get("dense") if isinstance(p.vector, dict) else None
            if dense is not None:
                vectors[int(p.id)] = np.asarray(dense, dtype=np.float32)
        return [vectors.get(i) for i in ids]

    @_reachable
    def allowed(
        self,
        doc_ids: Sequence[str] | None,
        metadata: dict[str, Any] | None,
        published: DateRange | None = None,
    ) -> Any:
        if not doc_ids and not metadata and not published:
            return None
        must: list[Any] = []
        if doc_ids:
            must.append(qm.FieldCondition(key="doc_id", match=qm.MatchAny(any=list(doc_ids))))
        if published:  # a passage without a date has no published_ts: outside every range
            bounds = qm.Range(gte=published.after, lte=published.before)
            must.append(qm.FieldCondition(key="published_ts", range=bounds))
        for key, value in (metadata or {}).items():
            must.append(self._metadata_condition(key, value))
        return qm.Filter(must=must)

    def _metadata_condition(self, key: str, value: Any) -> Any:
        if not _FIELD.fullmatch(key):
            raise UnsupportedFilter(
                f"metadata filter key {key!r}: on Qdrant, keys are 1-64 letters, digits, '_' or '-'"
            )
        # Payload indexes are made when documents are written (_index_metadata), never here:
        # a read must not write, nor fail with a store that is down.
        field = f"metadata.{key}"
        if value is None:
            return qm.IsNullCondition(is_null=qm.PayloadField(key=field))
        if isinstance(value, bool | int | str):
            return qm.FieldCondition(key=field, match=qm.MatchValue(value=value))
        if isinstance(value, float):
            return qm.FieldCondition(key=field, range=qm.Range(gte=value, lte=value))
        raise UnsupportedFilter(
            f"metadata filter {key!r}: on Qdrant a filter value is a string, number, boolean or null"
        )

    @_reachable
    def prefix_idf(self, terms: set[str]) -> dict[str, float]:
        """As the local index's: read from the ``prefix`` vector's IDF statistics (usually
        already, by the request that fetched the question's candidates), kept for
        ``IDF_TTL_S`` (an IDF moves little between two writes)."""
        now = time.monotonic()
        missing = [t for t in sorted(terms) if not self._idf_cached(t, now)]
        if missing and self._prefix_vector:
            requests = self._idf_probes(missing)
            found = self.client.query_batch_points(self.passages_name, requests)
            self._keep_idf(missing, found, now)
        elif missing:
            for term in missing:
                self._count_idf(term, now)
        weights: dict[str, float] = {}
        unseen = None  # a term no passage holds has the highest weight there is
        for term in terms:
            weight = self._idf[term][1]
            if weight is None:
                unseen = unseen or float(np.log((self._passage_total(now) + 1) / 0.5))
                weight = unseen
            weights[term] = weight
        return weights

    def _statistics_changed(self) -> None:
        """After this process's own write: its next question reads term weights afresh."""
        self._idf.clear()
        self._passages_n = None

    def _idf_cached(self, term: str, now: float) -> bool:
        cached = self._idf.get(term)
        return cached is not None and now - cached[0] < IDF_TTL_S

    @staticmethod
    def _idf_probes(terms: Sequence[str]) -> list[Any]:
        """One request per term: the best passage holding it scores the term's IDF (each
        holds it with value 1); none comes back for a term no passage holds."""
        return [
            qm.QueryRequest(
                query=qm.SparseVector(indices=[term_index(t)], values=[1.0]),
                using="prefix",
                limit=1,
                with_payload=False,
            )
            for t in terms
        ]

    def _keep_idf(self, terms: Sequence[str], found: Sequence[Any], now: float) -> None:
        if len(self._idf) > 100_000:
            self._idf.clear()
        for term, response in zip(terms, found, strict=True):
            self._idf[term] = (now, float(response.points[0].score) if response.points else None)

    def _count_idf(self, term: str, now: float) -> None:
        """The older way, for a collection without the ``prefix`` vector: a count per term."""
        condition = qm.Filter(must=[qm.FieldCondition(key="prefixes", match=qm.MatchValue(value=term))])
        df = self.client.count(self.passages_name, count_filter=condition, exact=self.local).count
        n = self._passage_total(now)
        self._idf[term] = (now, float(np.log((n + 1) / (df + 0.5))) if df else None)

    def _passage_total(self, now: float) -> int:
        if self._passages_n is None or now - self._passages_n[0] >= IDF_TTL_S:
            self._passages_n = (now, int(self.client.count(self.passages_name, exact=self.local).count))
        return self._passages_n[1]

    @_reachable
    def get_document(self, doc_id: str) -> Document | None:
        found = self.client.retrieve(self.documents_name, [stable_id("document", doc_id)], with_payload=True)
        return _document(found[0].payload) if found and found[0].payload else None

    def _document_payloads(self, fields: list[str]) -> Iterator[dict[str, Any]]:
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.documents_name, limit=PAGE, offset=offset, with_payload=fields
            )
            for p in points:
                if p.payload:
                    yield p.payload
            if offset is None:
                return

    @_reachable
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
            points, _ = self.client.scroll(
                self.documents_name,
                scroll_filter=qm.Filter(must=conditions) if conditions else None,
                limit=limit,
                order_by=qm.OrderBy(key=field, direction=qm.Direction.ASC),
                with_payload=["doc_id", *fields],
                consistency=self._read_consistency(),
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

    @_reachable
    def article_fields(self, doc_ids: Sequence[str]) -> dict[str, DocumentRow]:
        rows: dict[str, DocumentRow] = {}
        for d, q in self._records(sorted(set(doc_ids))).items():
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

    @_reachable
    def document_sources(self) -> dict[str, tuple[str, str]]:
        return {
            p["doc_id"]: (p["source"], p["sha256"])
            for p in self._document_payloads(["doc_id", "source", "sha256"])
        }

    @_reachable
    def known_documents(self, doc_ids: Sequence[str]) -> set[str]:
        if not doc_ids:
            return set()
        ids = [stable_id("document", d) for d in doc_ids]
        found = self.client.retrieve(self.documents_name, ids, with_payload=["doc_id"])
        return {p.payload["doc_id"] for p in found if p.payload} & set(doc_ids)

    @_reachable
    def passage_count(self, doc_id: str) -> int:
        found = self.client.retrieve(
            self.documents_name, [stable_id("document", doc_id)], with_payload=["passages"]
        )
        return int(found[0].payload.get("passages", 0)) if found and found[0].payload else 0

    @_reachable
    def counts(self) -> tuple[int, int]:
        """Exact in local mode; on a server, Qdrant's estimate (an exact count of hundreds of
        millions of points is a scan, and /health asks for it)."""
        docs = self.client.count(self.documents_name, exact=self.local).count
        passages = self.client.count(self.passages_name, exact=self.local).count
        return int(docs), int(passages)

    def iter_passages(self, batch: int = 1000) -> Iterator[list[StoredPassage]]:
        offset = None
        while True:
            points, offset = self._scroll_passages(batch, offset)
            yield [_passage(int(p.id), p.payload) for p in self._current(points)]
            if offset is None:
                return

    @_reachable
    def _scroll_passages(self, batch: int, offset: Any) -> tuple[list[Any], Any]:
        return self.client.scroll(  # type: ignore[no-any-return]
            self.passages_name,
            limit=batch,
            offset=offset,
            with_payload=["doc_id", "version", "paragraph", "start", "end", "text", "terms"],
        )

    def close(self) -> None:
        self.client.close()


ARTICLE_FIELDS_STATE = "article_fields"
# What a document record holds besides its text (the reads of a question need no text).
_RECORD_FIELDS = [
    "doc_id",
    "version",
    "title",
    "metadata",
    "source",
    "sha256",
    "passages",
    "published",
    "outlet",
    "url",
    "provenance",
]
# The article fields a document record carries beside its text (index.text.article).
_ARTICLE_PAYLOAD = ("published", "outlet", "url", "provenance")


def passage_id(doc_id: str, version: str, number: int) -> int:
    """A passage's point id: per version of its document (passages written before versions
    keep their old ids)."""
    return stable_id("passage", doc_id, version, number) if version else stable_id("passage", doc_id, number)


def passage_payload(
    doc: Document, version: str, number: int, paragraph: Paragraph, positions: dict[str, list[int]]
) -> dict[str, Any]:
    """What a passage point carries beside its vectors."""
    return {
        "doc_id": doc.doc_id,
        "version": version,
        "paragraph": number,
        "start": paragraph.start,
        "end": paragraph.end,
        "text": paragraph.text,
        "metadata": doc.metadata,
        "published_ts": doc.published_ts,
        "terms": json.dumps(positions, separators=(",", ":")),
    }


def prefix_vector(positions: dict[str, list[int]]) -> Any:
    """The ``prefix`` sparse vector of a passage's prefix terms (``term_positions``): 1 each."""
    indices = sorted({term_index(t) for t in positions})
    return qm.SparseVector(indices=indices, values=[1.0] * len(indices))


def _passage(point_id: int, payload: dict[str, Any]) -> StoredPassage:
    return StoredPassage(
        point_id,
        payload["doc_id"],
        int(payload["paragraph"]),
        int(payload["start"]),
        int(payload["end"]),
        payload["text"],
        payload.get("terms"),
    )


def _document(payload: dict[str, Any] | None) -> Document:
    p = payload or {}
    return Document(
        p["doc_id"],
        p["title"],
        p["text"],
        p.get("metadata") or {},
        p.get("source", "api"),
        p.get("sha256", ""),
        p.get("published"),
        p.get("outlet"),
        p.get("url"),
        p.get("provenance") or {},
    )


def synced_from(
    folder: Path,
    url: str | None = None,
    api_key: str | None = None,
    path: Path | None = None,
    prefix: str = "qa",
) -> bool | None:
    """None when the store holds no documents yet; otherwise whether ``folder`` was synced
    into it (``qa serve`` keeps such a store in step with the folder). Loads no model."""
    if QdrantClient is None:
        raise BackendUnavailable("QA_BACKEND=qdrant needs qdrant-client: pip install 'newsqa[scale]'")
    if not url and (path is None or not path.exists()):
        return None
    try:
        client = QdrantClient(url=url, api_key=api_key) if url else QdrantClient(path=str(path))
    except (RuntimeError, OSError, ValueError) as exc:
        raise BackendUnavailable(f"cannot open Qdrant ({url or path}): {exc}") from None
    try:
        documents, state = f"{prefix}_documents", f"{prefix}_state"
        if not client.collection_exists(documents) or not client.count(documents, exact=True).count:
            return None
        if not client.collection_exists(state):
            return False
        key = f"corpus_sha256:{corpus_source(folder)}"
        return bool(client.retrieve(state, [stable_id("state", key)]))
    except Exception as exc:
        if _is_transport_error(exc):
            raise BackendUnavailable(f"cannot reach Qdrant at {url or path}: {exc}") from None
        raise
    finally:
        client.close()


def _range_condition(field: str, value: float, how: str) -> Any:
    """``field`` above ``value`` (``gt``) or equal to it (``eq``): ranges, which integer and
    float payload indexes both answer."""
    bounds = qm.Range(gt=value) if how == "gt" else qm.Range(gte=value, lte=value)
    return qm.FieldCondition(key=field, range=bounds)


def _index_params(schema: Any, on_disk: bool) -> Any:
    """A payload index's parameters for a schema type, kept on disk (memory-mapped)."""
    kinds = {
        qm.PayloadSchemaType.KEYWORD: lambda: qm.KeywordIndexParams(
            type=qm.KeywordIndexType.KEYWORD, on_disk=on_disk
        ),
        qm.PayloadSchemaType.FLOAT: lambda: qm.FloatIndexParams(
            type=qm.FloatIndexType.FLOAT, on_disk=on_disk
        ),
        qm.PayloadSchemaType.INTEGER: lambda: qm.IntegerIndexParams(
            type=qm.IntegerIndexType.INTEGER, lookup=True, range=True, on_disk=on_disk
        ),
        qm.PayloadSchemaType.BOOL: lambda: qm.BoolIndexParams(type=qm.BoolIndexType.BOOL, on_disk=on_disk),
    }
    make = kinds.get(schema)
    return make() if make else schema
