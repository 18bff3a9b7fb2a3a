"""The storage back end ``Engine`` talks to, whatever holds the passages.

Two implement it: ``CorpusIndex`` (one data directory: SQLite + FAISS + BM25, the default)
and ``QdrantBackend`` (a Qdrant cluster, server or local-mode folder). The retriever and the
answer pipeline see only this interface, so the answer contract cannot depend on where the
passages live. A back end stores what it is handed and never embeds: splitting, embedding
and keeping a store in step with a corpus folder are ``index.indexer``'s.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

from index.text.article import detect_article, published_ts
from index.text.paragraphs import Paragraph, document_title

# Where an article field came from: given explicitly, detected in the text (or page markup),
# or, for a title, derived from the first line of the text.
GIVEN, DETECTED, DERIVED = "given", "detected", "derived"
PAGE = "page"  # detected in the HTML page's own metadata (JSON-LD, Open Graph), not its text


@dataclass(frozen=True)
class Document:
    """A stored document. ``source`` is where it came from (``api`` or ``corpus:<folder>``);
    the article's outlet is ``outlet`` (``source`` in the API, as news calls it)."""

    doc_id: str
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = "api"
    sha256: str = ""
    published: str | None = None  # ISO 8601 (index.text.article.normalize_published)
    outlet: str | None = None
    url: str | None = None
    # field -> GIVEN / DETECTED / DERIVED for each article field that has a value
    provenance: dict[str, str] = field(default_factory=dict)

    @property
    def published_ts(self) -> float | None:
        return published_ts(self.published)


class DocumentRow(NamedTuple):
    """A document without its text: what listings and corpus syncs read."""

    doc_id: str
    title: str
    metadata: dict[str, Any]
    source: str
    sha256: str
    passages: int
    published: str | None = None
    outlet: str | None = None
    url: str | None = None
    provenance: dict[str, str] = {}  # noqa: RUF012  (a NamedTuple default is never mutated)


@dataclass(frozen=True)
class DateRange:
    """Publication time bounds (epoch seconds, inclusive); a document without a date is
    outside every range."""

    after: float | None = None
    before: float | None = None

    def __bool__(self) -> bool:
        return self.after is not None or self.before is not None


@dataclass(frozen=True)
class Filter:
    """Which passages a search may return: those of ``doc_ids`` (when given), of documents
    whose metadata has every key of ``metadata`` with its value, published within
    ``published``. Built once where a request comes in, checked and compiled there by the
    back end (``Backend.bind``: ``native`` is its own form, a pre-filter, never a cut of the
    results after ranking), then passed down as it is to every search of the request."""

    doc_ids: tuple[str, ...] | None = None
    metadata: tuple[tuple[str, Any], ...] = ()
    published: DateRange | None = None
    native: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        doc_ids: Sequence[str] | None = None,
        metadata: dict[str, Any] | None = None,
        published: DateRange | None = None,
    ) -> Filter | None:
        """The filter of these conditions, or None when none is given (every passage)."""
        if not doc_ids and not metadata and not published:
            return None
        return cls(tuple(doc_ids) if doc_ids else None, tuple((metadata or {}).items()), published or None)


def native(where: Filter | None) -> Any:
    """A bound filter's back-end form (``Backend.bind``), or None for every passage."""
    return where.native if where is not None else None


@dataclass(frozen=True)
class StoredPassage:
    id: int
    doc_id: str
    paragraph: int
    start: int
    end: int
    text: str
    terms: str | None = None  # JSON of term_positions(text), stored at index time


class DocumentExistsError(KeyError):
    """A document with this id is already stored."""


class ReadOnlyStore(PermissionError):
    """A write to a store this process may only read."""


class UnsupportedFilter(ValueError):
    """A filter this back end cannot express with the meaning the API gives it."""


class TextEncoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray: ...


@dataclass(frozen=True)
class Hit:
    id: int
    score: float


