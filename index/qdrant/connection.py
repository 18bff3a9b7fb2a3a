"""Talking to Qdrant: the client of one node or of several, how this process writes and reads
(``ClusterPolicy``), and which errors mean "Qdrant is not answering" (HTTP 503).

``Store`` is the one door to the client for the rest of the package: every write is
acknowledged, ordered and retried; every read carries the configured read consistency, so a
read that decides a write (does this document exist, which version is current) consults as
many replicas as the deployment says.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from index.backend import DocumentExistsError, UnsupportedFilter
from index.errors import BackendUnavailable

try:
    from qdrant_client import QdrantClient
    from qdrant_client import models as qm
except ImportError:  # pragma: no cover - the optional extra is missing
    QdrantClient = None  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)
WRITE_BATCH = 256  # points per upsert
F = TypeVar("F", bound=Callable[..., Any])
# Replies of a node that is there but cannot serve now: the next node may.
_NODE_DOWN = {502, 503, 504}


@dataclass(frozen=True)
class ClusterPolicy:
    """How this process writes to and reads from a cluster (every API replica sets the same).

    Writes are idempotent (fixed point ids), so a write that fails on the transport is retried
    ``retries`` times with exponential backoff from ``backoff_s``. ``ordering`` (weak, medium,
    strong) is Qdrant's write ordering across a shard's replicas: ``medium`` (the default
    here) routes a point's writes through its shard's current leader, so two writes of one
    point are applied in one order on every replica. ``write_consistency`` replicas must
    acknowledge a write before it succeeds (set when a collection is created; None: a
    majority of the replicas). ``read_consistency`` (1, majority, quorum, all) is how many
    replicas a read consults: a majority by default, so that a write acknowledged by a
    majority is seen by every later read, whichever replica it reaches."""

    write_batch: int = WRITE_BATCH
    retries: int = 3
    backoff_s: float = 0.5
    ordering: str = "medium"
    write_consistency: int | None = None
    read_consistency: str = "majority"
    grpc: bool = False

    def write_ordering(self) -> Any:
        return qm.WriteOrdering(self.ordering)

    def consistency(self) -> Any:
        value = self.read_consistency
        return int(value) if value.isdigit() else qm.ReadConsistencyType(value)

    def acknowledging(self, replicas: int) -> int:
        """Replicas that acknowledge each write to a collection of ``replicas`` copies."""
        if self.write_consistency is None:
            return replicas // 2 + 1
        return min(self.write_consistency, replicas)


def is_transport_error(exc: BaseException) -> bool:
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    if isinstance(exc, (ResponseHandlingException, UnexpectedResponse, ConnectionError, TimeoutError)):
        return True
    module = type(exc).__module__
    return module.startswith(("httpx", "httpcore", "grpc"))


def is_unreadable_reply(exc: BaseException) -> bool:
    """A reply qdrant-client cannot read: ``{"result": null}`` from a broken proxy or node
    trips an assertion or a validation inside its parsing (not a fault of our request)."""
    from pydantic import ValidationError

    return isinstance(exc, (AssertionError, ValidationError, KeyError, TypeError)) and _raised_in_client(exc)


def node_is_down(exc: BaseException) -> bool:
    """Whether another node may well answer what this one did not: no connection, a timeout,
    a 502/503/504, or a reply that cannot be read. A 4xx is the request's and stays."""
    from qdrant_client.http.exceptions import UnexpectedResponse

    if isinstance(exc, UnexpectedResponse):
        return exc.status_code in _NODE_DOWN
    return is_transport_error(exc) or is_unreadable_reply(exc)


