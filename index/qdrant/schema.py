"""What the Qdrant back end stores and how: the three collections, their layout on a cluster,
their payload indexes, and the points (ids, vectors, payloads) written into them.

Three collections, all named from one prefix (``QA_QDRANT_COLLECTION``, default ``qa``)::

    {prefix}_passages_{model}_{dim}   one point per passage: a dense vector (the passage
                                      embedding, dot product), a sparse vector of BM25 term
                                      weights, a sparse vector of its prefix terms (1 each)
                                      and the payload doc_id, version, paragraph, start, end,
                                      text, metadata, terms
    {prefix}_documents                one point per document: doc_id, title, text, metadata,
                                      source, sha256, passages, version, article fields and
                                      the listing keys of index.qdrant.listing (no vector)
    {prefix}_state                    key -> value (corpus hashes, BM25 length statistics,
                                      write markers, subscriptions)

Lexical search is Qdrant's: each passage's sparse vector holds, for every BM25 term of our
own tokenizer (the one the local BM25 uses), its saturated term frequency
``tf / (tf + k1 (1 - b + b len / avglen))``, and the collection multiplies by Qdrant's IDF
(``modifier=IDF``) at query time; a query is a vector of 1s over its terms. That is BM25
with ``avglen`` fixed when the collection is first written.
"""

from __future__ import annotations

import contextlib
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

from index.backend import Document, StoredPassage, stable_id
from index.qdrant.connection import Store
from index.qdrant.listing import ID_FIELDS, NEWEST, listing_payload
from index.text.paragraphs import Paragraph
from index.text.terms import K1, B

with contextlib.suppress(ImportError):  # the optional extra; connection.connect says it is missing
    from qdrant_client import models as qm

FIELD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a metadata key Qdrant can filter on
# What a document record holds besides its text (the reads of a question need no text).
RECORD_FIELDS = [
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
PASSAGE_FIELDS = ["doc_id", "version", "paragraph", "start", "end", "text", "terms"]


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
class Names:
    """The collections of one service (one prefix) and one embedding model."""

    prefix: str
    passages: str
    documents: str
    state: str

    @classmethod
    def of(cls, prefix: str, model: str, dim: int) -> Names:
        passages = f"{prefix}_passages_{model_slug(model)}_{dim}"
        return cls(prefix, passages, f"{prefix}_documents", f"{prefix}_state")


def model_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64] or "model"