class Backend(ABC):
    """Documents, their passages (offsets, text, vector) and the two candidate searches.

    A passage id is an integer the back end chooses; it stays valid until the passage is
    replaced or deleted. A search's ``where`` is a ``Filter`` that ``bind`` has compiled.
    """

    encoder: TextEncoder
    read_only: bool = False

    # --- writes ------------------------------------------------------------------------
    @abstractmethod
    def write(
        self,
        docs: Sequence[Document],
        split: Sequence[list[Paragraph]],
        vectors: np.ndarray,
        replace: bool = True,
    ) -> None:
        """Store documents with their paragraphs and one vector per paragraph (in order).
        Without ``replace``, an existing doc_id raises DocumentExistsError before anything
        is written."""

    @abstractmethod
    def delete(self, doc_id: str) -> bool:
        """Remove a document and its passages; False when there was none."""

    @abstractmethod
    def get_state(self, key: str) -> str | None: ...

    @abstractmethod
    def set_state(self, key: str, value: str) -> None: ...

    # --- reads -------------------------------------------------------------------------
    @abstractmethod
    def dense(self, vector: np.ndarray, k: int, where: Filter | None = None) -> list[Hit]:
        """The ``k`` passages nearest to a query vector (inner product, best first)."""

    @abstractmethod
    def sparse(self, query: str, k: int, where: Filter | None = None) -> list[Hit]:
        """The ``k`` best BM25 matches for a query with a positive score, best first."""

    def hybrid(
        self, vector: np.ndarray, query: str, k: int, where: Filter | None = None
    ) -> tuple[list[Hit], list[Hit]]:
        """``dense`` and ``sparse`` together; a back end behind a network does both in one
        round trip."""
        return self.dense(vector, k, where), self.sparse(query, k, where)

    def hybrid_many(
        self, vectors: Sequence[np.ndarray], queries: Sequence[str], k: int, where: Filter | None = None
    ) -> list[tuple[list[Hit], list[Hit]]]:
        """``hybrid`` for a batch of questions (one round trip for all of them over a network)."""
        return [self.hybrid(v, q, k, where) for v, q in zip(vectors, queries, strict=True)]

    @abstractmethod
    def passages(self, ids: Sequence[int]) -> dict[int, StoredPassage]: ...

    @abstractmethod
    def vectors_at(self, keys: Sequence[tuple[str, int]]) -> list[np.ndarray | None]:
        """The vector of each (doc_id, paragraph), None where there is no such passage."""

    @abstractmethod
    def bind(self, where: Filter) -> Filter:
        """``where`` with its ``native`` form for ``dense`` and ``sparse`` (UnsupportedFilter
        when this back end cannot express it with the meaning the API gives it)."""

    @abstractmethod
    def prefix_idf(self, terms: set[str]) -> dict[str, float]:
        """IDF over the passages of ``index.text.terms.prefix_terms``."""

    @abstractmethod
    def get_document(self, doc_id: str) -> Document | None: ...

    @abstractmethod
    def list_documents(
        self, limit: int | None = None, after: str | None = None, order: str = "doc_id"
    ) -> list[DocumentRow]:
        """Documents by doc_id, or with ``order="published"`` newest first (undated last, ties
        by doc_id); a page of ``limit`` after the cursor ``after`` (``page_cursor`` of the
        previous page's last row)."""

    @abstractmethod
    def article_fields(self, doc_ids: Sequence[str]) -> dict[str, DocumentRow]:
        """The listing row (title, dates, outlet...) of each stored document of ``doc_ids``:
        what citations show beside an answer."""

    @abstractmethod
    def known_documents(self, doc_ids: Sequence[str]) -> set[str]:
        """Which of ``doc_ids`` are stored."""

    @abstractmethod
    def passage_count(self, doc_id: str) -> int: ...

    @abstractmethod
    def counts(self) -> tuple[int, int]:
        """(documents, passages)."""

    @abstractmethod
    def iter_passages(self, batch: int = 1000) -> Iterator[list[StoredPassage]]:
        """Every passage, in batches (for exports and side-by-side benchmarks)."""

    @abstractmethod
    def close(self) -> None: ...

    def preparing(self) -> str | None:
        """Why reads are refused for now (NotReady), or None when the store serves."""
        return None

    def wait_prepared(self, timeout: float | None = None) -> bool:
        """Wait for what ``preparing`` names; whether it was done within ``timeout``."""
        return True

    # --- shared ------------------------------------------------------------------------
    def check_writable(self) -> None:
        """ReadOnlyStore when documents cannot be written here."""
        if self.read_only:
            raise ReadOnlyStore("this store is open read-only: documents cannot be added or deleted")

    def document_sources(self) -> dict[str, tuple[str, str]]:
        """doc_id -> (source, sha256) of every stored document."""
        return {d.doc_id: (d.source, d.sha256) for d in self.list_documents()}


def detected_fields(title: str, text: str) -> tuple[str, str | None, str | None, dict[str, str]]:
    """(title, published, outlet, provenance) for a document stored before article fields,
    from what its text states (``text``: its start, and its end when long): detected values
    are marked detected, and a stored title that was derived from the text gives way to a
    detected headline; a title that was given stays."""
    found = detect_article(text)
    provenance = {n: DETECTED for n in sorted(found.detected) if n != "title"}
    derived = title == document_title(text)
    if found.title and derived:
        title, provenance["title"] = found.title, DETECTED
    elif title:
        provenance["title"] = DERIVED if derived else GIVEN
    return title, found.published, found.source, provenance


def excerpt(text: str) -> str:
    """What detection reads of a long text: its first 6,000 and last 3,000 characters."""
    return text if len(text) <= 9000 else f"{text[:6000]}\n{text[-3000:]}"


def page_cursor(doc_id: str, published: str | None, order: str) -> str:
    """The ``after`` that continues a listing in ``order`` past the document ``doc_id``."""
    if order == "published":
        ts = published_ts(published)
        return f"{'-' if ts is None else repr(ts)}|{doc_id}"
    return doc_id


def parse_cursor(after: str, order: str) -> tuple[float | None, str]:
    """(published_ts, doc_id) of a ``page_cursor`` in ``published`` order; ValueError if it
    is not one."""
    if order != "published":
        return None, after
    ts, sep, doc_id = after.partition("|")
    if not sep:
        raise ValueError("this cursor is not one of a listing by date: pass the 'next' of the previous page")
    return (None if ts == "-" else float(ts)), doc_id


def published_order(doc_id: str, published: str | None) -> tuple[bool, float, str]:
    """The sort key of ``order="published"``: newest first, undated last, ties by doc_id."""
    ts = published_ts(published)
    return (ts is None, -(ts or 0.0), doc_id)


def stable_id(*parts: str | int) -> int:
    """A 63-bit integer for a key (the same on every machine and run): Qdrant point ids."""
    key = "\0".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") & (2**63 - 1)