def _raised_in_client(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc`` is qdrant-client's own code."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}qdrant_client{os.sep}" in tb.tb_frame.f_code.co_filename


class Nodes:
    """The clients of several nodes of one cluster, used as one client: a call goes to the
    node that answered last; when it does not answer (``node_is_down``), the same call goes
    to the next node, each node once. Every node of a Qdrant cluster serves every read and
    forwards every write to the shard's replicas, and every call this package makes is
    idempotent (fixed point ids; an insert-only upsert inserts once), so a call repeated on
    another node changes nothing twice."""

    def __init__(self, clients: Sequence[Any], names: Sequence[str]) -> None:
        if not clients or len(clients) != len(names):
            raise ValueError("one name per client, at least one")
        self.clients = list(clients)
        self.names = list(names)
        self._current = 0

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if not callable(getattr(self.clients[0], name)):
            return getattr(self.clients[self._current], name)

        def call(*args: Any, **kwargs: Any) -> Any:
            first = self._current
            for step in range(len(self.clients)):
                at = (first + step) % len(self.clients)
                try:
                    result = getattr(self.clients[at], name)(*args, **kwargs)
                except Exception as exc:
                    if step == len(self.clients) - 1 or not node_is_down(exc):
                        raise
                    log.warning(
                        "Qdrant node %s did not answer %s (%s); trying %s",
                        self.names[at],
                        name,
                        type(exc).__name__,
                        self.names[(at + 1) % len(self.clients)],
                    )
                    continue
                self._current = at
                return result
            raise AssertionError("unreachable")

        return call

    def close(self) -> None:
        for client in self.clients:
            client.close()


class Serialized:
    """A local-mode client made safe for threads: one call at a time (the in-process engine
    is not thread-safe; the API serves requests from a thread pool). The lock is held for
    one call, not for a whole write, so reads go on between the batches of a large import."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


def connect(
    url: str | None, api_key: str | None, path: Path | None, timeout: int, grpc: bool
) -> tuple[Any, str]:
    """A client and where it points: ``url`` is one node or several, comma-separated (reads
    and writes go to whichever answers); ``path`` a local-mode folder."""
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
            urls = [u.strip() for u in url.split(",") if u.strip()]
            clients = [QdrantClient(url=u, api_key=api_key, timeout=timeout, prefer_grpc=grpc) for u in urls]
            client: Any = clients[0] if len(clients) == 1 else Nodes(clients, urls)
            return client, ", ".join(urls)
        assert path is not None
        path.mkdir(parents=True, exist_ok=True)
        return Serialized(QdrantClient(path=str(path))), f"path {path}"
    except (RuntimeError, OSError, ValueError) as exc:
        raise BackendUnavailable(f"cannot open Qdrant ({url or path}): {exc}") from None


class Store:
    """A client and how this process uses it. Writes wait for Qdrant's acknowledgement, carry
    the write ordering and are retried on transport errors; reads carry the read
    consistency (local mode has one copy of everything and takes neither)."""

    def __init__(self, client: Any, policy: ClusterPolicy, local: bool) -> None:
        self.client = client
        self.policy = policy
        self.local = local

    def retrying(self, call: Callable[[], Any]) -> Any:
        """An idempotent call, retried on transport errors with exponential backoff."""
        for attempt in range(self.policy.retries + 1):
            try:
                return call()
            except Exception as exc:
                if attempt == self.policy.retries or not is_transport_error(exc) or self.local:
                    raise
                delay = self.policy.backoff_s * 2**attempt
                log.warning("Qdrant call failed (%s); retrying in %.1f s", type(exc).__name__, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def upsert(
        self,
        collection: str,
        points: list[Any],
        between: Callable[[], None] | None = None,
        **options: Any,
    ) -> None:
        """Points in batches of ``policy.write_batch``, each acknowledged and ordered;
        ``between`` runs after each batch (a long write keeps its marker fresh)."""
        ordering = None if self.local else self.policy.write_ordering()
        for lo in range(0, len(points), self.policy.write_batch):
            part = points[lo : lo + self.policy.write_batch]
            self.retrying(
                functools.partial(
                    self.client.upsert, collection, part, wait=True, ordering=ordering, **options
                )
            )
            if between is not None:
                between()

    def delete(self, collection: str, selector: Any) -> None:
        ordering = None if self.local else self.policy.write_ordering()
        self.retrying(lambda: self.client.delete(collection, selector, wait=True, ordering=ordering))

    def consistency(self) -> Any:
        return None if self.local else self.policy.consistency()

    def retrieve(self, collection: str, ids: Sequence[Any], **options: Any) -> list[Any]:
        return self.client.retrieve(  # type: ignore[no-any-return]
            collection, list(ids), consistency=self.consistency(), **options
        )

    def scroll(self, collection: str, **options: Any) -> tuple[list[Any], Any]:
        return self.client.scroll(collection, consistency=self.consistency(), **options)  # type: ignore[no-any-return]

    def any_point(self, collection: str, condition: Any) -> bool:
        """Whether a point matches (a count has no read consistency; a scroll of one has)."""
        points, _ = self.scroll(collection, scroll_filter=condition, limit=1, with_payload=False)
        return bool(points)

    def query_batch(self, collection: str, requests: list[Any]) -> list[Any]:
        return self.client.query_batch_points(  # type: ignore[no-any-return]
            collection, requests, consistency=self.consistency()
        )


def reachable(method: F) -> F:
    """Qdrant's transport and server errors, and replies it cannot read, become
    BackendUnavailable (HTTP 503) naming ``self.where`` (for the log, not the client)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (BackendUnavailable, DocumentExistsError, UnsupportedFilter):
            raise
        except Exception as exc:
            if is_transport_error(exc) or is_unreadable_reply(exc):
                raise BackendUnavailable(
                    f"Qdrant at {self.where} failed: {type(exc).__name__}: {exc}"
                ) from exc
            raise

    return wrapper  # type: ignore[return-value]