class Schema:
    """Creates what is missing (collections, payload indexes) and says what it found."""

    def __init__(self, store: Store, names: Names, layout: CollectionLayout, dim: int) -> None:
        self.store = store
        self.names = names
        self.layout = layout
        self.dim = dim
        self._indexed: set[tuple[str, str]] = set()  # (collection, field)

    def prepare(self) -> tuple[bool, bool, list[str]]:
        """Create the collections that do not exist. Returns whether the passages collection
        was created here for a store that holds documents (a model change), whether it
        carries the ``prefix`` vector, and the passages collections of every model."""
        client = self.store.client
        names, layout = self.names, self.layout
        existing = {c.name for c in client.get_collections().collections}
        cluster = (
            {}
            if self.store.local
            else {
                "shard_number": layout.shards,
                "replication_factor": layout.replicas,
                "write_consistency_factor": self.store.policy.acknowledging(layout.replicas),
            }
        )
        if names.state not in existing:
            self._create(names.state, vectors_config={}, **cluster)
        if names.documents not in existing:
            self._create(names.documents, vectors_config={}, on_disk_payload=True, **cluster)
        model_changed, prefix_vector = False, True
        if names.passages not in existing:
            created = self._create(names.passages, **self._passages_config(), **cluster)
            model_changed = created and client.count(names.documents, exact=True).count > 0
        else:
            sparse = client.get_collection(names.passages).config.params.sparse_vectors or {}
            prefix_vector = "prefix" in sparse
        self.index("doc_id", qm.PayloadSchemaType.KEYWORD)
        self.index("version", qm.PayloadSchemaType.KEYWORD)
        if not prefix_vector:
            self.index("prefixes", qm.PayloadSchemaType.KEYWORD)
        self.index("published_ts", qm.PayloadSchemaType.FLOAT)
        self.index(NEWEST, qm.PayloadSchemaType.FLOAT, names.documents)
        for field in ID_FIELDS:
            self.index(field, qm.PayloadSchemaType.INTEGER, names.documents)
        others = sorted(n for n in existing if n.startswith(f"{names.prefix}_passages_"))
        return model_changed, prefix_vector, others

    def _passages_config(self) -> dict[str, Any]:
        on_disk = self.layout.on_disk or None
        return {
            "vectors_config": {
                "dense": qm.VectorParams(size=self.dim, distance=qm.Distance.DOT, on_disk=on_disk)
            },
            "sparse_vectors_config": {
                "bm25": qm.SparseVectorParams(
                    modifier=qm.Modifier.IDF, index=qm.SparseIndexParams(on_disk=on_disk)
                ),
                # Every value is 1, exact in half precision: half the bytes of float32.
                "prefix": qm.SparseVectorParams(
                    modifier=qm.Modifier.IDF,
                    index=qm.SparseIndexParams(on_disk=on_disk, datatype=qm.Datatype.FLOAT16),
                ),
            },
            "quantization_config": self.layout.quantization_config(),
            "on_disk_payload": on_disk,
        }

    def _create(self, name: str, **config: Any) -> bool:
        """Create a collection; False when another replica created it first."""
        try:
            self.store.client.create_collection(name, **config)
            return True
        except Exception:
            if self.store.client.collection_exists(name):
                return False
            raise

    def index(self, field: str, schema: Any, collection: str | None = None) -> None:
        """Payload indexes make filters fast on a server (and ``order_by`` possible); local
        mode has none (and warns). With ``on_disk`` layouts they live on disk too
        (memory-mapped), not in RAM. On the passages collection unless said otherwise."""
        name = collection or self.names.passages
        if self.store.local or (name, field) in self._indexed:
            return
        params = _index_params(schema, on_disk=True) if self.layout.on_disk else schema
        self.store.retrying(
            lambda: self.store.client.create_payload_index(name, field, field_schema=params, wait=True)
        )
        self._indexed.add((name, field))

    def index_metadata(self, docs: list[Document]) -> None:
        """Payload indexes for the metadata keys these documents bring, by their values' type
        (a list by its elements'), so that filters on them are fast on a server."""
        kinds = {bool: qm.PayloadSchemaType.BOOL, int: qm.PayloadSchemaType.INTEGER}
        kinds |= {float: qm.PayloadSchemaType.FLOAT, str: qm.PayloadSchemaType.KEYWORD}
        for doc in docs:
            for key, value in doc.metadata.items():
                first = value[0] if isinstance(value, list) and value else value
                schema = kinds.get(type(first))
                if schema is not None and FIELD.fullmatch(key):
                    self.index(f"metadata.{key}", schema)


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


def ones(terms: Any) -> Any:
    """A sparse vector of 1 for each term: a query's terms, or a passage's prefix terms."""
    indices = sorted({term_index(t) for t in terms})
    return qm.SparseVector(indices=indices, values=[1.0] * len(indices))


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


def record(doc: Document, version: str, passages: int) -> Any:
    """A document's record: its text and fields, and the version readers see."""
    return qm.PointStruct(
        id=stable_id("document", doc.doc_id),
        vector={},
        payload={
            "doc_id": doc.doc_id,
            "title": doc.title,
            "text": doc.text,
            "metadata": doc.metadata,
            "source": doc.source,
            "sha256": doc.sha256,
            "passages": passages,
            "version": version,
            "published": doc.published,
            "published_ts": doc.published_ts,
            "outlet": doc.outlet,
            "url": doc.url,
            "provenance": doc.provenance,
            **listing_payload(doc.doc_id, doc.published_ts),
        },
    )


def stored_passage(point_id: int, payload: dict[str, Any]) -> StoredPassage:
    return StoredPassage(
        point_id,
        payload["doc_id"],
        int(payload["paragraph"]),
        int(payload["start"]),
        int(payload["end"]),
        payload["text"],
        payload.get("terms"),
    )


def document(payload: dict[str, Any] | None) -> Document:
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


def doc_condition(doc_id: str) -> Any:
    return qm.FieldCondition(key="doc_id", match=qm.MatchValue(value=doc_id))


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
    return make() if make else schema  # type: ignore[no-untyped-call]
