"""Bringing a store written by an earlier version, or for another embedding model, up to date.

Each step is idempotent and resumable, from any replica: article fields for records written
before them, listing keys for records written before them (or by an older replica during a
rolling upgrade), and a model change, which embeds every document again into the new model's
passages collection (``Reembedding``) in the background while the service answers 503 with
the reason.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from index.backend import Document, detected_fields, excerpt
from index.errors import NotReady
from index.qdrant.connection import Store
from index.qdrant.listing import ID_FIELDS, NEWEST, listing_payload, newest
from index.qdrant.schema import Names, doc_condition, document, passage_id
from index.text.article import published_ts

with contextlib.suppress(ImportError):  # the optional extra; connection.connect says it is missing
    from qdrant_client import models as qm

log = logging.getLogger(__name__)
PAGE = 1000
ARTICLE_FIELDS_STATE = "article_fields"
LEASE_S = 120.0  # a re-embedding worker not heard from for this long has died
LOOK_EVERY_S = 5.0  # how often a waiting replica reads whether the re-embedding is done
RETRY_S = 30.0  # after a failure (the store down), the worker tries again this much later


def detect_article_fields(store: Store, names: Names) -> None:
    """Migrate a store written before article fields: each document record without them
    gets what its text states (``detect_article``, marked detected; a derived title gives
    way to a detected headline), and its passages the date the date filter reads."""
    client = store.client
    offset = None
    while True:
        points, offset = store.scroll(
            names.documents, limit=PAGE, offset=offset, with_payload=["doc_id", "title", "text", "provenance"]
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
                client.set_payload(
                    names.passages,
                    {"published_ts": ts},
                    points=qm.Filter(must=[doc_condition(q["doc_id"])]),
                    wait=True,
                )
            fields = {
                "title": title,
                "published": published,
                "published_ts": ts,
                NEWEST: newest(ts),
                "outlet": outlet,
            }
            client.set_payload(
                names.documents,
                {**fields, "url": None, "provenance": provenance},
                points=[point.id],
                wait=True,
            )
        if offset is None:
            break


def add_listing_keys(store: Store, names: Names) -> None:
    """Give the records that lack them their listing keys. Only those records are read (a
    filter on the indexed key), a page at a time, one request per page."""
    while records := without_listing_keys(store, names, PAGE):
        updates = [
            qm.SetPayloadOperation(
                set_payload=qm.SetPayload(
                    payload=listing_payload(p.payload["doc_id"], p.payload.get("published_ts")),
                    points=[p.id],
                )
            )
            for p in records
        ]
        store.retrying(
            functools.partial(store.client.batch_update_points, names.documents, updates, wait=True)
        )


def without_listing_keys(store: Store, names: Names, limit: int) -> list[Any]:
    lacking = qm.Filter(
        must=[qm.IsEmptyCondition(is_empty=qm.PayloadField(key=ID_FIELDS[0]))],
        must_not=[qm.IsEmptyCondition(is_empty=qm.PayloadField(key="doc_id"))],
    )
    points, _ = store.scroll(
        names.documents, scroll_filter=lacking, limit=limit, with_payload=["doc_id", "published_ts"]
    )
    return [p for p in points if p.payload]


class Reembedding:
    """A model change: every document embedded again into the new model's passages
    collection, once, by one replica at a time, in the background.

    The state holds ``reembed:{passages}`` (``pending`` until every document is embedded,
    then ``done``) and a lease (holder, time, documents done and in all) that the worker
    renews after each page. Every replica starts a thread that works while it holds the
    lease, or waits and takes it over when its holder has not renewed it for ``LEASE_S``
    (a worker that died). Reads answer 503 with the progress until it is done (the passages
    collection holds only part of the corpus, and the old model's vectors cannot be searched
    with the new model's questions); writes go on (into the new collection, which the
    re-embedding then skips). Two workers at once write the same documents twice, each
    write whole."""

    def __init__(
        self,
        store: Store,
        names: Names,
        model: str,
        add: Callable[[list[Document]], None],
        get_state: Callable[[str], str | None],
        set_state: Callable[[str, str], None],
    ) -> None:
        self.store = store
        self.names = names
        self.model = model
        self._add = add
        self._get = get_state
        self._set = set_state
        self.key = f"reembed:{names.passages}"
        self.lease_key = f"reembed_lease:{names.passages}"
        self._me = uuid.uuid4().hex
        self._done = threading.Event()
        self._stop = threading.Event()
        self._looked = 0.0
        self._thread: threading.Thread | None = None
        self._total = 0  # documents in the store when this worker took the lease
        self.failure: BaseException | None = None

    def begin(self) -> None:
        """Marked before any work: a start after a crash part-way finds the mark and resumes."""
        self._set(self.key, "pending")

    def pending(self) -> bool:
        return self._get(self.key) == "pending"

    def start(self, others: list[str]) -> None:
        """Work (or wait for another replica's work) in the background."""
        log.info(
            "passages collection %s for %s lacks documents: re-embedding them in the background "
            "(reads answer 503 until done); those of other models (%s) can be dropped",
            self.names.passages,
            self.model,
            ", ".join(n for n in others if n != self.names.passages) or "none",
        )
        self._thread = threading.Thread(target=self._run, name="qa-reembed", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the re-embedding finished (here or in another replica) within ``timeout``;
        False at once when an attempt failed (the failure is in ``failure``)."""
        if self._thread is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._thread.is_alive() and self.failure is None:
            if deadline is not None and time.monotonic() >= deadline:
                break
            self._thread.join(0.2)
        return self._done.is_set()

    def check(self) -> None:
        """Raise NotReady, with the progress, while the re-embedding is under way."""
        if self._thread is None or self._done.is_set():
            return
        now = time.monotonic()
        if now - self._looked >= LOOK_EVERY_S:  # another replica may have finished it
            self._looked = now
            if not self.pending():
                self._done.set()
                return
        raise NotReady(
            f"the store is being re-embedded for the embedding model {self.model} ({self.progress()})"
        )

    def progress(self) -> str:
        lease = self._lease() or {}
        done, total = lease.get("done"), lease.get("total")
        return f"{done:,} of {total:,} documents done" if total else "starting"

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.pending():
                    self._done.set()
                    return
                if self._take_lease():
                    self._work()
                    self._set(self.key, "done")
                    self._set(self.lease_key, "")
                    self.failure = None
                    self._done.set()
                    log.info("re-embedding for %s done", self.model)
                    return
            except Exception as exc:  # the store down, a worker's failure: tried again later
                self.failure = exc
                log.exception("re-embedding for %s stopped; trying again in %.0f s", self.model, RETRY_S)
                self._stop.wait(RETRY_S)
                continue
            self._stop.wait(LOOK_EVERY_S)

    def _lease(self) -> dict[str, Any] | None:
        value = self._get(self.lease_key)
        return json.loads(value) if value else None

    def _take_lease(self) -> bool:
        lease = self._lease()
        # Local mode: one process holds the folder, so another holder is one that died.
        alive = lease and not self.store.local and time.time() - float(lease["at"]) < LEASE_S
        if lease and lease["holder"] != self._me and alive:
            return False
        self._total = int(self.store.client.count(self.names.documents, exact=True).count)
        self._renew(0, self._total)
        return (self._lease() or {}).get("holder") == self._me

    def _renew(self, done: int, total: int) -> None:
        lease = {"holder": self._me, "at": time.time(), "done": done, "total": total}
        self._set(self.lease_key, json.dumps(lease))

    def _work(self) -> None:
        """Embed every document whose current version has no passage in this collection yet
        (all of them the first time; the rest after a crash)."""
        done = 0
        offset = None
        while not self._stop.is_set():
            points, offset = self.store.scroll(
                self.names.documents, limit=256, offset=offset, with_payload=True
            )
            records = [p.payload for p in points if p.payload]
            embedded = self._embedded_versions(records)
            self._add([document(q) for q in records if (q["doc_id"], q.get("version", "")) not in embedded])
            done += len(records)
            self._renew(done, self._total)
            if offset is None:
                return
        raise InterruptedError("the service closed before the re-embedding was done")

    def _embedded_versions(self, records: list[dict[str, Any]]) -> set[tuple[str, str]]:
        """(doc_id, version) of these records whose passages this collection holds."""
        if not records:
            return set()
        ids = [passage_id(q["doc_id"], q.get("version", ""), 0) for q in records if q.get("passages")]
        found = self.store.retrieve(self.names.passages, ids, with_payload=["doc_id", "version"])
        have = {(p.payload["doc_id"], p.payload.get("version", "")) for p in found if p.payload}
        # A document without a passage (no prose paragraph) needs nothing embedded.
        return have | {(q["doc_id"], q.get("version", "")) for q in records if not q.get("passages")}
